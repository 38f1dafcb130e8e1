"""Audit swatches: Lab back to the same hex, and strips whose pixels are the colours in their shares."""

from __future__ import annotations

import io

from PIL import Image

from core.ingest.colour_stats import hex_to_lab
from core.ingest.colours import COLOUR_HEX
from core.insights.swatches import lab_to_hex, swatch_png


def test_lab_to_hex_inverts_hex_to_lab_for_every_reference_colour():
    assert {name: lab_to_hex(hex_to_lab(h)) for name, h in COLOUR_HEX.items()} == COLOUR_HEX


def test_lab_outside_srgb_is_clipped_not_wrapped():
    assert lab_to_hex((100.0, 0.0, 0.0)) == "#ffffff"
    assert lab_to_hex((0.0, 0.0, 0.0)) == "#000000"
    assert lab_to_hex((50.0, 200.0, 0.0))[1:3] == "ff"  # far beyond red: the red channel saturates


def test_a_swatch_strip_splits_its_width_by_weight():
    image = Image.open(io.BytesIO(swatch_png([("#ff0000", 0.75), ("#0000ff", 0.25)], width=100, height=10)))
    assert image.size == (100, 10)
    assert image.getpixel((10, 5)) == (255, 0, 0) and image.getpixel((74, 5)) == (255, 0, 0)
    assert image.getpixel((76, 5)) == (0, 0, 255) and image.getpixel((98, 5)) == (0, 0, 255)
    assert image.getpixel((0, 0)) == (200, 200, 200)  # the outline, so a white swatch shows on a white page


def test_colour_names_are_found_whatever_their_case_hyphens_or_underscores():
    from core.ingest.colours import UNKNOWN, colour_hex

    assert colour_hex("Off-White") == colour_hex("off_white") == colour_hex(" OFF  WHITE ") == COLOUR_HEX["Off White"]
    assert colour_hex("Navy-Blue") == COLOUR_HEX["Navy Blue"]
    assert colour_hex("Ultraviolet") == UNKNOWN
