"""The Gaps page and the Explore overlay (issue 14) on the six-product index and a hand-made reference catalogue
added with add_reference: near-copies of some of our products, one exact copy, and products unlike ours."""

from __future__ import annotations

import csv
import io
import json
import random

import numpy as np
import pytest
from PIL import Image

from core.ingest.sample import HEADER
from core.ingest.sample_reference import UNLIKE_COLOURS, altered_copy, draw_unlike
from tests.conftest import PRODUCTS, write_csv
from tests.helpers.apptest import explore as _explore, shown, start

HOSTILE = '<b>Bold</b> [x](javascript:alert(1))'
COPIES = {"c1": "1", "c2": "2", "c4": "4"}   # cropped, lighter or darker photos of ours
EXACT = {"x3": "3"}                            # the very photo of our product 3
UNLIKE = ["u1", "u2", "u3"]                    # kinds, colours and a backdrop the six do not have


@pytest.fixture
def rival(indexed, tmp_path):
    """The reference "rival" (7 products), added as the CLI adds one."""
    from core.models.embedder import load_embedder
    from core.insights.reference import add_reference

    folder = tmp_path / "rival"
    (folder / "images").mkdir(parents=True)
    rng, rows = random.Random(3), []
    by_id = {p[0]: p for p in PRODUCTS}
    for theirs, ours in {**COPIES, **EXACT}.items():
        p = by_id[ours]
        photo = Image.open(tmp_path / "cat" / "images" / p[2] / f"{ours}.jpg").convert("RGB")
        (photo if theirs in EXACT else altered_copy(photo, rng)).save(folder / "images" / f"{theirs}.png")
        rows.append([theirs, *p[1:7], f"Their {p[7]}", f"{theirs}.png", ""])
    for their_id, kind, colour in zip(UNLIKE, ("Sunglasses", "Lamps", "Mugs"), ("Teal", "Gold", "Coral")):
        draw_unlike(kind, UNLIKE_COLOURS[colour]).save(folder / "images" / f"{their_id}.png")
        title = HOSTILE if their_id == "u1" else f"{colour} {kind}"
        rows.append([their_id, "Unisex", "Home", "Decor", kind, colour, "Casual", title, f"{their_id}.png", ""])
    write_csv(folder / "catalog.csv", HEADER, rows)
    add_reference(indexed, "rival", folder / "catalog.csv", folder / "images", load_embedder(indexed.model, "cpu"))
    return indexed


def _gaps(threshold: float | None = None, **widgets):
    at = start("pages/gaps.py")
    if threshold is not None:
        at.slider(key="gaps_threshold").set_value(threshold).run()
    for key, value in widgets.items():
        at.segmented_control(key=key).set_value(value).run() if key == "gaps_direction" else \
            at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _rows(at) -> list[tuple[str, str, str]]:
    """(listed id, counterpart id, verdict) per row of the table, top to bottom."""
    ids = [c.value.rsplit("#", 1)[1] for c in at.caption if c.value.startswith(("Theirs ·", "Ours ·"))]
    verdicts = ["match" if "green-badge" in m.value else "gap" for m in at.markdown if "-badge[" in m.value]
    return [(ids[2 * i], ids[2 * i + 1], v) for i, v in enumerate(verdicts)]


def test_near_copies_match_their_originals_and_unlike_products_are_gaps(rival, monkeypatch):
    import app.gaps_panel

    exported = []
    real = app.gaps_panel.rows_csv
    monkeypatch.setattr(app.gaps_panel, "rows_csv", lambda rows: exported.append(real(rows)) or exported[-1])
    at = _gaps(0.99)
    rows = _rows(at)
    assert len(rows) == 7
    assert [v for _, _, v in rows] == ["gap"] * 3 + ["match"] * 4  # lowest similarity first
    assert {r[0] for r in rows[:3]} == set(UNLIKE)
    assert {r[0]: r[1] for r in rows[3:]} == {**COPIES, **EXACT}
    assert all(text.startswith("\ufeff") for text in exported[-2:])  # a UTF-8 BOM, for Excel
    gaps_csv, matches_csv = (list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))) for text in exported[-2:])
    assert sorted(r["their_id"] for r in gaps_csv) == UNLIKE and {r["verdict"] for r in gaps_csv} == {"gap"}
    assert {r["their_id"]: r["our_id"] for r in matches_csv} == {**COPIES, **EXACT}
    assert next(r for r in gaps_csv if r["their_id"] == "u1")["their_title"] == HOSTILE  # as typed
    # Their Home products are a category we lack entirely; the hostile title is text, never markup.
    assert [c.value for c in at.caption if "categories we lack" in c.value] == [
        "They have categories we lack entirely: Home"]  # not every category whose products are all gaps
    assert not [m for m in at.markdown if "<b>" in m.value or "](javascript" in m.value]


