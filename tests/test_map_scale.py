"""The map at catalogue scale (issue 11, part 4): a sampled fit with everyone placed, strata covered, clusters
named from every product, a bounded figure over a density image, exact lassos, and a compact map file."""

import numpy as np
import pytest

import core.map.figure as map_figure
import core.map.neighbours as neighbours
import core.map.products as products
import core.map.projector as projector
import core.map.sampling as sampling
import core.map.storage as storage

real_knn = projector.cosine_knn
from core.common.filters import Filters
from core.map.figure import build_figure, inside_polygon, selected_ids
from core.map.build import compute_map
from core.map.sampling import stratified_sample
from core.map.storage import CatalogMap, load_map, save_map
from tests.helpers.map_points import DIM, TYPES, typed_points  # noqa: F401 (the edge fixture reads DIM here)

@pytest.mark.parametrize("search", ["exact", "probed"])
def test_a_catalogue_over_the_cap_is_fitted_on_a_sample_and_every_product_is_placed(edge, tmp_path, monkeypatch,
                                                                                    search):
    monkeypatch.setattr(sampling, "MAP_SAMPLE", 50)
    if search == "probed":  # 48 fitted products in 4 k-means groups, each placed product searching 2 of them
        monkeypatch.setattr(projector, "EXACT_PLACEMENT", 20)
        monkeypatch.setattr(projector, "PLACEMENT_GROUPS", 4)
        monkeypatch.setattr(neighbours, "PLACEMENT_PROBES", 2)
        monkeypatch.setattr(projector, "cosine_knn", lambda q, b, k, skip_self=False: real_knn(q, b, k, skip_self)
                            if skip_self else pytest.fail("placed by exact search"))  # the fit's own graph is exact
    edge.upsert(typed_points(200))
    fitted, placed = [], []
    real_fit, real_transform = projector.Projector.fit, projector.Projector.transform
    monkeypatch.setattr(projector.Projector, "fit", lambda self, m: fitted.append(len(m)) or real_fit(self, m))
    monkeypatch.setattr(projector.Projector, "transform",
                        lambda self, m: placed.append(len(m)) or real_transform(self, m))
    m = compute_map(edge, tmp_path, "products")
    model = __import__("joblib").load(storage.map_paths(tmp_path, "products", "image")[1])
    assert (model.groups is None) == (search == "exact")
    sample = stratified_sample([TYPES[i % 4] for i in range(200)], 50)
    assert fitted == [len(sample)] == [m.fitted] and len(sample) == 48  # 12 of each type
    assert sum(placed) == 200 - 48 and max(placed) <= products.VECTOR_CHUNK
    assert sorted(m.product_ids) == sorted(f"p{i}" for i in range(200)) and m.xy.shape == (200, 2)
    assert np.isfinite(m.xy).all() and m.method == "umap" and m.not_placed == []
    # Placed products land with their own type: nearer their type's centre than any other type's.
    types = np.array(m.attrs["product_type"])
    centres = {t: m.xy[types == t].mean(axis=0) for t in TYPES}
    nearest = [min(TYPES, key=lambda t: np.linalg.norm(xy - centres[t])) for xy in m.xy]
    assert nearest == list(types)
    again = compute_map(edge, tmp_path / "again", "products")
    assert np.allclose(again.xy, m.xy)  # the sample is drawn with a fixed seed


def test_the_stratified_sample_covers_every_stratum_in_proportion():
    strata = ["big"] * 1000 + ["mid"] * 100 + ["small"] * 5 + ["one"]
    sample = stratified_sample(strata, 100)
    taken = {s: sum(1 for i in sample if strata[i] == s) for s in ("big", "mid", "small", "one")}
    # 20 of each (all of a smaller one), then the 54 left shared by size: 49 and 4
    assert taken == {"big": 69, "mid": 24, "small": 5, "one": 1}
    assert np.array_equal(sample, np.unique(sample)) and np.array_equal(sample, stratified_sample(strata, 100))
    assert np.array_equal(stratified_sample(strata[:80], 100), np.arange(80))  # small catalogue: everyone


def test_cluster_names_count_every_product_not_only_the_positions_clustered(monkeypatch):
    from core.map.clusters import cluster_labels
    from core.map.sampling import cluster_sample

    monkeypatch.setattr(sampling, "MAP_SAMPLE", 90)
    grid = np.stack(np.meshgrid(np.arange(15), np.arange(20)), axis=-1).reshape(-1, 2) * 0.1
    xy = np.concatenate([grid + (100 * b, 0) for b in range(3)]).astype(np.float32)  # three blobs of 300
    drawn = set(cluster_sample(len(xy)).tolist())
    assert len(drawn) == 90
    # The clustered positions are all Blue; the other 810 products, five in six of each blob, are Red.
    attrs = {"colour": ["Blue" if i in drawn else "Red" for i in range(len(xy))], "gender": ["Women"] * len(xy),
             "product_type": ["Dresses"] * len(xy)}
    cluster, labels = cluster_labels(xy, attrs)
    blob = np.repeat(np.arange(3), 300)
    assert [sorted(set(cluster[blob == b].tolist())) for b in range(3)] == [[c] for c in sorted(labels)]
    assert sorted(labels.values()) == ["Women · Dresses · Red (1)", "Women · Dresses · Red (2)",
                                       "Women · Dresses · Red (3)"]


