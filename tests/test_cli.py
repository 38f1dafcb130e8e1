"""CLI: JSON output, exit codes, and one-line errors."""

import json
import subprocess
import sys

import pytest

from core.cli import main
from tests.conftest import PRODUCTS, write_catalog


def test_index_json_then_second_run_all_unchanged(settings, catalog, capsys):
    args = ["index", "--catalog", str(catalog), "--images", str(catalog.parent / "images"), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert {k: first[k] for k in ("total", "indexed", "unchanged", "text_only", "failed")} == \
        {"total": 6, "indexed": 6, "unchanged": 0, "text_only": 0, "failed": []}
    assert isinstance(first["seconds"], float)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["indexed"], second["unchanged"]) == (0, 6)
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["count"] == 6 and stats["model"] == settings.model and stats["dim"] == 16
    assert stats["backend"].startswith("embedded")


def test_failed_rows_still_exit_zero_and_are_listed(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "c")
    with open(catalog, "a") as fh:
        fh.write("1,Men,Apparel,Topwear,Tshirts,Blue,Casual,Dup,1.jpg,\n")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] == [{"row": 8, "product_id": "1", "reason": "duplicate ProductId 1 (first seen on row 2)"}]


def test_missing_column_is_one_line_error_and_nonzero(settings, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("ProductId,ProductTitle\n1,x\n")  # the fashion layout, without six of its eight columns
    assert main(["index", "--catalog", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: catalogue is missing required column(s) Gender") and "\n" not in err


def test_stats_before_indexing_says_how_to_index(settings, capsys):
    assert main(["stats"]) == 2
    assert "python -m core index" in capsys.readouterr().err


def test_bad_model_is_a_clear_error_without_traceback(settings, catalog, tmp_path):
    env = {"LENS_MODEL": str(tmp_path / "missing-model"), "LENS_DATA_DIR": str(tmp_path / "d"), "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "LENS_MODEL" in proc.stderr


def _index_sample_subset(tmp_path, capsys):
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    return catalog


def test_search_modes_answer_on_the_tiny_model(settings, tmp_path, capsys):
    catalog = _index_sample_subset(tmp_path, capsys)
    photo = str(catalog.parent / "images/Apparel/1.jpg")
    for args in (["--text", "red dress"], ["--image", photo], ["--like", "1"],
                 ["--text", "red dress", "--image", photo, "--fusion", "rrf"],
                 ["--text", "red dress", "--like", "2", "--weight", "0.3"],
                 ["--text", "dress", "--positive", "2", "--negative", "4"], ["--text", "dress", "--diverse"]):
        assert main(["search", *args, "--limit", "3", "--json"]) == 0, args
        results = json.loads(capsys.readouterr().out)
        assert len(results) == 3 and set(results[0]) == {"product_id", "score", "title", "image_path", "payload",
                                                         "matched_words", "exact_match", "similarity"}
    assert main(["search", "--like", "1", "--limit", "10", "--json"]) == 0
    assert "1" not in [r["product_id"] for r in json.loads(capsys.readouterr().out)]
    assert main(["search", "--text", "x", "--filter", "gender=Men", "--json"]) == 0
    assert {r["payload"]["gender"] for r in json.loads(capsys.readouterr().out)} == {"Men"}


def test_facets_and_duplicates_cli(settings, tmp_path, capsys):
    _index_sample_subset(tmp_path, capsys)
    assert main(["facets", "--filter", "gender=Men", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["category"] == [{"value": "Apparel", "count": 2}, {"value": "Accessories", "count": 1}]



def test_duplicates_finds_the_planted_copy_and_nothing_else(settings, tmp_path, capsys):
    # Product 7 is drawn exactly as product 1 (a red dress): the one pair at or above 0.9999.
    catalog = write_catalog(tmp_path / "c", [*PRODUCTS, ("7", "Women", "Apparel", "Dress", "Dresses", "Red", "Party",
                                                         "Copy of the red dress")])
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--threshold", "0.9999", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"product_ids": ["1", "7"], "pairs": [{"a": "1", "b": "7", "score": 1.0}]}]
    assert main(["duplicates", "--threshold", "0.9999"]) == 0
    assert capsys.readouterr().out == "2 products: 1, 7  (1~7 1.000)\n"


def test_search_errors_are_one_line_and_nonzero(settings, tmp_path, capsys):
    _index_sample_subset(tmp_path, capsys)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    cases = [([], "nothing to search for"), (["--image", str(text_file)], "not an image file"),
             (["--image", str(tmp_path / "gone.jpg")], "image file not found"),
             (["--like", "999"], "unknown product id(s): 999"), (["--text", "a", "--weight", "1.5"], "weight must be"),
             (["--text", "a", "--filter", "size=M"], "unknown filter field 'size'")]
    for args, message in cases:
        assert main(["search", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "Traceback" not in err


def test_stats_prints_last_indexed_as_local_time_and_json_keeps_the_number(settings, tmp_path, capsys):
    import time

    _index_sample_subset(tmp_path, capsys)
    assert main(["stats", "--json"]) == 0
    stamp = json.loads(capsys.readouterr().out)["last_indexed"]
    assert isinstance(stamp, float) and abs(stamp - time.time()) < 600
    assert main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "last_indexed: " + time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp))


@pytest.fixture
def model_must_not_load(monkeypatch):
    import core.models.embedder

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the file error was reported")

    monkeypatch.setattr(core.models.embedder, "load_embedder", refuse)


def test_index_reports_a_bad_path_before_loading_the_model(settings, tmp_path, capsys, model_must_not_load):
    catalog = write_catalog(tmp_path / "c")
    cases = [(["--catalog", str(tmp_path / "gone.csv")], f"error: catalogue file not found: {tmp_path / 'gone.csv'}"),
             (["--catalog", str(tmp_path)], f"error: the catalogue path is a folder, not a CSV file: {tmp_path}"),
             (["--catalog", str(catalog), "--images", str(tmp_path / "no-images")],
              f"error: images folder not found: {tmp_path / 'no-images'}"),
             (["--catalog", str(catalog), "--images", str(catalog)],
              f"error: the images path is a file, not a folder: {catalog}")]
    for args, message in cases:
        assert main(["index", *args]) == 2, args
        assert capsys.readouterr().err.strip() == message


def test_search_reports_a_bad_image_before_loading_the_model(settings, tmp_path, capsys, model_must_not_load):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    for image, message in [(tmp_path / "gone.jpg", "image file not found"), (text_file, "not an image file"),
                           (tmp_path, "image path is a folder")]:
        assert main(["search", "--text", "red dress", "--image", str(image)]) == 2
        assert message in capsys.readouterr().err
