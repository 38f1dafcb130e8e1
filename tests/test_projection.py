"""Catalogue map: layout, determinism, clusters, stored maps, staleness, transform and tiny catalogues."""

import itertools

import numpy as np
import pytest

from core.ingest.colours import COLOUR_HEX, UNKNOWN, colour_hex
from core.common.filters import Filters
from core.map.figure import build_figure, filter_mask, selected_ids
from core.map.build import compute_map
from core.map.storage import load_map, map_status
from core.index.store import EdgeStore, StoredPoint, point_id

DIM = 16
GROUPS = {"Red": 0, "Blue": 5, "Green": 10}  # three tight clusters around different axes


def clustered_points(n_per_group=25, seed=0, start=0):
    rng = np.random.default_rng(seed)
    points, i = [], start
    for colour, axis in GROUPS.items():
        centre = np.zeros(DIM, dtype=np.float32)
        centre[axis] = 1.0
        for _ in range(n_per_group):
            v = centre + rng.normal(0, 0.05, DIM).astype(np.float32)
            v /= np.linalg.norm(v)
            gender = "Women" if i % 2 else "Men"
            points.append(StoredPoint(point_id(str(i)), {"image": v, "text": v},
                                      {"product_id": str(i), "colour": [colour], "gender": gender, "title": f"P{i}",
                                       "product_type": "Dresses", "fingerprint": f"f{i}"}))
            i += 1
    return points


def test_map_has_one_point_per_product_and_is_deterministic(edge, tmp_path):
    edge.upsert(clustered_points())
    first = compute_map(edge, tmp_path / "a", "products")
    second = compute_map(edge, tmp_path / "b", "products")
    assert first.method == "umap" and first.xy.shape == (75, 2) and len(first.product_ids) == 75
    assert np.allclose(first.xy, second.xy)


def test_separated_clusters_land_apart_and_get_attribute_names(edge, tmp_path):
    edge.upsert(clustered_points())
    m = compute_map(edge, tmp_path, "products")
    colour_of = dict(zip(m.product_ids, m.attrs["colour"]))
    centres = {c: m.xy[[colour_of[p] == c for p in m.product_ids]].mean(axis=0) for c in GROUPS}
    spread = max(np.linalg.norm(m.xy[[colour_of[p] == c for p in m.product_ids]] - centres[c], axis=1).max()
                 for c in GROUPS)
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in GROUPS for b in GROUPS if a < b]
    assert min(gaps) > 2 * spread
    assert sorted(m.labels.values()) == ["Dresses · Blue", "Dresses · Green", "Dresses · Red"]


def test_stored_map_is_reused_and_detected_stale_after_reindexing(edge, tmp_path, monkeypatch):
    edge.upsert(clustered_points())
    made = compute_map(edge, tmp_path, "products")
    assert map_status(edge, load_map(tmp_path, "products")) == "fresh"
    import core.map.build

    monkeypatch.setattr(core.map.build, "Projector", lambda *a: pytest.fail("a fresh stored map must be reused"))
    again = compute_map(edge, tmp_path, "products")
    assert np.array_equal(again.xy, made.xy)
    changed = clustered_points()[:1]
    changed[0].payload["fingerprint"] = "new"
    edge.upsert(changed)
    assert map_status(edge, load_map(tmp_path, "products")) == "stale"


def test_added_product_is_placed_by_transform_near_its_look_alikes(edge, tmp_path, monkeypatch):
    edge.upsert(clustered_points())
    before = compute_map(edge, tmp_path, "products")
    new = clustered_points(n_per_group=1, seed=9, start=1000)[1]  # "1001", a Blue product
    edge.upsert([new])
    import core.map.projector

    monkeypatch.setattr(core.map.projector.Projector, "fit", lambda *a: pytest.fail("no full refit for one product"))
    after = compute_map(edge, tmp_path, "products")
    assert after.transformed == 1 and len(after.product_ids) == 76
    index = {p: i for i, p in enumerate(after.product_ids)}
    for p in before.product_ids:  # everyone else stays where they were
        assert np.allclose(after.xy[index[p]], before.xy[before.product_ids.index(p)])
    blues = [i for p, i in index.items() if after.attrs["colour"][i] == "Blue" and p != "1001"]
    others = [i for p, i in index.items() if after.attrs["colour"][i] != "Blue"]
    here = after.xy[index["1001"]]
    assert np.linalg.norm(after.xy[blues] - here, axis=1).mean() < np.linalg.norm(after.xy[others] - here, axis=1).mean()
    assert map_status(edge, after) == "fresh"


