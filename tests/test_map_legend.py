"""The map with real catalogues: real shades, stars for several colours, a bounded legend, a fixed plot size, and
drafts left out (or greyed where they are)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.common.filters import Filters
from core.ingest.colour_stats import hex_to_lab
from core.ingest.colours import UNKNOWN, lookup_hex
from core.map.figure import (COLOUR_BY, HIDDEN_COLOUR, MAP_HEIGHT, MARGIN, MULTI_SYMBOL, OTHER_COLOUR, SINGLE_SYMBOL,
                             TOP_VALUES, add_overlay, build_figure, filter_mask)
from core.map.overlay import Overlay
from core.map.products import photo_colour
from core.map.storage import CatalogMap, load_map, map_paths, params_key, save_map


def catalogue_map(colours: list[str], status: list[str] | None = None, photo: list[str] | None = None,
                  product_types: list[str] | None = None) -> CatalogMap:
    n = len(colours)
    attrs = {"title": [f"T{i}" for i in range(n)], "gender": ["Women", "Men"] * (n // 2) + ["Women"] * (n % 2),
             "category": ["Apparel"] * n, "sub_category": ["Dress"] * n,
             "product_type": product_types or ["Dresses"] * n, "colour": list(colours), "usage": ["Casual"] * n,
             "image_path": [""] * n, "status": status or ["active"] * n, "photo_colour": photo or [""] * n}
    xy = np.stack([np.arange(n, dtype=np.float32), (np.arange(n) % 7).astype(np.float32)], axis=1)
    return CatalogMap("image", [f"p{i}" for i in range(n)], xy, (np.arange(n) % 3).astype(np.int32),
                      {0: "A", 1: "B", 2: "C"}, ["image"] * n, [""] * n, "key", {}, method="pca", attrs=attrs)


def legend(figure) -> list[str]:
    return [t.name for t in figure.data if t.showlegend is not False]


def points_of(figure, name_prefix: str) -> dict[str, tuple]:
    """Product id -> (colour, symbol, x, y) over every trace whose legend name starts with the prefix."""
    out = {}
    for t in figure.data:
        if not t.name.startswith(name_prefix) or t.name == "current search":
            continue
        colours = t.marker.color if isinstance(t.marker.color, (list, tuple)) else [t.marker.color] * len(t.x)
        for row, colour, x, y in zip(t.customdata, colours, t.x, t.y):
            out[row[0]] = (colour, t.marker.symbol, float(x), float(y))
    return out


def hundred_colour_strings() -> list[str]:
    """100 distinct colour values: the first 15 held by 20, 19, ... 6 products, the other 85 by one product each."""
    names = [f"Shade {k:03d}" for k in range(100)]
    counts = [20 - k if k < 15 else 1 for k in range(100)]
    return [name for name, count in zip(names, counts) for _ in range(count)]


def test_the_legend_names_the_top_twelve_values_then_other_with_its_product_count():
    colours = hundred_colour_strings()
    figure = build_figure(catalogue_map(colours), "colour")
    expected = [f"Shade {k:03d} ({20 - k})" for k in range(TOP_VALUES)]
    other = len(colours) - sum(20 - k for k in range(TOP_VALUES))  # 3 values of 7..5... then 85 of 1
    assert other == (8 + 7 + 6) + 85
    assert legend(figure) == [*expected, f"other ({other})"]
    assert sum(len(t.x) for t in figure.data) == len(colours)  # every product drawn once


@pytest.mark.parametrize("colour_by", [c for c in COLOUR_BY if c not in ("cluster", "colour")])
def test_the_legend_is_bounded_in_every_colour_by(colour_by):
    values = [f"V{k:02d}" for k in range(30) for _ in range(30 - k)]
    m = catalogue_map(["Red"] * len(values))
    m.attrs[colour_by] = values
    figure = build_figure(m, colour_by)
    names = legend(figure)
    assert len(names) == TOP_VALUES + 1 and names[-1] == f"other ({sum(range(1, 19))})"
    assert names[0] == "V00 (30)"
    other = [t for t in figure.data if t.name.startswith("other")][0]
    assert other.marker.color == OTHER_COLOUR


def test_the_legend_stays_bounded_with_the_overlay_on_and_filters_set():
    m = catalogue_map(hundred_colour_strings())
    figure = build_figure(m, "colour", Filters.of({"gender": ["Women"]}), highlight=["p0", "p1"])
    overlay = Overlay(["t1", "t2"], np.array([[1, 1], [2, 2]], dtype=np.float32),
                      {"title": ["a", "b"], "category": ["x", "y"], "colour": ["Red", "Navy"]})
    add_overlay(figure, overlay, "Rival")
    names = legend(figure)
    women = Counter(c for c, g in zip(m.attrs["colour"], m.attrs["gender"]) if g == "Women")
    ranked = sorted(women, key=lambda v: (-women[v], v))
    assert [n for n in names if n.startswith("Shade")] == [f"{v} ({women[v]})" for v in ranked[:TOP_VALUES]]
    assert sorted(n for n in names if not n.startswith("Shade")) == sorted([
        "filtered out", f"other ({sum(women[v] for v in ranked[TOP_VALUES:])})", "current search", "Theirs: Rival (2)"])
    assert len(names) == TOP_VALUES + 4  # twelve values, other, filtered out, the search, theirs
    assert figure.layout.showlegend is True


def test_each_product_is_drawn_in_its_first_colours_real_shade_and_several_colours_as_a_star():
    colours = ["Navy", "Sky Blue, Red", "sky-blue", "Multi", "Forest Green/White", "Red"]
    figure = build_figure(catalogue_map(colours), "colour")
    drawn = points_of(figure, "")
    assert {p: (c, s) for p, (c, s, _, _) in drawn.items()} == {
        "p0": ("#14215a", SINGLE_SYMBOL), "p1": ("#87ceeb", MULTI_SYMBOL), "p2": ("#87ceeb", SINGLE_SYMBOL),
        "p3": (lookup_hex("Multi"), MULTI_SYMBOL), "p4": ("#228b22", MULTI_SYMBOL), "p5": ("#c81e28", SINGLE_SYMBOL)}
    # "Sky Blue, Red" counts under its first colour: one legend entry per first colour, stars included.
    assert sorted(legend(figure)) == sorted(["Forest Green (1)", "Multi (1)", "Navy (1)", "Red (1)", "Sky Blue (1)",
                                             "sky-blue (1)"])
    stars = [t for t in figure.data if t.marker.symbol == MULTI_SYMBOL]
    assert [t.showlegend for t in stars] == [False] * 3  # a star trace joins its value's legend entry


def test_an_unknown_colour_name_is_drawn_in_its_photos_colour():
    photo = ["", "#5a2d82", ""]
    figure = build_figure(catalogue_map(["Red", "Ultraviolet", "Moonbeam"], photo=photo), "colour")
    drawn = points_of(figure, "")
    assert drawn["p0"][0] == "#c81e28" and drawn["p1"][0] == "#5a2d82" and drawn["p2"][0] == UNKNOWN


def test_the_map_keeps_the_photo_colour_only_for_names_it_does_not_know():
    stats = [[*hex_to_lab("#f7f7f7"), 0.2], [*hex_to_lab("#5a2d82"), 0.7]]
    assert photo_colour({"colour": ["Ultraviolet", "Red"], "colour_stats": stats}) == "#5a2d82"
    assert photo_colour({"colour": "Ultraviolet", "colour_stats": stats}) == "#5a2d82"
    assert photo_colour({"colour": ["Navy", "Ultraviolet"], "colour_stats": stats}) == ""
    assert photo_colour({"colour": "Ultraviolet"}) == "" and photo_colour({"colour_stats": stats}) == "#5a2d82"


def test_the_plot_keeps_its_size_whatever_the_legend_holds():
    small = build_figure(catalogue_map(["Red", "Blue"] * 4), "colour")
    large = build_figure(catalogue_map(hundred_colour_strings()), "colour")
    add_overlay(large, Overlay(["t"], np.zeros((1, 2), dtype=np.float32), {}), "Rival")
    for figure in (small, large):
        layout = figure.layout
        assert layout.height == MAP_HEIGHT
        assert (layout.margin.l, layout.margin.r, layout.margin.t, layout.margin.b) == (
            MARGIN["l"], MARGIN["r"], MARGIN["t"], MARGIN["b"])
        assert layout.margin.autoexpand is False  # a long legend cannot push the margins into the plot
        assert layout.legend.orientation == "v" and layout.legend.x >= 1  # in the right margin, not under the plot
    counts = [20 - i for i in range(TOP_VALUES)]  # hundred_colour_strings: Shade 000 twenty times, then one fewer each
    assert legend(large) == [*(f"Shade {i:03d} ({n})" for i, n in enumerate(counts)),
                             f"other ({len(hundred_colour_strings()) - sum(counts)})", "Theirs: Rival (1)"]


def test_drafts_and_archived_are_left_out_by_default_and_greyed_in_place_when_shown():
    status = ["active", "draft", "archived", "active", "", "draft"]
    m = catalogue_map(["Red", "Red", "Blue", "Blue", "Navy", "Navy"], status=status)
    default = points_of(build_figure(m, "colour"), "")
    assert sorted(default) == ["p0", "p3", "p4"]
    shown = build_figure(m, "colour", show_hidden=True)
    greyed = [t for t in shown.data if t.name.startswith("draft or archived")]
    assert len(greyed) == 1 and greyed[0].name == "draft or archived (3)"
    assert greyed[0].marker.color == HIDDEN_COLOUR and greyed[0].marker.opacity < 1
    placed = points_of(shown, "")
    assert sorted(placed) == [f"p{i}" for i in range(6)]
    for i in range(6):  # never moved: each where the map put it
        assert placed[f"p{i}"][2:] == (float(m.xy[i, 0]), float(m.xy[i, 1]))
    assert sorted(points_of(shown, "draft or archived")) == ["p1", "p2", "p5"]
    # The legend counts only the live products.
    assert sorted(legend(build_figure(m, "colour"))) == ["Blue (1)", "Navy (1)", "Red (1)"]


def test_a_status_filter_decides_instead_of_the_default():
    status = ["active", "draft", "Archived", "active"]
    m = catalogue_map(["Red", "Red", "Blue", "Blue"], status=[s.lower() for s in status])
    asked = Filters.of({"status": ["draft"]})
    keep = filter_mask(m, asked.visible())
    figure = build_figure(m, "colour", asked, keep=keep)
    assert sorted(points_of(figure, "Red")) == ["p1"]  # the draft, drawn as a live product: it was asked for
    assert sorted(points_of(figure, "filtered out")) == ["p0", "p2", "p3"]


def test_a_default_view_keep_mask_leaves_drafts_unselectable():
    m = catalogue_map(["Red"] * 4, status=["active", "draft", "archived", "active"])
    assert filter_mask(m, Filters().visible()).tolist() == [True, False, False, True]
    assert filter_mask(m, Filters().visible(show_hidden=True)).tolist() == [True] * 4


def test_a_map_stored_before_status_and_photo_colour_loads_with_them_empty(tmp_path):
    m = catalogue_map(["Red", "Ultraviolet"], status=["draft", "active"], photo=["", "#5a2d82"])
    m.params = params_key("image")
    save_map(tmp_path, "products", m)
    path = map_paths(tmp_path, "products", "image")[0]
    with np.load(path) as data:  # the same file without the two newer columns
        kept = {k: data[k] for k in data.files if not k.startswith(("attr_status", "attr_photo_colour"))}
    np.savez(path, **kept)
    back = load_map(tmp_path, "products")
    assert back is not None and back.attrs["status"] == ["", ""] and back.attrs["photo_colour"] == ["", ""]
    assert back.attrs["colour"] == ["Red", "Ultraviolet"]


def test_a_shopify_export_on_the_map_real_shades_a_star_for_two_colours_and_no_drafts(settings, tmp_path):
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.ingest.colour_stats import dominant_hex
    from core.map.build import compute_map
    from core.models.embedder import load_embedder
    from tests.helpers.shop_catalogues import shopify_export

    export = shopify_export(tmp_path / "shop")
    # An unknown colour name: the belt's Camel becomes Ultraviolet, which no table knows.
    export.write_text(export.read_text(encoding="utf-8").replace("Camel", "Ultraviolet"), encoding="utf-8")
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        index_catalog(export, export.parent, load_embedder(settings.model, "cpu"), store)
        m = compute_map(store, settings.data_dir, settings.collection)
        stats = {h.payload["product_id"]: h.payload.get("colour_stats") for h in store.scroll()}
    finally:
        store.close()
    assert sorted(m.product_ids) == ["leather-belt", "linen-shorts", "silk-scarf", "sky-red-tee", "wool-coat"]
    drawn = points_of(build_figure(m, "colour", keep=filter_mask(m, Filters().visible())), "")
    belt = dominant_hex(stats["leather-belt"])
    assert belt is not None and belt != UNKNOWN
    assert {p: (c, s) for p, (c, s, _, _) in drawn.items()} == {
        "sky-red-tee": ("#87ceeb", MULTI_SYMBOL), "wool-coat": ("#228b22", SINGLE_SYMBOL),
        "leather-belt": (belt, SINGLE_SYMBOL)}
    shown = points_of(build_figure(m, "colour", show_hidden=True), "draft or archived")
    assert sorted(shown) == ["linen-shorts", "silk-scarf"]


def test_a_long_reference_name_is_cut_in_the_legend_so_the_legend_keeps_its_width():
    figure = build_figure(catalogue_map(["Red"] * 2), "colour")
    add_overlay(figure, Overlay(["t"], np.zeros((1, 2), dtype=np.float32), {}), "Competitor <b>autumn</b> catalogue 2026")
    assert legend(figure)[-1] == "Theirs: Competitor &lt;b&gt;aut… (1)"  # 26 characters, then escaped
