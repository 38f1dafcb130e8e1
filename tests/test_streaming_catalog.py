"""Catalogues are streamed, never read whole: the same products as a whole-file read, bounded memory, and
reports that count a million problems without listing a million lines."""

import json
import os
import tracemalloc

import pytest

import core.index.indexer as indexer
from core.ingest.catalog import CatalogFile, open_rows
from core.cli import main
from core.ingest.formats import plan_layout, read_records
from core.index.indexer import index_catalog
from tests.conftest import write_csv

HEADER = ["id", "title", "colour", "stock", "weight_kg", "season_code", "notes"]


def _rows(n: int, long_text: str = "") -> list[list[str]]:
    rows = []
    for i in range(n):
        rows.append([f"P{i}", f"Product {i}", ["Red", "Blue", "Black"][i % 3], str(i % 4), f"{i % 7}.5",
                     f"S{i % 3}", long_text or f"note {i}"])
    return rows


def test_streamed_records_equal_the_whole_file_read(tmp_path):
    rows = _rows(40) + [["P3", "dup", "Red", "1", "1", "S1", "x"], ["", "no id", "Red", "1", "1", "S1", "x"],
                         ["P99", "bad weight", "Red", "2", "heavy", "S1", "x"]]
    csv = write_csv(tmp_path / "c.csv", HEADER, rows)
    source = CatalogFile(csv)
    delimiter, whole_rows = open_rows(csv)
    header = next(whole_rows)[1]
    whole = read_records(plan_layout(header, "comma"), whole_rows)

    streamed = list(source.records())
    assert [(r.row, r.product_id, r.values, r.images) for r in streamed] == \
        [(r.row, r.product_id, r.values, r.images) for r in whole.records]
    assert source.problems == whole.problems and source.total_rows == whole.total_rows == 43
    assert source.report.as_dict() == whole.report.as_dict()
    assert source.product_count == len(whole.records) == 41
    # Stock derives in_stock on every pass; 'heavy' makes weight_kg a mixed column, kept as a keyword... or text
    by_id = {r.product_id: r.values for r in streamed}
    assert by_id["P1"]["in_stock"] == "yes" and by_id["P4"]["in_stock"] == "no"
    assert by_id["P5"]["season_code"] == "S2"
    assert "weight_kg" not in source.report.schema.number


def test_a_number_column_is_a_float_on_every_pass(tmp_path):
    csv = write_csv(tmp_path / "c.csv", HEADER, _rows(30))
    source = CatalogFile(csv)
    assert "weight_kg" in source.report.schema.number
    for _ in range(2):  # each pass reads the file again and applies the survey's kinds
        weights = [p.payload["weight_kg"] for p in source.products()]
        assert weights[:8] == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 0.5]


def test_reading_a_catalogue_never_holds_the_whole_file(tmp_path):
    """30,000 rows of 1 KB each (a 31 MB file): a whole-file read would hold the bytes and the decoded text (over
    90 MB of Python objects); streaming holds one row at a time plus one id per product."""
    csv = write_csv(tmp_path / "big.csv", HEADER, _rows(30_000, long_text="x" * 1000))
    assert csv.stat().st_size > 30_000_000
    tracemalloc.start()
    try:
        source = CatalogFile(csv)
        count = sum(1 for _ in source.products())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == source.product_count == 30_000
    assert peak < 15_000_000, f"peak {peak / 1e6:.1f} MB of Python objects while streaming a 31 MB catalogue"