@pytest.mark.parametrize("former_home", ["core.projection", "core.map.projection"])
def test_a_model_file_written_where_the_projector_used_to_live_still_places_new_products(edge, tmp_path, monkeypatch,
                                                                                         former_home):
    """A model file is a pickle naming Projector's module: one written before core/ became packages (or before the
    map package was split) is read as today's, so an upgrade places new products instead of refitting everyone."""
    import sys
    import types

    import joblib

    from core.map.projector import Projector
    from core.map.storage import load_projector, map_paths

    edge.upsert(clustered_points())
    compute_map(edge, tmp_path, "products")
    model = map_paths(tmp_path, "products", "image")[1]
    projector = joblib.load(model)
    old_module = types.ModuleType(former_home)
    old_module.Projector = Projector
    with monkeypatch.context() as then:  # Projector as it was pickled when it lived there
        then.setattr(Projector, "__module__", former_home)
        then.setitem(sys.modules, former_home, old_module)
        joblib.dump(projector, model)
    assert former_home.encode() in model.read_bytes() and former_home not in sys.modules
    assert isinstance(load_projector(model), Projector) and former_home not in sys.modules
    edge.upsert([clustered_points(n_per_group=1, seed=9, start=1000)[1]])
    monkeypatch.setattr(Projector, "fit", lambda *a: pytest.fail("the stored model was not read: a full refit"))
    assert compute_map(edge, tmp_path, "products").transformed == 1

@pytest.mark.parametrize("count", [0, 1, 2, 10])
def test_tiny_catalogues_still_get_a_map(store, tmp_path, count):
    store.ensure("hand-made", DIM)
    store.upsert(clustered_points(n_per_group=4)[:count])
    m = compute_map(store, tmp_path, "products")
    assert m.xy.shape == (count, 2) and m.method == "pca" and np.isfinite(m.xy).all()
    figure = build_figure(m, "colour")
    assert sum(len(t.x) for t in figure.data) == count


def test_products_without_photo_are_placed_from_text_and_without_vectors_listed(edge, tmp_path):
    points = clustered_points(n_per_group=4)
    del points[0].vectors["image"]
    edge.upsert(points)
    m = compute_map(edge, tmp_path, "products")
    assert m.placed_from[m.product_ids.index("0")] == "text"
    assert m.not_placed == [] and len(m.product_ids) == 12


def test_filtered_out_points_are_greyed_not_dropped(edge, tmp_path):
    edge.upsert(clustered_points(n_per_group=4))
    m = compute_map(edge, tmp_path, "products")
    flt = Filters.of({"colour": ["Red"]}, {"gender": ["Men"]})
    assert filter_mask(m, flt).sum() == 2  # Red products 0..3, the odd ones are Women
    figure = build_figure(m, "colour", flt, highlight=["5"])
    grey = [t for t in figure.data if t.name == "filtered out"][0]
    assert len(grey.x) == 10 and sum(len(t.x) for t in figure.data if t.name != "current search") == 12
    red = [t for t in figure.data if t.name.startswith("Red")][0]
    assert red.marker.color == COLOUR_HEX["Red"]
    assert [t for t in figure.data if t.name == "current search"][0].customdata[0][0] == "5"


def test_every_sample_colour_has_its_real_colour():
    import csv

    from core.ingest.sample import COLOURS, SAMPLE_CSV

    with open(SAMPLE_CSV, newline="") as fh:
        used = {row["Colour"] for row in csv.DictReader(fh)}
    assert used <= set(COLOURS)
    assert [c for c in used if colour_hex(c) == UNKNOWN] == []
    assert colour_hex("Navy Blue") == "#14215a" and colour_hex("navy  blue") == "#14215a"
    assert colour_hex("Blue") != colour_hex("Navy Blue")


def test_a_product_of_ours_named_theirs_is_ours_and_an_overlaid_point_is_theirs():
    from types import SimpleNamespace

    from core.map.figure import THEIRS_MARK, overlay_selected

    ours = {"customdata": ["theirs", "Our product titled X"]}
    overlaid = {"customdata": [THEIRS_MARK, "r1", "Their title"]}
    event = {"selection": {"points": [ours, overlaid], "box": [], "lasso": []}}
    overlay = SimpleNamespace(product_ids=["r1"], xy=np.zeros((1, 2)))
    assert selected_ids(event) == ["theirs"]
    assert overlay_selected(event, overlay) == ["r1"]


