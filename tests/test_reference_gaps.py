"""Reference catalogues and matching: exact matches and gaps on both backends, --same, our unique range, no leaks."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.common.errors import BadQuery, CatalogError, ModelMismatch, NotIndexed
from core.common.filters import Filters
from core.insights.gaps import find_gaps, gap_counts, our_unique
from core.insights.reference import check_name, reference_collection
from core.index.store import StoredPoint, point_id
from tests.conftest import PRODUCTS, write_catalog

DIM = 8


def axis(*parts) -> list[float]:
    """A unit vector from (axis, weight) pairs; the last axis takes what is left, so the weights are cosines."""
    v = [0.0] * DIM
    for i, w in parts:
        v[i] = w
    return v


def rest(i: int, w: int, j: int) -> list[float]:
    """w along axis i and the rest along axis j: cosine w with axis i."""
    return axis((i, w), (j, math.sqrt(1 - w * w)))


T3 = [0.0] * 4 + [0.9 / math.sqrt(0.82), 0.1 / math.sqrt(0.82)] + [0.0, 0.0]  # cosine 0.993884 with axis 4
TEXT = axis((5, 1.0))  # every product's text but two: nothing to match by text

# ours: id, title, category, image (None: text-only), text
OURS = [("o1", "Red Dress", "Dress", axis((0, 1.0)), TEXT),
        ("o2", "Red Bag", "Bag", axis((1, 1.0)), TEXT),
        ("o3", "Blue Shirt", "Shirt", axis((2, 1.0)), TEXT),
        ("o4", "Black Watch", "Watch", None, axis((4, 1.0))),
        ("o5", "Green Hat", "Hat", axis((3, 1.0)), TEXT),
        ("o6", "Yellow Scarf", "Scarf", axis((6, 1.0)), TEXT)]
THEIRS = [("t1", "Their Red Dress", "Dress", rest(0, 0.99, 6), TEXT),     # o1 at 0.99
          ("t2", "Their Odd Hat", "Hat", rest(3, 0.5, 7), TEXT),          # o5 at 0.5: a gap
          ("t3", "Their Watch", "Watch", None, T3),                       # text-only: o4 by text at 0.993884
          ("t4", "Their Red Dress 2", "Dress", axis((1, 1.0)), TEXT),     # o2's (a bag's) photo exactly
          ("t5", "Their Shoe", "Shoes", rest(3, 0.3, 7), TEXT),           # a category we do not carry
          ("t6", "Their Shirt", None, rest(2, 0.95, 6), TEXT)]            # no category: o3 at 0.95


def points(rows) -> list[StoredPoint]:
    out = []
    for pid, title, category, image, text in rows:
        payload = {"product_id": pid, "title": title, "fingerprint": "f", "image_path": f"/img/{pid}.jpg"}
        if category:
            payload["category"] = category
        vectors = {"text": text, **({"image": image} if image else {})}
        out.append(StoredPoint(point_id(pid), vectors, payload))
    return out


@pytest.fixture(params=["edge", "server"])
def pair(request, tmp_path):
    """(ours, theirs) with the hand-made products: two collections of one embedded data dir, or of one server."""
    from qdrant_client import QdrantClient

    from core.index.store import EdgeStore, ServerStore

    if request.param == "edge":
        ours, theirs = EdgeStore(tmp_path / "d", "products"), EdgeStore(tmp_path / "d", "products--ref--x")
    else:
        client = QdrantClient(location=":memory:")
        ours, theirs = (ServerStore(client, name, in_flight=0) for name in ("products", "products--ref--x"))
    for store, rows in ((ours, OURS), (theirs, THEIRS)):
        store.ensure("hand-made", DIM)
        store.upsert(points(rows))
    yield ours, theirs
    theirs.close()
    ours.close()


def table(rows) -> list[tuple]:
    return [(r.their_id, r.our_id, None if r.similarity is None else round(r.similarity, 5), r.verdict) for r in rows]


def test_every_reference_product_gets_its_closest_by_photo_or_by_text_gaps_first(pair):
    ours, theirs = pair
    assert table(find_gaps(ours, theirs, 0.8)) == [
        ("t5", "o5", 0.3, "gap"), ("t2", "o5", 0.5, "gap"), ("t6", "o3", 0.95, "match"),
        ("t1", "o1", 0.99, "match"), ("t3", "o4", 0.99388, "match"), ("t4", "o2", 1.0, "match")]


def test_same_category_never_crosses_categories(pair):
    ours, theirs = pair
    rows = find_gaps(ours, theirs, 0.8, same="category")
    # t4 is a bag's photo exactly, but it is a dress: only our dress may answer, and it is far
    assert table(rows) == [
        ("t5", None, None, "gap"), ("t4", "o1", 0.0, "gap"), ("t2", "o5", 0.5, "gap"),
        ("t6", "o3", 0.95, "match"), ("t1", "o1", 0.99, "match"), ("t3", "o4", 0.99388, "match")]
    for r in rows:
        if r.our_id and r.their_payload.get("category"):
            assert r.our_payload["category"] == r.their_payload["category"]


def test_filters_list_only_the_reference_products_they_keep(pair):
    ours, theirs = pair
    rows = find_gaps(ours, theirs, 0.8, Filters.of({"category": ["Dress"]}))
    assert table(rows) == [("t1", "o1", 0.99, "match"), ("t4", "o2", 1.0, "match")]


def test_our_unique_is_exactly_our_products_without_a_reference_at_the_threshold(pair):
    ours, theirs = pair
    rows = our_unique(ours, theirs, 0.8)
    assert [(r.our_id, r.their_id, round(r.similarity, 5), r.verdict) for r in rows] == [
        ("o6", "t6", 0.31225, "gap"), ("o5", "t2", 0.5, "gap")]
    same = our_unique(ours, theirs, 0.8, same="category")
    assert [(r.our_id, r.their_id, r.similarity) for r in same] == [
        ("o2", None, None), ("o3", None, None), ("o6", None, None), ("o5", "t2", pytest.approx(0.5, abs=1e-5))]


def test_rows_carry_payloads_for_the_page_and_as_dict_is_exactly_six_keys(pair):
    ours, theirs = pair
    row = find_gaps(ours, theirs, 0.8)[-1]
    assert row.as_dict() == {"their_id": "t4", "their_title": "Their Red Dress 2", "our_id": "o2",
                             "our_title": "Red Bag", "similarity": pytest.approx(1.0, abs=1e-6), "verdict": "match"}
    assert row.their_payload == {"product_id": "t4", "title": "Their Red Dress 2", "category": "Dress",
                                 "image_path": "/img/t4.jpg"}
    assert row.our_payload["image_path"] == "/img/o2.jpg"


def test_gap_counts_per_reference_category_most_gaps_first(pair):
    ours, theirs = pair
    rows = find_gaps(ours, theirs, 0.8, same="category")
    assert gap_counts(rows, "category") == [("Dress", 1, 2), ("Hat", 1, 1), ("Shoes", 1, 1), ("", 0, 1),
                                            ("Watch", 0, 1)]


def test_bad_threshold_and_a_reference_of_another_model_are_refused(pair, tmp_path):
    from core.index.store import EdgeStore

    ours, theirs = pair
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(BadQuery, match="between 0 and 1"):
            find_gaps(ours, theirs, bad)
    other = EdgeStore(tmp_path / "other", "products--ref--y")
    other.ensure("another-model", DIM)
    try:
        with pytest.raises(ModelMismatch, match="another-model"):
            find_gaps(ours, other)
    finally:
        other.close()


def test_sidebar_filters_on_fields_the_reference_lacks_are_dropped_and_named(pair):
    from core.common.fields import Schema
    from core.common.filters import Filters
    from core.insights.gaps import filters_within

    ours, theirs = pair
    theirs.add_fields(Schema(keyword=("category",)))
    asked = Filters.of(include={"brand": ["Acme"], "category": ["Dress"]}, ranges={"price": (1, 9)})
    kept, dropped = filters_within(asked, theirs)
    assert dropped == ["brand", "price"]
    assert dict(kept.include) == {"category": ("Dress",)} and not kept.ranges
    assert filters_within(None, theirs) == (None, [])


def test_a_new_reference_is_marked_in_its_first_metadata(tmp_path):
    from core.index.store import EdgeStore

    store = EdgeStore(tmp_path / "d", "products--ref--x")
    meta = store.ensure("hand-made", DIM, marks={"reference_of": "products", "reference": "x"})
    assert (meta["reference_of"], meta["reference"]) == ("products", "x")
    assert (store.meta()["reference_of"], store.meta()["reference"]) == ("products", "x")  # written, not only returned
    store.close()


def test_names_with_path_characters_or_our_collections_name_are_refused(settings):
    for bad in ("", "../x", "a/b", "a\\b", "A", "-x", "x" * 41, "products", "a b", "comp\n"):
        with pytest.raises(BadQuery):
            check_name(bad, "products")
    assert check_name("competitor-a_2", "products") == "competitor-a_2"
    assert reference_collection(settings, "comp") == "products--ref--comp"


# ---- through the CLI, with the tiny CLIP on real catalogues --------------------------------------------------

REF_ROWS = [(f"10{r[0]}",) + tuple(r[1:7]) + (f"Their {r[7]}",) for r in PRODUCTS[:4]]  # the same photos, new ids


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _ours(capsys, tmp_path):
    catalog = write_catalog(tmp_path / "ours")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()


def _views(capsys) -> dict:
    """Everything our catalogue shows: search, facets, duplicates, stats, and the map's products."""
    from core.common.config import Settings
    from core.map.products import read_products
    from core.index.store import open_store

    views = {}
    for name, args in (("search", ["search", "--text", "red dress", "--limit", "50", "--json"]),
                       ("facets", ["facets", "--json"]), ("duplicates", ["duplicates", "--threshold", "0.5", "--json"]),
                       ("stats", ["stats", "--json"])):
        code, out, _ = _run(capsys, *args)
        assert code == 0
        views[name] = json.loads(out)
    views["stats"] = {k: views["stats"][k] for k in ("count", "model", "dim")}
    store = open_store(Settings.from_env(), read_only=True)
    try:
        views["map"] = sorted(read_products(store).ids)
    finally:
        store.close()
    return views