def test_an_unchanged_reindex_keeps_no_product_values_in_memory(tmp_path, embedder, store, monkeypatch):
    """Planning compares a chunk at a time: the peak does not hold the catalogue's 2 KB descriptions."""
    monkeypatch.setattr(indexer, "PLAN_CHUNK", 50)
    csv = write_csv(tmp_path / "c.csv", HEADER, _rows(3_000, long_text="y" * 2000))
    first = index_catalog(csv, None, embedder, store, batch_size=64)
    assert (first.indexed, first.text_only) == (3_000, 3_000)
    tracemalloc.start()
    try:
        again = index_catalog(csv, None, embedder, store, batch_size=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (again.indexed, again.unchanged, again.text_only, again.updated) == (0, 3_000, 3_000, 0)
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB of Python objects for a 6 MB catalogue re-indexed unchanged"


@pytest.fixture
def few_listed(monkeypatch):
    monkeypatch.setattr(indexer, "MAX_LISTED_PROBLEMS", 5)


def test_problems_past_the_listing_cap_are_counted_not_listed(tmp_path, embedder, store, few_listed):
    rows = _rows(12) + [["P2", "dup", "Red", "1", "1", "S1", "x"], ["P3", "dup", "Red", "1", "1", "S1", "x"]]
    csv = write_csv(tmp_path / "c.csv", HEADER, rows)
    for run in range(2):  # the second run keeps every product: the stored text-only ones are counted the same
        report = index_catalog(csv, None, embedder, store, batch_size=4)
        assert (report.indexed, report.unchanged) == ((12, 0) if run == 0 else (0, 12))
        assert (report.text_only, report.failed_rows, report.problems) == (12, 2, 14)
        assert len(report.failed) == 5 and report.not_listed == 9
        out = report.as_dict()
        assert out["failed_not_listed"] == 9 and len(out["failed"]) == 5
        assert [p.row for p in report.failed] == sorted(p.row for p in report.failed)
        assert {p.reason.split(":")[0] for p in report.failed} <= {"indexed text-only", "duplicate id P2 (first seen on row 4)",
                                                                     "duplicate id P3 (first seen on row 5)"}


def test_the_cli_says_how_many_problems_it_did_not_list(tmp_path, settings, few_listed, capsys):
    csv = write_csv(tmp_path / "c.csv", HEADER, _rows(8))
    assert main(["index", "--catalog", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "8 text-only" in out
    assert "... and 3 more rows with a problem, counted but not listed (the first 5 are)" in out
    assert sum(1 for line in out.splitlines() if line.startswith("  row ")) == 5
    assert main(["index", "--catalog", str(csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["unchanged"], report["text_only"], report["failed_not_listed"], len(report["failed"])) == (8, 8, 3, 5)


def _changing_after_survey(monkeypatch, change):
    """The indexer's CatalogFile, with the file changed by `change(path)` right after the survey pass."""
    class Changing(indexer.CatalogFile):
        def __init__(self, path, *args, **kwargs):
            super().__init__(path, *args, **kwargs)
            change(path)

    monkeypatch.setattr(indexer, "CatalogFile", Changing)


def _rewrite_keeping_size_and_time(path, data: bytes) -> None:
    """Rewrite in place with the same size and modification time: only the header or row checks can tell."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("change", ["replaced", "header swapped", "rows swallowed by a quote"])
def test_a_catalogue_changed_between_passes_stops_the_run_and_prunes_nothing(tmp_path, embedder, monkeypatch, change):
    from core.common.errors import CatalogError
    from core.index.store import EdgeStore

    csv = write_csv(tmp_path / "c.csv", HEADER, _rows(10))
    store = EdgeStore(tmp_path / "data")
    assert index_catalog(csv, None, embedder, store, batch_size=8).indexed == 10
    data = csv.read_bytes()

    def replaced(path):  # a re-export saved by rename: another file with 9 of the 10 products
        fresh = write_csv(tmp_path / "new.csv", HEADER, _rows(10)[1:])
        os.replace(fresh, path)

    def header_swapped(path):  # same bytes count: id and title change places
        _rewrite_keeping_size_and_time(path, data.replace(b"id,title,", b"title,id,", 1))

    def rows_swallowed(path):  # a stray quote opens on row 3 and swallows the rest of the file
        _rewrite_keeping_size_and_time(path, data.replace(b"Product 2", b'"roduct 2', 1))

    _changing_after_survey(monkeypatch, {"replaced": replaced, "header swapped": header_swapped,
                                         "rows swallowed by a quote": rows_swallowed}[change])
    with pytest.raises(CatalogError, match="changed while it was being read"):
        index_catalog(csv, None, embedder, store, batch_size=8, prune=True)
    assert store.count() == 10
    assert sorted(h.payload["product_id"] for h in store.scroll()) == sorted(f"P{i}" for i in range(10))
    store.close()


def test_an_interrupted_run_leaves_the_index_marked_so_the_map_stops_trusting_its_stamp(tmp_path, embedder,
                                                                                        monkeypatch):
    """The map is 'fresh' by stamp only while no run has started since: an interrupted run that changed products
    but kept the count and the last stamp must send the map back to the fingerprint digest."""
    from core.map.storage import store_version
    from core.index.store import EdgeStore

    csv = write_csv(tmp_path / "c.csv", HEADER, _rows(6))
    store = EdgeStore(tmp_path / "data")
    index_catalog(csv, None, embedder, store, batch_size=2)
    finished = store_version(store)
    assert finished == {"last_indexed": store.meta()["last_indexed"], "count": 6}

    rows = _rows(6)
    rows[0][1] = "Renamed product"  # its text changes: it must be embedded again
    write_csv(csv, HEADER, rows)
    monkeypatch.setattr(embedder, "encode_texts", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        index_catalog(csv, None, embedder, store, batch_size=2)
    assert store.count() == 6 and store.meta()["last_indexed"] == finished["last_indexed"]
    assert store.meta()["indexing_since"] and store_version(store) == {}
    monkeypatch.undo()
    index_catalog(csv, None, embedder, store, batch_size=2)
    assert store.meta()["indexing_since"] is None and store_version(store)["count"] == 6
    store.close()