def test_selection_event_gives_product_ids_in_order():
    event = {"selection": {"points": [{"customdata": ["7", "t"]}, {"customdata": ["3", "t"]},
                                      {"customdata": ["7", "t"]}], "box": [], "lasso": []}}
    assert selected_ids(event) == ["7", "3"]
    assert selected_ids(None) == [] and selected_ids({"selection": {"points": []}}) == []


def test_attribute_only_change_makes_the_map_stale_but_moves_nobody(edge, tmp_path):
    points = clustered_points()
    for p in points:
        p.payload["payload_hash"] = "h"
    edge.upsert(points)
    before = compute_map(edge, tmp_path, "products")
    edge.overwrite_payload(points[0].id, dict(points[0].payload, colour="Black", payload_hash="h2"))
    assert map_status(edge, before) == "stale"
    after = compute_map(edge, tmp_path, "products")
    assert after.attrs["colour"][after.product_ids.index("0")] == "Black"
    assert np.allclose(after.xy, before.xy) and after.transformed == 0


def test_a_different_model_or_many_new_products_refit_instead_of_transform(tmp_path):
    store = EdgeStore(tmp_path / "data")
    store.ensure("m16", DIM)
    store.upsert(clustered_points())
    compute_map(store, tmp_path, "products")
    store.ensure("m32", 32, recreate=True)
    rng = np.random.default_rng(1)
    store.upsert([StoredPoint(point_id(str(i)), {"image": v / np.linalg.norm(v)},
                              {"product_id": str(i), "fingerprint": f"n{i}"})
                  for i, v in enumerate(rng.normal(size=(40, 32)).astype(np.float32))])
    m = compute_map(store, tmp_path, "products")  # 32-d vectors cannot go through the 16-d model
    assert m.xy.shape == (40, 2) and m.transformed == 0 and np.isfinite(m.xy).all()
    store.close()


def test_identical_vectors_do_not_break_the_map(edge, tmp_path):
    v = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    edge.upsert([StoredPoint(point_id(str(i)), {"image": v}, {"product_id": str(i), "fingerprint": "same"})
                 for i in range(30)])
    m = compute_map(edge, tmp_path, "products")
    assert m.xy.shape == (30, 2) and np.isfinite(m.xy).all()


def test_corrupt_stored_map_is_treated_as_missing(edge, tmp_path):
    from core.map.storage import map_paths

    edge.upsert(clustered_points(n_per_group=3))
    compute_map(edge, tmp_path, "products")
    map_paths(tmp_path, "products", "image")[0].write_bytes(b"")
    assert load_map(tmp_path, "products") is None


def test_photos_can_replace_dots_for_a_few_hundred_products(edge, tmp_path):
    edge.upsert(clustered_points(n_per_group=4))
    m = compute_map(edge, tmp_path, "products")
    jpeg = b"\xff\xd8fake"
    figure = build_figure(m, "cluster", thumbnails={"0": jpeg, "5": jpeg, "missing": jpeg, "7": None})
    assert len(figure.layout.images) == 2
    x0, y0 = m.xy[m.product_ids.index("0")]
    assert {(round(i.x, 4), round(i.y, 4)) for i in figure.layout.images} >= {(round(float(x0), 4), round(float(y0), 4))}
    assert figure.layout.images[0].source.startswith("data:image/jpeg;base64,")


def _hostile_map():
    """Four products whose CSV values are HTML Plotly would render (links, images, line breaks), in two clusters."""
    from core.map.storage import CatalogMap

    link = '<a href="https://evil.example">Red</a>'
    ids = ["<b>1</b>", "2", "3", "4&lt;"]
    attrs = {"title": ['<img src="http://127.0.0.1:9/t.png">', "Plain", "a<br>b", "[x](https://evil.example)"],
             "colour": [link, link, "Blue", "<i>Blue</i>"], "gender": ["<b>Women</b>"] * 4,
             "category": ["Apparel"] * 4, "sub_category": ["Dress"] * 4, "product_type": ["<sup>1</sup>"] * 4,
             "usage": ["<span style='color:red'>x</span>"] * 4}
    return CatalogMap("image", ids, np.array([[0, 0], [0, 1], [5, 5], [5, 6]], dtype=np.float32),
                      np.array([0, 0, 1, 1], dtype=np.int32), {0: link, 1: "<b>Blue</b> · Mixed"},
                      ["image"] * 4, ["f"] * 4, "key", {}, method="pca", attrs=attrs)


