"""`--prune` decides on a problem's kind, never on its words: rewording a catalogue problem's message cannot change
whether a run deletes. An unreadable row (a stray quote can swallow the products after it) blocks the prune however
it is worded; every other kind lets it delete exactly the stale products, even worded as an unreadable row once was
("unreadable CSV row", "row is not valid" were the prefixes prune_missing matched before problems had kinds)."""

from dataclasses import replace

import numpy as np
import pytest

import core.index.indexer
from core.index.indexer import IndexReport, Plan, index_catalog, prune_missing
from core.index.store import StoredPoint, point_id
from core.ingest.formats import ProblemKind, RowProblem
from tests.conftest import PRODUCTS, write_catalog

STORED = ("a", "b", "c", "d")
SEEN = {"a", "b"}           # in this run's catalogue: c and d are stale
OLD_BLOCKING_WORDS = ("unreadable CSV row: expected 8 fields, found 3", "row is not valid UTF-8 text")
NEW_WORDS = ("this line could not be made sense of", "", "duplicate id a (first seen on row 2)")

# Every kind with what it must do to a prune: a kind added later must be decided here, not by its message.
BLOCKS_PRUNE = {ProblemKind.UNREADABLE_ROW: True, ProblemKind.MISSING_KEY: False, ProblemKind.DUPLICATE_ID: False,
                ProblemKind.INCOMPLETE_PRODUCT: False, ProblemKind.TEXT_ONLY: False}


def stored_ids(store) -> set[str]:
    return set(store.fingerprints())


@pytest.fixture
def stocked(store):
    """The store holding products a, b, c and d (hand-made vectors: no model needed to decide a prune)."""
    store.ensure("hand-made", 4)
    vector = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    store.upsert([StoredPoint(point_id(pid), {"image": vector, "text": vector},
                              {"product_id": pid, "fingerprint": f"f-{pid}", "payload_hash": f"h-{pid}"})
                  for pid in STORED])
    assert stored_ids(store) == set(STORED)
    return store


def _prune(store, problems: list[RowProblem]) -> IndexReport:
    report = IndexReport()
    prune_missing(problems, Plan(existing=store.fingerprints(), seen=set(SEEN)), store, report)
    return report


def test_every_kind_has_a_decided_effect_on_prune():
    assert set(BLOCKS_PRUNE) == set(ProblemKind)


@pytest.mark.parametrize("reason", NEW_WORDS)
def test_an_unreadable_row_blocks_the_prune_however_it_is_worded(stocked, reason):
    report = _prune(stocked, [RowProblem(3, "", reason, ProblemKind.UNREADABLE_ROW)])
    assert stored_ids(stocked) == {"a", "b", "c", "d"}
    assert report.pruned == 0
    assert report.warnings == ["--prune skipped: 1 row(s) could not be read, so the CSV may hide products that "
                               "still exist; fix those rows and run again"]


@pytest.mark.parametrize("kind", [kind for kind, blocks in BLOCKS_PRUNE.items() if not blocks])
@pytest.mark.parametrize("reason", OLD_BLOCKING_WORDS)
def test_other_kinds_let_the_prune_delete_exactly_the_stale_products_whatever_their_words(stocked, kind, reason):
    report = _prune(stocked, [RowProblem(3, "a", reason, kind)])
    assert stored_ids(stocked) == {"a", "b"}
    assert (report.pruned, report.warnings) == (2, [])


def test_a_problems_product_is_kept_and_one_unreadable_row_among_others_still_blocks(stocked):
    """The id a problem names is kept (its row may be fixed next run), and the kind alone decides: the unreadable
    row here is worded as a duplicate, the duplicate as an unreadable row."""
    duplicate = RowProblem(4, "c", OLD_BLOCKING_WORDS[0], ProblemKind.DUPLICATE_ID)
    unreadable = RowProblem(5, "", "duplicate id c (first seen on row 4)", ProblemKind.UNREADABLE_ROW)
    assert _prune(stocked, [duplicate, unreadable]).pruned == 0
    assert stored_ids(stocked) == {"a", "b", "c", "d"}
    assert _prune(stocked, [duplicate]).pruned == 1
    assert stored_ids(stocked) == {"a", "b", "c"}


# -- end to end: index_catalog(prune=True) on a real CSV, every problem's message reworded as it is read ----------

def reword_every_problem(monkeypatch, words: dict[ProblemKind, str]) -> None:
    """The indexer's catalogue reader, with each problem's reason replaced by the words given for its kind."""
    class Reworded(core.index.indexer.CatalogFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.problems = [replace(p, reason=words[p.kind]) for p in self.problems]

    monkeypatch.setattr(core.index.indexer, "CatalogFile", Reworded)


def _index(catalog, embedder, store, **kw):
    return index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=8, **kw)


def test_a_broken_quote_blocks_the_prune_whatever_its_message_says(tmp_path, embedder, store, monkeypatch):
    catalog = write_catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    write_catalog(tmp_path / "c", rows=PRODUCTS[:4], images=False)  # products 5 and 6 are gone from the file
    lines = catalog.read_text().splitlines()
    lines[2] = lines[2].replace("Nike Men", '"Nike Men', 1)  # an unclosed quote swallows every later row
    catalog.write_text("\n".join(lines) + "\n")
    reword_every_problem(monkeypatch, {kind: "something odd here" for kind in ProblemKind})
    report = _index(catalog, embedder, store, prune=True)
    assert [(p.row, p.reason) for p in report.failed] == [(3, "something odd here")]  # the reworded message
    assert report.pruned == 0
    assert stored_ids(store) == {"1", "2", "3", "4", "5", "6"}
    assert report.warnings[0].startswith("--prune skipped: 1 row(s) could not be read")


def test_problems_worded_like_unreadable_rows_do_not_stop_the_prune(tmp_path, embedder, store, monkeypatch):
    catalog = write_catalog(tmp_path / "c")
    _index(catalog, embedder, store)
    # products 5 and 6 are gone; a row repeats product 1's id and another has no id
    write_catalog(tmp_path / "c", rows=PRODUCTS[:4] + [PRODUCTS[0], ("",) + PRODUCTS[1][1:]], images=False)
    reword_every_problem(monkeypatch, {kind: OLD_BLOCKING_WORDS[0] for kind in ProblemKind})
    report = _index(catalog, embedder, store, prune=True)
    assert [(p.row, p.reason) for p in report.failed] == [(6, OLD_BLOCKING_WORDS[0]), (7, OLD_BLOCKING_WORDS[0])]
    assert (report.pruned, report.warnings) == (2, [])
    assert stored_ids(store) == {"1", "2", "3", "4"}
