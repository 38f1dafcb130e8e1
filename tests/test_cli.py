"""CLI: JSON output, exit codes, and one-line errors."""

import json
import subprocess
import sys

from core.cli import main
from tests.conftest import write_catalog


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
    bad.write_text("ProductId,Title\n1,x\n")
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