def synthetic_map(n: int, seed: int = 5) -> CatalogMap:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-10, 10, size=(n, 2)).astype(np.float32)
    ids = [f"p{i}" for i in range(n)]
    attrs = {"title": [f"T{i}" for i in range(n)], "gender": ["Women", "Men"] * (n // 2),
             "category": ["Apparel"] * n, "sub_category": ["Dress"] * n, "product_type": ["Dresses"] * n,
             "colour": ["Red", "Blue", "Green", "Black"] * (n // 4), "usage": ["Casual"] * n, "image_path": [""] * n,
             "status": ["active"] * n, "photo_colour": [""] * n}
    return CatalogMap("image", ids, xy, (np.arange(n) % 3).astype(np.int32), {0: "A", 1: "B", 2: "C"},
                      ["image"] * n, [""] * n, "key", {}, attrs=attrs)


def drawn_ids(figure, name=None) -> list[str]:
    return [row[0] for t in figure.data if name is None or t.name == name for row in t.customdata]


def test_a_large_map_ships_a_bounded_sample_over_a_density_image_of_everyone(monkeypatch):
    monkeypatch.setattr(map_figure, "MAX_POINTS", 50)
    m = synthetic_map(200)
    figure = build_figure(m, "colour")
    assert len(drawn_ids(figure)) == 50 and len(set(drawn_ids(figure))) == 50
    [density] = figure.layout.images
    assert density.source.startswith("data:image/png;base64,") and density.layer == "below"
    assert density.x <= m.xy[:, 0].min() and density.x + density.sizex >= m.xy[:, 0].max()
    assert density.y >= m.xy[:, 1].max() and density.y - density.sizey <= m.xy[:, 1].min()
    # the legend counts every product, not the drawn ones
    assert sorted(t.name for t in figure.data) == ["Black (50)", "Blue (50)", "Green (50)", "Red (50)"]
    assert drawn_ids(build_figure(m, "colour")) == drawn_ids(figure)  # the same points every rerun


def test_every_filtered_and_searched_product_is_drawn_within_the_bound(monkeypatch):
    monkeypatch.setattr(map_figure, "MAX_POINTS", 50)
    m = synthetic_map(200)
    nobody = Filters.of({"colour": ["Red"], "gender": ["Men"]})  # Red is every 4th product, all of them Women
    searched = ["p1", "p2", "p199", "p0"]
    figure = build_figure(m, "colour", Filters.of({"colour": ["Red"]}, ranges={}), highlight=searched)
    passing = [f"p{i}" for i in range(0, 200, 4)]
    ringed = drawn_ids(figure, "current search")
    assert ringed == ["p0", "p1", "p2", "p199"]  # map order
    dots = [i for t in figure.data if t.name != "current search" for i in drawn_ids(figure, t.name)]
    assert len(dots) + len(ringed) <= 50
    assert set(searched) <= set(dots)
    assert drawn_ids(figure, "Red (50)") == [p for p in passing if p in set(dots)]
    # 12 passing products fit with the search results: every one of them is drawn, the rest grey
    few = Filters.of({"colour": ["Red"]}, ranges={}).plus(exclude_ids=passing[12:])
    figure = build_figure(m, "colour", few, highlight=searched)
    assert drawn_ids(figure, "Red (12)") == passing[:12]
    assert len(drawn_ids(figure)) <= 50 and "filtered out" in {t.name for t in figure.data}
    assert {t.name for t in build_figure(m, "colour", nobody).data} == {"filtered out"}  # none pass


def test_a_small_map_draws_every_point_and_no_density_image():
    m = synthetic_map(200)
    figure = build_figure(m, "cluster")
    assert sorted(drawn_ids(figure)) == sorted(m.product_ids) and not figure.layout.images


def reference_inside(xy, xs, ys) -> np.ndarray:
    """The even-odd rule over every point and every edge at once: slow, plain, the reference."""
    px, py = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    x, y = xy[:, 0:1].astype(float), xy[:, 1:2].astype(float)
    x1, y1, x2, y2 = px, py, np.roll(px, -1), np.roll(py, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return ((crosses & (x < at)).sum(axis=1) % 2) == 1


@pytest.mark.parametrize("seed", range(6))
def test_a_lasso_selects_exactly_the_points_inside_any_polygon(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-10, 10, size=(20_000, 2)).astype(np.float32)
    xy[:200] = np.round(xy[:200])  # points on vertices and edges of the integer polygons below
    vertices = rng.integers(3, 60)
    xs, ys = rng.integers(-9, 10, vertices).astype(float), rng.integers(-9, 10, vertices).astype(float)
    if seed % 2:  # a lasso: many short edges, self-crossing
        angle = np.sort(rng.uniform(0, 2 * np.pi, 300))
        radius = rng.uniform(2, 9, 300)
        xs, ys = radius * np.cos(angle), radius * np.sin(angle)
    want = reference_inside(xy, xs, ys)
    assert np.array_equal(inside_polygon(xy, xs, ys), want) and want.sum() > 0
    m = synthetic_map(2)
    m.xy, m.product_ids = xy, [f"p{i}" for i in range(len(xy))]
    event = {"selection": {"points": [], "lasso": [{"x": list(xs), "y": list(ys)}], "box": []}}
    assert selected_ids(event, m) == [m.product_ids[i] for i in np.flatnonzero(want)]


def test_the_map_file_keeps_every_value_exactly(tmp_path):
    m = synthetic_map(400)
    m.product_ids[7] = "id\x00with nul"
    m.attrs["title"][3] = "<b>Über</b> 👗 \t tab"
    m.attrs["title"][4] = ""
    m.attrs["status"][5], m.attrs["photo_colour"][6] = "draft", "#5a2d82"
    m.placed_from, m.params = ["image", "text"] * 200, storage.params_key("image")
    save_map(tmp_path, "products", m)
    back = load_map(tmp_path, "products")
    assert back.product_ids == m.product_ids and back.attrs == m.attrs and back.placed_from == m.placed_from
    assert np.array_equal(back.xy, m.xy) and np.array_equal(back.cluster, m.cluster)
    with np.load(storage.map_paths(tmp_path, "products", "image")[0]) as data:
        assert "attr_colour.codes" in data and "attr_title.text" in data and "ids.array" in data


def test_a_map_saved_by_the_previous_format_still_loads(tmp_path):
    import io
    import json

    from core.common.files import atomic_write
    from core.map.products import ATTR_FIELDS
    from core.map.storage import map_paths

    m = synthetic_map(8)
    meta = {"labels": {"0": "A", "1": "B", "2": "C"}, "index_key": "key", "params": storage.params_key("image"),
            "method": "umap", "not_placed": [], "created": 1.0, "transformed": 0}
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(m.product_ids, dtype=str), xy=m.xy, cluster=m.cluster,
             placed_from=np.array(m.placed_from, dtype=str), fingerprints=np.array(m.fingerprints, dtype=str),
             meta=np.array(json.dumps(meta)), **{f"attr_{k}": np.array(m.attrs[k], dtype=str) for k in ATTR_FIELDS})
    atomic_write(map_paths(tmp_path, "products", "image")[0], buf.getvalue())
    back = load_map(tmp_path, "products")
    assert back.product_ids == m.product_ids and back.attrs == m.attrs and back.fitted == 8
    assert back.labels == {0: "A", 1: "B", 2: "C"} and np.array_equal(back.xy, m.xy)


def test_placing_many_products_searches_a_few_groups_and_finds_the_exact_neighbours():
    from core.map.neighbours import cosine_knn, kmeans_groups, probed_knn

    rng = np.random.default_rng(8)
    centres = rng.normal(size=(40, 24))
    train = (centres[rng.integers(0, 40, 6000)] + rng.normal(0, 0.3, (6000, 24))).astype(np.float32)
    query = (centres[rng.integers(0, 40, 500)] + rng.normal(0, 0.3, (500, 24))).astype(np.float32)
    groups = kmeans_groups(train, 64, 42)
    assert len(groups[1]) == 64 and sorted(np.concatenate(groups[1]).tolist()) == list(range(6000))
    found, dist = probed_knn(query, train, groups, 15)
    exact, exact_dist = cosine_knn(query, train, 15)
    recall = np.mean([len(set(a) & set(e)) / 15 for a, e in zip(found.tolist(), exact.tolist())])
    assert found.shape == (500, 15) and recall >= 0.98
    assert np.all(np.diff(dist, axis=1) >= 0)  # nearest first
    assert np.allclose(dist[:, 0], exact_dist[:, 0], atol=1e-5)  # the nearest one is never missed here


def test_products_without_a_photo_are_placed_from_their_text_in_a_sampled_map_too(edge, tmp_path, monkeypatch):
    monkeypatch.setattr(sampling, "MAP_SAMPLE", 50)
    points = typed_points(200)
    for i, p in enumerate(points):
        p.vectors["text"] = p.vectors["image"]
        if i % 2:
            del p.vectors["image"]
    edge.upsert(points)
    m = compute_map(edge, tmp_path, "products")
    source = dict(zip(m.product_ids, m.placed_from))
    assert source == {f"p{i}": "text" if i % 2 else "image" for i in range(200)}
    assert m.fitted == 48 and m.not_placed == [] and np.isfinite(m.xy).all()
