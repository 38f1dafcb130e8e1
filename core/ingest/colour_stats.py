"""Compact colour statistics of a product photo: its foreground's dominant colours in CIELAB, made at index time."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import binary_closing, binary_fill_holes

# The colour space's functions are imported from here too (the audit, benchmarks, tests): kept importable.
from core.ingest.colour_space import delta_e, hex_to_lab, lab_to_hex, srgb_to_lab  # noqa: F401
from core.ingest.colours import UNKNOWN, colour_lab, lookup_hex

THUMB_PX = 64          # longest side the statistics are made on: ~4,000 pixels, about a millisecond
FRAME_PX = 2           # the border the background colour is estimated from
BACKGROUND_DE = 12.0   # farther than this from the background colour is foreground (JPEG noise and soft shadows are
                       # a few units; an off-white product on pure white, ~5, is not told apart: see the fallback)
MIN_FOREGROUND = 0.02  # below this share of the frame the "foreground" is noise: every pixel is used instead
MAX_COLOURS = 3
CLOSE_PX = 2           # gaps up to about twice this (in thumbnail pixels) inside the product are closed
MERGE_DE = 10.0        # k-means adds a centre only for pixels at least this far from every centre it has
MIN_WEIGHT = 0.03      # a cluster under 3% of the foreground (a seam, a logo's speck) is not a dominant colour
ITERATIONS = 10


def reference_lab(label: str) -> tuple[float, float, float] | None:
    """The Lab of a colour label's reference swatch (core.ingest.colours), or None for a name with no known colour or no
    single hue (Multi): such labels take no part in a comparison with pixels."""
    return colour_lab(label)


def dominant_hex(colour_stats) -> str | None:
    """The heaviest of a photo's dominant colours ([L, a, b, weight] rows, as foreground_colours makes them) as
    '#rrggbb', or None when there are none (no photo, or one that could not be read)."""
    rows = [row for row in colour_stats or [] if isinstance(row, (list, tuple)) and len(row) >= 3]
    if not rows:
        return None
    return lab_to_hex(max(rows, key=lambda row: row[3] if len(row) > 3 else 0.0)[:3])


def colour_for(name, colour_stats=None) -> str:
    """The colour to draw a product labelled `name` in: the name's reference when we know it (Multi's own swatch
    too), else the photo's own dominant colour (a name like "Ultraviolet" still shows as what the photo shows), else
    the neutral grey UNKNOWN when there is neither."""
    return lookup_hex(name) or dominant_hex(colour_stats) or UNKNOWN


def foreground_colours(image: Image.Image) -> list[list[float]]:
    """The product's dominant colours as [L, a, b, weight] rows, largest weight first, at most three.

    On a thumbnail (at most THUMB_PX a side): the background is the median colour of a FRAME_PX border, and a
    pixel is foreground when it is more than BACKGROUND_DE from it (transparent pixels are always background).
    Pixels the foreground encloses are foreground too (a white product outlined on white). The foreground is
    eroded by one pixel, so the blend of product and background along its outline is not
    counted as a colour of its own (unless that leaves almost nothing: a thin product keeps its outline). When
    almost nothing is foreground (under MIN_FOREGROUND of the frame: a product filling the whole frame, whose
    border is the product itself, or a blank photo) every pixel (every opaque one) counts. Weights are shares of
    the pixels counted; clusters under MIN_WEIGHT are left out, so the weights may sum to a little under 1.
    """
    thumb = image.copy()
    thumb.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.BOX)
    rgba = np.asarray(thumb.convert("RGBA"), dtype=np.float64)
    lab = srgb_to_lab(rgba[..., :3])
    opaque = rgba[..., 3] >= 128
    if not opaque.any():
        return []
    frame = np.zeros(opaque.shape, dtype=bool)
    frame[:FRAME_PX, :] = frame[-FRAME_PX:, :] = frame[:, :FRAME_PX] = frame[:, -FRAME_PX:] = True
    border = lab[frame & opaque]
    mask = opaque.copy()
    if len(border):
        background = np.median(border, axis=0)
        mask &= np.linalg.norm(lab - background, axis=-1) > BACKGROUND_DE
    if mask.sum() < MIN_FOREGROUND * mask.size:
        mask = opaque
    else:
        # What the product's outline encloses is product too: a white shirt drawn on white, or its white between
        # dark checks, is as close to the background as the background is, but the background reaches the border.
        # Closing first bridges the few pixels between stripes or checks, so a white shirt's white between black
        # stripes is enclosed even where its thin outline fades into the background on the thumbnail.
        # The mask is padded for the closing, which would otherwise eat CLOSE_PX pixels from the frame's edges (a
        # belt photo's 64x4 thumbnail would lose everything); the foreground found before it always stays.
        padded = binary_closing(np.pad(mask, CLOSE_PX), iterations=CLOSE_PX)[CLOSE_PX:-CLOSE_PX, CLOSE_PX:-CLOSE_PX]
        mask = binary_fill_holes(padded | mask) & opaque
        inner = _eroded(mask)
        if inner.sum() >= MIN_FOREGROUND * mask.size:
            mask = inner
    centres, weights = _kmeans(lab[mask])
    rows = [[*(round(float(v), 1) + 0.0 for v in c), round(float(w), 3)]
            for c, w in zip(centres, weights) if w >= MIN_WEIGHT]
    return sorted(rows, key=lambda r: (-r[3], r[0], r[1], r[2]))[:MAX_COLOURS]


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours are all in the mask (outside the image counts as not)."""
    padded = np.pad(mask, 1, constant_values=False)
    return (mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])


def _kmeans(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A tiny deterministic k-means in Lab: centres start at the pixel nearest the mean, then each next one at the
    pixel farthest from those chosen, while it is more than MERGE_DE away (so a one-colour product gets one
    centre, not three); a few Lloyd steps; centres that end up closer than MERGE_DE are merged."""
    nearest_mean = pixels[np.argmin(np.linalg.norm(pixels - pixels.mean(axis=0), axis=1))]
    centres = [nearest_mean]
    distance = np.linalg.norm(pixels - nearest_mean, axis=1)
    while len(centres) < MAX_COLOURS and distance.max() > MERGE_DE:
        far = pixels[np.argmax(distance)]
        centres.append(far)
        distance = np.minimum(distance, np.linalg.norm(pixels - far, axis=1))
    centres = np.array(centres)
    for _ in range(ITERATIONS):
        assigned = np.argmin(np.linalg.norm(pixels[:, None, :] - centres[None], axis=2), axis=1)
        moved = np.array([pixels[assigned == k].mean(axis=0) if (assigned == k).any() else centres[k]
                          for k in range(len(centres))])
        if np.allclose(moved, centres):
            break
        centres = moved
    counts = np.bincount(assigned, minlength=len(centres)).astype(np.float64)
    merged: list[tuple[np.ndarray, float]] = []
    for k in np.argsort(-counts, kind="stable"):
        if counts[k] == 0:
            continue
        for i, (centre, count) in enumerate(merged):
            if np.linalg.norm(centre - centres[k]) < MERGE_DE:
                merged[i] = ((centre * count + centres[k] * counts[k]) / (count + counts[k]), count + counts[k])
                break
        else:
            merged.append((centres[k], counts[k]))
    total = counts.sum()
    return np.array([c for c, _ in merged]), np.array([n / total for _, n in merged])