def test_the_threshold_changes_verdicts(rival):
    at = _gaps(0.99)
    assert sum(v == "gap" for _, _, v in _rows(at)) == 3
    at.slider(key="gaps_threshold").set_value(0.5).run()
    assert not at.exception and [v for _, _, v in _rows(at)] == ["match"] * 7
    at.slider(key="gaps_threshold").set_value(0.99).run()
    assert [r[0] for r in _rows(at) if r[2] == "gap"] == [r[0] for r in _rows(at)][:3]


def test_our_unique_range_lists_ours_they_have_nothing_close_to(rival):
    at = _gaps(0.99, gaps_direction="ours")
    rows = _rows(at)
    # The tiny random model sees our white shirt (6) in their near-copies' light studio photos; the yellow
    # shorts (5) have nothing of theirs that close. Every product they copied is matched.
    assert [r[0] for r in rows] == ["5"] and rows[0][2] == "gap"
    assert any(m.value.startswith("**1** of our products have no match") for m in at.markdown)


def test_look_alikes_of_theirs_come_from_our_catalogue(rival):
    at = _gaps(0.99, gaps_order="descending")
    assert _rows(at)[0][0] == "x3"
    at.button(key="gap-like-0").click().run()
    assert not at.exception
    cards = [c.value.rsplit("#", 1)[1] for c in at.caption if "similarity ·" in c.value or
             ("#" in c.value and "Theirs" not in c.value and "Ours ·" not in c.value and "similarity" in c.value)]
    assert cards and cards[0] == "3"


def test_without_a_reference_the_page_offers_to_add_one(indexed):
    at = start("pages/gaps.py")
    assert not at.exception
    assert any("no reference catalogue" in i.value for i in at.info)
    at.text_input(key="gaps_new_name").input("Bad Name").run()
    at.button(key="gaps_add").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == ["reference name 'Bad Name' must be 1 to 40 lower-case letters, "
                                                  "digits, '-' or '_', starting with a letter or digit"]
    assert not at.success and any("no reference catalogue" in i.value for i in at.info)  # nothing was added


# ---- the Explore overlay ---------------------------------------------------------------------------------------