def test_reference_products_never_leak_into_our_views_and_match_their_own_photos(settings, tmp_path, capsys):
    _ours(capsys, tmp_path)
    before = _views(capsys)
    assert before["stats"]["count"] == 6 and before["map"] == ["1", "2", "3", "4", "5", "6"]
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    code, out, err = _run(capsys, "reference", "add", "comp", "--catalog", str(ref), "--json")
    assert code == 0, err
    assert json.loads(out)["indexed"] == 4
    assert _views(capsys) == before
    code, out, _ = _run(capsys, "gaps", "comp", "--json")
    rows = json.loads(out)
    assert [(r["their_id"], r["our_id"], r["verdict"]) for r in sorted(rows, key=lambda r: r["their_id"])] == [
        ("101", "1", "match"), ("102", "2", "match"), ("103", "3", "match"), ("104", "4", "match")]
    assert all(r["similarity"] == pytest.approx(1.0, abs=1e-4) for r in rows)
    code, out, _ = _run(capsys, "gaps", "comp", "--ours", "--threshold", "0.9999", "--json")
    assert code == 0 and sorted(r["our_id"] for r in json.loads(out)) == ["5", "6"]  # the two they do not have
    code, out, _ = _run(capsys, "gaps", "comp")
    assert out.splitlines()[-1] == "4 reference products: 4 matches, 0 gaps at 0.8"


