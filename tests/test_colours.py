"""The colour vocabulary: CSS/X11 and fashion names in any spelling, and the photo's own colour for unknown names."""

from __future__ import annotations

import re

import pytest

from core.ingest.colour_stats import colour_for, dominant_hex, hex_to_lab, lab_to_hex, reference_lab
from core.ingest.colours import (COLOUR_HEX, CSS_HEX, UNKNOWN, colour_hex, colour_key, colour_lab, colour_rgb, is_multi,
                                 known_colour, several_colours, split_colours)


@pytest.mark.parametrize("spelling", ["Sky Blue", "Sky-Blue", "sky blue", "SkyBlue", "SKY_BLUE", "  sky   blue "])
def test_a_name_matches_whatever_its_case_spacing_or_hyphens(spelling):
    assert colour_rgb(spelling) == (0x87, 0xCE, 0xEB)
    assert known_colour(spelling)


def test_the_css_table_holds_the_148_w3c_names_as_hex():
    assert len(CSS_HEX) == 148 and all(re.fullmatch(r"#[0-9a-f]{6}", h) for h in CSS_HEX.values())
    assert (CSS_HEX["rebeccapurple"], CSS_HEX["navy"], CSS_HEX["papayawhip"]) == ("#663399", "#000080", "#ffefd5")
    assert CSS_HEX["gray"] == CSS_HEX["grey"] == "#808080"


def test_the_css_table_reads_the_names_pillow_has_already_resolved():
    """Pillow caches a resolved name as a tuple in ImageColor.colormap: a photo drawn with fill="white" before the
    vocabulary is imported must not turn its table into "(255, 255, 255)"."""
    import importlib

    from PIL import ImageColor

    import core.ingest.colours as colours

    ImageColor.getrgb("white"), ImageColor.getrgb("rebeccapurple")
    assert isinstance(ImageColor.colormap["white"], tuple)  # what this test is about: Pillow did cache it
    reloaded = importlib.reload(colours)
    assert (reloaded.CSS_HEX["white"], reloaded.CSS_HEX["rebeccapurple"]) == ("#ffffff", "#663399")
    assert reloaded.CSS_HEX == CSS_HEX


@pytest.mark.parametrize("name,rgb", [
    ("aliceblue", (0xF0, 0xF8, 0xFF)), ("Rebecca Purple", (0x66, 0x33, 0x99)), ("Medium Spring Green", (0, 0xFA, 0x9A)),
    ("dark slate gray", (0x2F, 0x4F, 0x4F)), ("Dark Slate Grey", (0x2F, 0x4F, 0x4F)), ("Cornflower-Blue", (0x64, 0x95, 0xED)),
    ("Crimson", (0xDC, 0x14, 0x3C)), ("Gainsboro", (0xDC, 0xDC, 0xDC)),
])
def test_css_names_have_their_css_colour(name, rgb):
    assert colour_rgb(name) == rgb


@pytest.mark.parametrize("name,hex_colour", [
    ("Navy", "#14215a"), ("navy", "#14215a"), ("Forest Green", "#228b22"), ("Burgundy", "#800020"), ("Camel", "#c19a6b"),
    ("Khaki", "#bdb07a"), ("Taupe", "#8b7d6b"), ("Mustard", "#e1ad01"), ("Olive", "#6b7420"), ("Teal", "#008080"),
    ("Coral", "#ff7f50"), ("Ivory", "#f3efe0"), ("Charcoal", "#36454f"), ("Nude", "#e3bc9a"), ("Rose Gold", "#b76e79"),
    ("Multi", "#9b59b6"), ("off-white", "#f4f1e8"), ("Grey Melange", "#a9a9ad"), ("Gray Melange", "#a9a9ad"),
    ("Plum", "#5e2750"), ("Écru", "#e6dcc4"),
])
def test_fashion_names_have_their_trade_colour(name, hex_colour):
    assert colour_hex(name) == hex_colour


def test_the_catalogue_colours_keep_their_values_over_css():
    # CSS black, blue and olive differ; the 46 colours the sample and the fashion dataset use keep theirs.
    assert len(COLOUR_HEX) == 46
    assert {name: colour_hex(name) for name in COLOUR_HEX} == COLOUR_HEX
    assert colour_hex("Black") == "#151515" and colour_hex("Navy Blue") == "#14215a"


