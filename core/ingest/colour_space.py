"""CIELAB under D65 and back: the colour space every colour comparison (names, photos, swatches) is made in."""

from __future__ import annotations

import numpy as np

# sRGB (linear) to CIE XYZ under D65, and D65's white point: IEC 61966-2-1.
RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB values 0-255 (any shape ending in 3) to CIELAB under D65, with sRGB's piecewise companding undone."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ RGB_TO_XYZ.T / WHITE_D65
    delta = 6 / 29
    f = np.where(xyz > delta ** 3, np.cbrt(xyz), xyz / (3 * delta ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def hex_to_lab(hex_colour: str) -> tuple[float, float, float]:
    """'#c81e28' (or 'c81e28') as (L, a, b)."""
    text = hex_colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {hex_colour!r}")
    return tuple(float(v) for v in srgb_to_lab([int(text[i:i + 2], 16) for i in (0, 2, 4)]))


def delta_e(lab1, lab2) -> float:
    """CIE76 colour difference: the Euclidean distance in CIELAB (about 2.3 is just noticeable)."""
    return float(np.linalg.norm(np.asarray(lab1, dtype=np.float64)[:3] - np.asarray(lab2, dtype=np.float64)[:3]))


def lab_to_hex(lab) -> str:
    """(L, a, b) under D65 as '#rrggbb', clipped to sRGB's gamut (the inverse of srgb_to_lab)."""
    lightness, a, b = (float(v) for v in list(lab)[:3])
    fy = (lightness + 16) / 116
    f = np.array([fy + a / 500, fy, fy - b / 200])
    delta = 6 / 29
    xyz = np.where(f > delta, f ** 3, 3 * delta ** 2 * (f - 4 / 29)) * WHITE_D65
    linear = np.clip(XYZ_TO_RGB @ xyz, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return "#" + "".join(f"{round(float(v) * 255):02x}" for v in srgb)