def _array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array ({"dtype", "bdata"} in base64)."""
    import base64

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def test_an_overlay_is_drawn_as_its_own_layer_and_a_box_lists_their_gaps(rival):
    at = _explore(rival)
    assert not at.selectbox(key="explore_overlay").value  # none
    plain = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert not [t for t in plain["data"] if str(t.get("name", "")).startswith("Theirs")]
    at.session_state["gaps_saved_threshold"] = 0.99
    at.selectbox(key="explore_overlay").set_value("rival").run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    theirs = [t for t in spec["data"] if str(t.get("name", "")).startswith("Theirs")]
    assert [t["name"] for t in theirs] == ["Theirs: rival (7)"] and theirs[0]["marker"]["symbol"] == "diamond-open"
    hover = {row[1]: row for row in theirs[0]["customdata"]}
    assert hover["u1"][2] == "&lt;b&gt;Bold&lt;/b&gt; [x](javascript:alert(1))"
    # The exact copy sits on our product 3.
    from core.map.storage import load_map

    m = load_map(rival.data_dir, rival.collection)
    x3 = list(hover).index("x3")
    their_x, their_y = _array(theirs[0]["x"]), _array(theirs[0]["y"])
    assert np.allclose([their_x[x3], their_y[x3]], m.xy[m.row_of["3"]], atol=1e-5)
    xs, ys = [*their_x, *m.xy[:, 0]], [*their_y, *m.xy[:, 1]]
    box = {"x": [float(min(xs)) - 1, float(max(xs)) + 1], "y": [float(min(ys)) - 1, float(max(ys)) + 1]}
    at.session_state["map"] = {"selection": {"points": [], "point_indices": [], "box": [box], "lasso": []}}
    at.run()
    assert not at.exception
    assert "7 of theirs selected: 3 gaps" in [s.value for s in at.subheader]
    assert "6 selected" in [s.value for s in at.subheader]  # ours, as before


# ---- core.map.overlay on a UMAP map --------------------------------------------------------------------------------

def test_reference_vectors_are_placed_as_new_products_and_copies_on_ours(settings, tmp_path):
    """On a fitted UMAP map: an identical vector lands on our product, another one where the map's own projector
    places a new product."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.map.overlay import place_reference
    from core.map.build import compute_map
    from core.map.storage import load_projector, map_paths
    from core.ingest.sample import generate
    from core.index.store import EdgeStore, StoredPoint, point_id

    catalog = generate(tmp_path / "sample", count=40)
    ours = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), ours)
    m = compute_map(ours, settings.data_dir, settings.collection)
    assert m.method == "umap"
    theirs = EdgeStore(settings.data_dir, "theirs")
    meta = ours.meta()
    theirs.ensure(meta["model"], meta["dim"])
    copy, other = ours.retrieve([point_id("10007"), point_id("10020")], with_vectors=True)
    nudged = np.asarray(other.vectors["image"]) + 0.05 * np.random.default_rng(0).normal(size=meta["dim"])
    nudged = (nudged / np.linalg.norm(nudged)).astype(np.float32)
    theirs.upsert([StoredPoint(point_id("t-copy"), copy.vectors, {"product_id": "t-copy", "title": "Copy"}),
                   StoredPoint(point_id("t-new"), {"image": nudged.tolist()}, {"product_id": "t-new"})])
    placed = place_reference(ours, theirs, m, settings.data_dir, settings.collection)
    at = {p: placed.xy[i] for i, p in enumerate(placed.product_ids)}
    # The sample draws some products alike pixel for pixel: the copy lands on one whose vector is the same.
    twin = placed.twins["t-copy"]
    assert list(placed.twins) == ["t-copy"]
    assert np.allclose(ours.retrieve([point_id(twin)], with_vectors=True)[0].vectors["image"], copy.vectors["image"])
    assert np.linalg.norm(at["t-copy"] - m.xy[m.row_of[twin]]) < 1e-5
    projector = load_projector(map_paths(settings.data_dir, settings.collection, "image")[1])
    assert np.allclose(at["t-new"], projector.transform(nudged[None, :])[0], atol=1e-5)
    assert placed.attrs["title"][placed.product_ids.index("t-copy")] == "Copy"
    ours.close()
    theirs.close()


def test_adding_ours_to_a_board_keeps_the_similarity_the_row_showed(rival, monkeypatch):
    import app.gaps_panel
    from core.curation.boards import BoardStore

    boards = BoardStore(rival.data_dir / "boards")
    board = boards.create("Matched")
    exported = []
    real = app.gaps_panel.rows_csv
    monkeypatch.setattr(app.gaps_panel, "rows_csv", lambda rows: exported.append(real(rows)) or exported[-1])
    at = _gaps(0.99)
    rows = _rows(at)
    n = next(i for i, r in enumerate(rows) if r[0] == "c1")  # their near-copy of our product 1
    at.button(key=f"gap-board-{n}").click().run()
    assert not at.exception
    matches = list(csv.DictReader(io.StringIO(exported[-1].removeprefix("\ufeff"))))
    shown = float(next(r for r in matches if r["their_id"] == "c1")["similarity"])
    (item,) = boards.get(board.id).items
    assert item.product_id == "1" and item.score == pytest.approx(shown, abs=1e-4)