def test_reference_list_and_remove_round_trip(settings, tmp_path, capsys):
    _ours(capsys, tmp_path)
    assert _run(capsys, "reference", "list", "--json")[1].strip() == "[]"
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    assert _run(capsys, "reference", "add", "comp", "--catalog", str(ref))[0] == 0
    listed = json.loads(_run(capsys, "reference", "list", "--json")[1])
    assert [(r["name"], r["products"], r["model"], r["catalog"]) for r in listed] == \
        [("comp", 4, settings.model, str(ref.resolve()))]
    assert _run(capsys, "reference", "remove", "comp") == (0, "removed reference catalogue 'comp'\n", "")
    assert json.loads(_run(capsys, "reference", "list", "--json")[1]) == []
    assert not (settings.data_dir / "products--ref--comp").exists()
    code, _, err = _run(capsys, "reference", "remove", "comp")
    assert code == 2 and err == ("error: no reference catalogue 'comp': add it with python -m core reference add "
                                 "comp --catalog FILE\n")
    code, _, err = _run(capsys, "gaps", "comp")
    assert code == 2 and err.startswith("error: no reference catalogue 'comp'")


def _one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 2
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_is_one_line_and_writes_nothing(settings, tmp_path, capsys):
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    before_ours = _run(capsys, "reference", "add", "comp", "--catalog", str(ref))
    _one_line_error(*before_ours[::2], "our catalogue is not indexed yet")
    _one_line_error(*_run(capsys, "gaps", "comp")[::2], "our catalogue is not indexed yet")
    assert not settings.data_dir.exists() or not any(settings.data_dir.glob("products--ref--*"))
    _ours(capsys, tmp_path)
    for name, says in (("products", "reference name 'products' is the name of our own collection"),
                       ("../x", "reference name '../x' may not contain path characters"),
                       ("a/b", "reference name 'a/b' may not contain path characters")):
        _one_line_error(*_run(capsys, "reference", "add", name, "--catalog", str(ref))[::2], says)
        _one_line_error(*_run(capsys, "gaps", name)[::2], says)
    empty = tmp_path / "empty.csv"
    empty.write_text(ref.read_text().splitlines()[0] + "\n")
    _one_line_error(*_run(capsys, "reference", "add", "comp", "--catalog", str(empty))[::2],
                    f"reference catalogue {empty} has no products")
    for bad in ("1.5", "-0.2", "nan"):
        _one_line_error(*_run(capsys, "gaps", "comp", "--threshold", bad)[::2], "threshold must be between 0 and 1")
    assert sorted(p.name for p in settings.data_dir.iterdir() if p.name.startswith("products--")) == []


