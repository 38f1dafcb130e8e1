"""Colour swatches for the audit: CIELAB back to sRGB hex, and small PNG strips drawn from colours, never from text."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from core.ingest.colour_space import lab_to_hex  # noqa: F401  (re-exported: the audit panel draws with it)

OUTLINE = (200, 200, 200)


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
