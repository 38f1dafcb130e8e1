"""The map's plot area in a real browser: the same size with two legend entries as with a catalogue of a hundred
colour values and a reference overlaid (it was squeezed from 830 to 396 px by a legend of a hundred entries)."""

from __future__ import annotations

import numpy as np

from core.map.figure import MAP_HEIGHT, MARGIN, add_overlay, build_figure
from core.map.overlay import Overlay
from tests.test_map_legend import catalogue_map, hundred_colour_strings


def _plot_area(browser, figure, path) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    figure.write_html(path, include_plotlyjs=True, full_html=True, config={"responsive": False})
    browser.get(path.as_uri())
    drag = WebDriverWait(browser, 30).until(lambda d: d.find_elements("css selector", ".nsewdrag"))[0]
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return {w: r.width, h: r.height};",
                                  drag)
    entries = len(browser.find_elements("css selector", ".legend .traces"))
    return {**rect, "entries": entries}


def test_the_plot_area_is_the_same_whatever_the_legend_holds(browser, tmp_path):
    small = build_figure(catalogue_map(["Red", "Navy"] * 3), "colour")
    large = build_figure(catalogue_map(hundred_colour_strings()), "colour")
    add_overlay(large, Overlay(["t"], np.zeros((1, 2), dtype=np.float32), {}), "A reference with a long name")
    for figure in (small, large):
        figure.update_layout(width=1200)  # as wide as the page gives it
    few, many = _plot_area(browser, small, tmp_path / "small.html"), _plot_area(browser, large, tmp_path / "large.html")
    assert few["entries"] == 2 and many["entries"] == 12 + 2  # twelve values, other, theirs
    assert (few["w"], few["h"]) == (many["w"], many["h"])
    assert few["h"] == MAP_HEIGHT - MARGIN["t"] - MARGIN["b"] and few["w"] == 1200 - MARGIN["l"] - MARGIN["r"]