@pytest.mark.parametrize("name", ["Ultraviolet", "", None, "Black/White", "Sky Blu", "12"])
def test_unknown_names_have_no_colour(name):
    assert colour_rgb(name) is None and colour_lab(name) is None and not known_colour(name)
    assert colour_hex(name) == UNKNOWN


def test_lab_of_a_name_is_its_reference_and_multi_has_none():
    assert colour_lab("Forest Green") == pytest.approx(hex_to_lab("#228b22"))
    assert reference_lab("navy") == pytest.approx(hex_to_lab("#14215a"))
    assert known_colour("Multicolour") and is_multi("Multi-Colour") and colour_lab("Multicolour") is None
    assert not is_multi("Navy")


def test_keys_drop_spelling():
    assert colour_key("Sky-Blue") == colour_key("SkyBlue") == colour_key("sky_blue") == "skyblue"
    assert colour_key("Light Gray") == "lightgrey"


def test_an_unknown_name_is_drawn_in_its_photos_dominant_colour():
    stats = [[*hex_to_lab("#5a2d82"), 0.7], [*hex_to_lab("#f7f7f7"), 0.25]]
    assert colour_for("Ultraviolet", stats) == "#5a2d82"
    assert colour_for("Ultraviolet", list(reversed(stats))) == "#5a2d82"  # the heaviest, wherever it is listed
    assert colour_for("Navy", stats) == "#14215a"  # a known name keeps its reference
    assert colour_for("Ultraviolet", None) == colour_for("Ultraviolet", []) == UNKNOWN
    assert dominant_hex([]) is None


def test_lab_to_hex_inverts_every_css_colour():
    assert {name: lab_to_hex(hex_to_lab(h)) for name, h in CSS_HEX.items()} == CSS_HEX


@pytest.mark.parametrize("value,names,several", [
    ("Black/White", ["Black", "White"], True), ("Black / White", ["Black", "White"], True),
    ("Red & Blue", ["Red", "Blue"], True), ("Navy, Sky Blue", ["Navy", "Sky Blue"], True),
    (["Sky Blue", "Red"], ["Sky Blue", "Red"], True), ("Black and White", ["Black", "White"], True),
    ("Multi", ["Multi"], True), ("Multicolour", ["Multicolour"], True), ("Sandy Brown", ["Sandy Brown"], False),
    ("Bland", ["Bland"], False), ("1/2", ["1/2"], False), ("", [], False), (None, [], False),
    ('<a href="https://x.example">Red</a>', ['<a href="https://x.example">Red</a>'], False),
])
def test_a_colour_value_is_split_into_its_names(value, names, several):
    assert split_colours(value) == names
    assert several_colours(value) is several


def test_a_shade_word_or_texture_moves_a_known_names_reference():
    navy, light = colour_lab("Navy"), colour_lab("Light Navy")
    assert light[0] == pytest.approx(navy[0] + 18, abs=1.0)  # lighter, the same hue
    assert light[2] / light[1] == pytest.approx(navy[2] / navy[1], rel=0.1)
    assert known_colour("Light Mustard") and colour_lab("Light Mustard")[0] > colour_lab("Mustard")[0]
    assert colour_lab("Dark Navy") == pytest.approx(hex_to_lab("#0d1640"))  # a table entry wins over the rule
    assert colour_hex("Dark Orange") == "#ff8c00" and colour_hex("Light Grey") == "#c8c8c8"
    dusty = colour_lab("Dusty Navy")
    assert (dusty[1] ** 2 + dusty[2] ** 2) ** 0.5 < (navy[1] ** 2 + navy[2] ** 2) ** 0.5  # greyer
    assert colour_lab("Navy Marl")[0] > navy[0] and known_colour("navy-marl") and known_colour("BRIGHT RED")


@pytest.mark.parametrize("name", ["Lighthouse", "light", "Pale Multi", "Deep Ultraviolet", "Marl"])
def test_a_shade_word_alone_or_on_an_unknown_name_stays_unknown(name):
    assert not known_colour(name) and colour_hex(name) == UNKNOWN
