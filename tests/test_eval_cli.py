"""`python -m core eval` on the six-product index with the tiny model: the JSON shape, the fixed-seed sample, other
models measured in memory with the index untouched, and one-line errors for bad input."""

import json

import numpy as np

from core.cli import main
from core.index.store import EdgeStore, point_id

METRICS = {"r@1", "r@10", "mrr"}
LABEL_METRICS = {"p@1", "p@10", "mrr"}
ZERO_SHOT_METRICS = {"accuracy", "macro_f1"}


def _eval(capsys, *args) -> tuple[int, object, str]:
    code = main(["eval", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 and "--json" in args else captured.out, captured.err


def _check_shape(result: dict, model: str, products: int) -> None:
    assert set(result) == {"model", "products", "without_photo", "title_to_image", "label_to_product", "zero_shot"}
    assert (result["model"], result["products"], result["without_photo"]) == (model, products, 0)
    assert set(result["title_to_image"]) == METRICS
    assert set(result["label_to_product"]) == {"colour", "sub_category", "category"}
    assert all(set(v) == LABEL_METRICS for v in result["label_to_product"].values())
    assert set(result["zero_shot"]) == {"category", "sub_category"}
    assert all(set(v) == ZERO_SHOT_METRICS for v in result["zero_shot"].values())
    values = [*result["title_to_image"].values(), *(x for v in result["label_to_product"].values() for x in v.values()),
              *(x for v in result["zero_shot"].values() for x in v.values())]
    assert all(0.0 <= x <= 1.0 for x in values)


def _index_state(settings) -> tuple:
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        hit = store.retrieve([point_id("1")], with_vectors=True)[0]
        return store.count(), store.meta(), hit.payload, hit.vectors
    finally:
        store.close()


def test_eval_of_the_index_model_prints_one_object_in_the_issue_shape(indexed_settings, capsys):
    code, result, _ = _eval(capsys, "--json")
    assert code == 0
    _check_shape(result, indexed_settings.model, 6)
    # six products, all with a photo; the zero-shot labels are the catalogue's own: category has 3
    assert result["title_to_image"]["r@10"] == 1.0  # a gallery of six: every photo is in the top 10


def test_eval_text_output_is_a_table_of_every_metric(indexed_settings, capsys):
    code, out, _ = _eval(capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 3 + 9 + 4 + 2
    assert lines[1].startswith("title -> image r@1") and lines[4].startswith("colour -> product p@1")
    assert lines[-2].split() == ["products", "6"]


def test_other_models_are_measured_in_memory_and_the_index_is_untouched(indexed_settings, tmp_path, capsys):
    before = _index_state(indexed_settings)
    other = tmp_path / "same-weights-other-name"
    other.symlink_to(indexed_settings.model)  # another model name: its photos are embedded afresh, in memory
    code, results, _ = _eval(capsys, "--model", indexed_settings.model, "--model", str(other), "--json")
    assert code == 0 and isinstance(results, list) and len(results) == 2
    _check_shape(results[0], indexed_settings.model, 6)
    _check_shape(results[1], str(other), 6)
    # the same weights embedding the same photos in memory measure what the stored vectors measure
    assert {k: v for k, v in results[1].items() if k != "model"} == \
        {k: v for k, v in results[0].items() if k != "model"}
    after = _index_state(indexed_settings)
    assert after[:3] == before[:3]
    assert np.array_equal(after[3]["image"], before[3]["image"]) and np.array_equal(after[3]["text"], before[3]["text"])


def test_sample_is_fixed_seed_and_the_same_every_run(indexed_settings):
    from core.insights.eval_runner import sample_products

    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    try:
        first = [p.product_id for p in sample_products(store, 3)]
        assert first == [p.product_id for p in sample_products(store, 3)]
        assert len(first) == 3 and first == sorted(first) and set(first) <= {"1", "2", "3", "4", "5", "6"}
        assert [p.product_id for p in sample_products(store, 100)] == ["1", "2", "3", "4", "5", "6"]
    finally:
        store.close()


def test_eval_sample_reports_the_sampled_count(indexed_settings, capsys):
    code, result, _ = _eval(capsys, "--sample", "4", "--json")
    assert code == 0 and result["products"] == 4


def test_sample_of_zero_or_negative_is_a_one_line_error(indexed_settings, capsys):
    for size in ("0", "-3"):
        code, _, err = _eval(capsys, "--sample", size)
        assert code == 2 and err == f"error: --sample must be at least 1, got {size}\n"


def test_eval_without_an_index_or_with_an_empty_one_says_so(settings, capsys):
    code, _, err = _eval(capsys)
    assert code == 2 and "python -m core index" in err
    store = EdgeStore(settings.data_dir, settings.collection)
    store.ensure(settings.model, 16)
    store.close()
    code, _, err = _eval(capsys)
    assert code == 2 and err == "error: the index has no products to evaluate: index a catalogue first\n"


def test_a_model_that_fails_to_load_is_a_clear_error(indexed_settings, tmp_path, capsys):
    code, _, err = _eval(capsys, "--model", str(tmp_path / "no-such-model"))
    assert code == 2 and err.startswith("error: model folder not found:") and "\n" not in err.strip()


def test_eval_of_the_index_refuses_another_lens_model(indexed_settings, tmp_path, monkeypatch, capsys):
    other = tmp_path / "other-name"
    other.symlink_to(indexed_settings.model)
    monkeypatch.setenv("LENS_MODEL", str(other))
    code, _, err = _eval(capsys)
    assert code == 2 and "the index was built with" in err and "--model" in err