def test_a_reference_embedded_with_another_model_is_refused_and_leaves_no_collection(settings, tmp_path, capsys):
    from tests.helpers.random_clip import save_random_clip

    _ours(capsys, tmp_path)
    other = save_random_clip(tmp_path / "other-clip", tiny=True)
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    proc = subprocess.run([sys.executable, "-m", "core", "reference", "add", "comp", "--catalog", str(ref)],
                          capture_output=True, text=True, env={**__import__("os").environ, "LENS_MODEL": str(other)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: our index was built with model ") and str(other) in last
    assert last.endswith("(16 dims), the model loaded for reference 'comp'. Use that model (LENS_MODEL).")
    assert not (settings.data_dir / "products--ref--comp").exists()


def test_core_errors_name_the_fix(settings, embedder, tmp_path):
    from core.insights.reference import add_reference, open_reference

    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    with pytest.raises(NotIndexed, match="python -m core index"):
        add_reference(settings, "comp", ref, None, embedder)
    with pytest.raises(NotIndexed, match="reference add comp --catalog FILE"):
        open_reference(settings, "comp")
    with pytest.raises(CatalogError, match="catalogue file not found"):
        add_reference(settings, "comp", tmp_path / "missing.csv", None, embedder)


def test_on_a_server_a_reference_is_added_listed_matched_and_removed(settings, embedder, tmp_path, monkeypatch):
    from qdrant_client import QdrantClient

    from core.common.config import Settings
    from core.index.indexer import index_catalog
    from core.insights.reference import add_reference, list_references, open_reference, remove_reference
    from core.index.store import ServerStore, open_store

    shared = QdrantClient(location=":memory:")  # one "server" for every connection this test opens
    monkeypatch.setattr(shared, "close", lambda: None)
    monkeypatch.setattr(ServerStore, "connect", classmethod(
        lambda cls, url, key="", collection="products", timeout=30, overrides=None: cls(shared, collection,
                                                                                         in_flight=0)))
    monkeypatch.setenv("QDRANT_URL", ":memory:")
    server = Settings.from_env()
    ours = write_catalog(tmp_path / "ours")
    store = open_store(server)
    index_catalog(ours, ours.parent / "images", embedder, store)
    store.close()
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)
    assert add_reference(server, "comp", ref, None, embedder).indexed == 4
    assert [(r.name, r.products) for r in list_references(server)] == [("comp", 4)]
    mine, theirs = open_store(server, read_only=True), open_reference(server, "comp")
    assert sorted((r.their_id, r.our_id) for r in find_gaps(mine, theirs)) == \
        [("101", "1"), ("102", "2"), ("103", "3"), ("104", "4")]
    assert mine.count() == 6
    remove_reference(server, "comp")
    assert list_references(server) == []
    assert [c.name for c in shared.get_collections().collections] == ["products"]


def test_a_first_add_that_fails_before_writing_a_product_leaves_no_collection(settings, embedder, tmp_path,
                                                                               capsys, monkeypatch):
    import core.index.indexer
    from core.insights.reference import add_reference

    _ours(capsys, tmp_path)
    ref = write_catalog(tmp_path / "theirs", rows=REF_ROWS)

    def stops(*args, **kwargs):
        raise CatalogError("the file changed while it was read")

    monkeypatch.setattr(core.index.indexer, "index_catalog", stops)
    with pytest.raises(CatalogError, match="changed"):
        add_reference(settings, "comp", ref, None, embedder)
    assert not (settings.data_dir / "products--ref--comp").exists()


def test_sample_reference_writes_a_competitor_of_near_copies_and_unlike_products(tmp_path, capsys):
    import csv as csv_module

    assert main(["sample", "--reference", str(tmp_path / "rival")]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "rival" / "catalog.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        ids = [row["ProductId"] for row in csv_module.DictReader(fh)]
    assert len(ids) == 16 and sum(i.startswith("NW-U") for i in ids) == 8
    assert len(list((tmp_path / "rival" / "images").rglob("*.jpg"))) == 16
