"""Colour swatches for the audit: CIELAB back to sRGB hex, and small PNG strips drawn from colours, never from text."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from core.ingest.colour_stats import RGB_TO_XYZ, WHITE_D65

_XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
OUTLINE = (200, 200, 200)


def lab_to_hex(lab) -> str:
    """(L, a, b) under D65 as '#rrggbb', clipped to sRGB's gamut (the inverse of core.ingest.colour_stats.srgb_to_lab)."""
    lightness, a, b = (float(v) for v in list(lab)[:3])
    fy = (lightness + 16) / 116
    f = np.array([fy + a / 500, fy, fy - b / 200])
    delta = 6 / 29
    xyz = np.where(f > delta, f ** 3, 3 * delta ** 2 * (f - 4 / 29)) * WHITE_D65
    linear = np.clip(_XYZ_TO_RGB @ xyz, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in srgb)


def swatch_png(colours: list[tuple[str, float]], width: int = 120, height: int = 36) -> bytes:
    """A strip of '#rrggbb' colours side by side, each as wide as its share of the weights (one colour: the whole
    strip), with a light outline so white shows on white."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    total = sum(max(0.0, w) for _, w in colours) or 1.0
    left = 0.0
    for i, (hex_colour, weight) in enumerate(colours):
        right = width if i == len(colours) - 1 else left + width * max(0.0, weight) / total
        draw.rectangle([round(left), 0, max(round(left), round(right) - 1), height - 1], fill=hex_colour)
        left = right
    draw.rectangle([0, 0, width - 1, height - 1], outline=OUTLINE)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