@pytest.mark.parametrize("colour_by", ["cluster", "colour", "gender", "usage", "product_type"])
def test_catalogue_values_reach_the_figure_as_text_not_html(colour_by):
    from core.map.figure import COLOUR_BY

    assert colour_by in COLOUR_BY
    figure = build_figure(_hostile_map(), colour_by, Filters.of({"category": ["Apparel"]}), highlight=["<b>1</b>"])
    names = [t.name for t in figure.data]
    cells = [str(c) for t in figure.data for row in t.customdata for c in row]
    notes = [a.text for a in figure.layout.annotations]
    assert len(cells) == 5 * 6 and len(notes) == 2  # four products plus the highlighted one, six fields each
    assert not [s for s in names + cells + notes if "<" in s or ">" in s]
    assert sorted(notes) == ["&lt;a href=\"https://evil.example\"&gt;Red&lt;/a&gt;", "&lt;b&gt;Blue&lt;/b&gt; · Mixed"]


def test_legend_and_hover_show_the_escaped_value_and_selection_gets_the_raw_id():
    figure = build_figure(_hostile_map(), "colour")
    # The legend cuts a long value (LEGEND_CHARS) so it keeps its width; the hover below has it whole.
    assert [t.name for t in figure.data] == ['&lt;a href="https://evil.exa… (2)',
                                             "&lt;i&gt;Blue&lt;/i&gt; (1)", "Blue (1)"]
    first = figure.data[0].customdata[0]
    assert list(first) == ["&lt;b&gt;1&lt;/b&gt;", '&lt;img src="http://127.0.0.1:9/t.png"&gt;',
                           "&lt;b&gt;Women&lt;/b&gt;",
                           "&lt;sup&gt;1&lt;/sup&gt;", '&lt;a href="https://evil.example"&gt;Red&lt;/a&gt;',
                           "&lt;span style='color:red'&gt;x&lt;/span&gt;"]
    last = figure.data[1].customdata[0]
    assert last[0] == "4&amp;lt;"
    event = {"selection": {"points": [{"customdata": list(first)}, {"customdata": list(last)}]}}
    assert selected_ids(event) == ["<b>1</b>", "4&lt;"]


def _blobs(groups):
    """2-D blobs far apart, one per group of payloads: what cluster_labels sees after the layout."""
    rng = np.random.default_rng(4)
    xy, payloads = [], []
    for g, group in enumerate(groups):
        xy.append(rng.normal(0, 0.3, (len(group), 2)) + (40 * g, 0))
        payloads.extend(group)
    return np.concatenate(xy).astype(np.float32), payloads


def _columns(payloads):
    """The map's attribute columns (CatalogMap.attrs) for these payloads."""
    from core.common.fields import display_value
    from core.map.products import ATTR_FIELDS

    return {k: [display_value(p.get(k)) for p in payloads] for k in ATTR_FIELDS}


def _mixed(n, colours):
    """n shirts-led products where no label field reaches 60%: named "Mixed · Shirts"."""
    types = ["Shirts", "Shirts", "Tshirts", "Tops"]
    return [{"gender": ["Men", "Women"][i % 2], "product_type": types[i % 4], "colour": colours[i % len(colours)]}
            for i in range(n)]


def test_clusters_that_would_share_a_name_get_told_apart():
    from core.map.clusters import cluster_labels

    xy, payloads = _blobs([
        _mixed(40, ["Blue", "Blue", "Red", "Green"]),     # mostly Blue
        _mixed(40, ["White", "White", "Red", "Green"]),   # mostly White
        _mixed(30, ["Black", "Grey"]),                    # these two look alike on every field:
        _mixed(36, ["Black", "Grey"]),                    # numbered, the larger one first
        [{"gender": "Women", "product_type": "Dresses", "colour": "Red"}] * 30,
    ])
    cluster, labels = cluster_labels(xy, _columns(payloads))
    assert len(labels) == 5
    assert sorted(labels.values()) == ["Mixed · Shirts · mostly Black (1)", "Mixed · Shirts · mostly Black (2)",
                                       "Mixed · Shirts · mostly Blue", "Mixed · Shirts · mostly White",
                                       "Women · Dresses · Red"]
    assert labels[int(cluster[110])] == "Mixed · Shirts · mostly Black (1)"  # the 36-product blob


def test_a_map_stored_with_repeated_names_is_told_apart_on_load(edge, tmp_path):
    from core.map.storage import save_map

    edge.upsert(clustered_points())
    m = compute_map(edge, tmp_path, "products")
    m.labels = {c: "Dresses" for c in m.labels}  # as an older version could store them
    save_map(tmp_path, "products", m)
    assert sorted(load_map(tmp_path, "products").labels.values()) == [
        "Dresses · mostly Blue", "Dresses · mostly Green", "Dresses · mostly Red"]


def test_photos_are_drawn_large_and_never_on_top_of_one_another(edge, tmp_path):
    from core.map.figure import THUMB_PX

    edge.upsert(clustered_points())  # three tight groups of 25 look-alikes
    m = compute_map(edge, tmp_path, "products")
    figure = build_figure(m, "cluster", thumbnails={p: b"\xff\xd8fake" for p in m.product_ids})
    images = figure.layout.images
    assert images and figure.layout.height >= 800
    colour_of = dict(zip(m.product_ids, m.attrs["colour"]))
    drawn = {colour_of[m.product_ids[int(np.argmin(np.hypot(*(m.xy - (i.x, i.y)).T)))]] for i in images}
    assert drawn == {"Red", "Blue", "Green"}  # every group shows photos
    plot_px = figure.layout.height - figure.layout.margin.t - figure.layout.margin.b
    y_span = figure.layout.yaxis.range[1] - figure.layout.yaxis.range[0]
    assert images[0].sizey / y_span * plot_px >= THUMB_PX  # pixels on a plot at least this tall
    for a, b in itertools.combinations(images, 2):
        assert abs(a.x - b.x) >= a.sizex or abs(a.y - b.y) >= a.sizey


def test_cluster_names_sit_on_their_points_without_a_box_hiding_them(edge, tmp_path):
    edge.upsert(clustered_points())
    figure = build_figure(compute_map(edge, tmp_path, "products"), "cluster")
    assert len(figure.layout.annotations) == 3
    assert all(a.bgcolor is None and a.font.shadow for a in figure.layout.annotations)


@pytest.mark.parametrize("event, event_chart, kept, kept_chart, expected", [
    (["1", "2"], "A", [], None, (["1", "2"], "A")),          # a new selection
    (["3"], "B", ["1", "2"], "A", (["3"], "B")),             # a new selection on a redrawn chart replaces it
    ([], "A", ["1", "2"], "A", ([], "A")),                   # cleared on the chart it was made on
    ([], "B", ["1", "2"], "A", (["1", "2"], "A")),           # chart redrawn (photos on): Streamlit's reset
    ([], None, ["1", "2"], "A", (["1", "2"], "A")),          # no chart drawn yet this session
])
def test_the_selection_survives_a_redrawn_chart_and_clears_on_its_own(event, event_chart, kept, kept_chart,
                                                                      expected):
    from core.map.figure import carry_selection

    assert carry_selection(event, event_chart, kept, kept_chart) == expected


def test_a_lasso_selects_exactly_the_stored_points_inside_it_drawn_or_not():
    from core.map.figure import inside_polygon
    from core.map.storage import CatalogMap

    rng = np.random.default_rng(3)
    xy = rng.uniform(-10, 10, size=(5000, 2)).astype(np.float32)
    ids = [f"p{i}" for i in range(len(xy))]
    m = CatalogMap("image", ids, xy, np.zeros(len(ids), dtype=int), {}, ["image"] * len(ids), [""] * len(ids),
                   "key", {})
    # a concave "L" shape: x in [0, 6], y in [0, 2], plus x in [0, 2], y in [2, 6]
    xs, ys = [0, 6, 6, 2, 2, 0], [0, 0, 2, 2, 6, 6]
    want = [p for p, (x, y) in zip(ids, xy) if (0 < x < 6 and 0 < y < 2) or (0 < x < 2 and 2 <= y < 6)]
    event = {"selection": {"points": [{"customdata": ["p0"]}], "lasso": [{"x": xs, "y": ys}], "box": []}}
    assert selected_ids(event, m) == want and len(want) > 100  # every point inside, none drawn or not
    box = {"selection": {"points": [], "box": [{"x": [5, -5], "y": [-1, 1]}], "lasso": []}}
    assert selected_ids(box, m) == [p for p, (x, y) in zip(ids, xy) if -5 < x < 5 and -1 < y < 1]
    assert selected_ids(event) == ["p0"]  # without the map: the drawn points the event names
    assert inside_polygon(np.array([[1.0, 1.0], [3.0, 3.0]]), xs, ys).tolist() == [True, False]
