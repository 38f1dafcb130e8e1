"""Real colours for catalogue colour names, so a map coloured by colour shows Navy Blue as navy."""

from __future__ import annotations

# Colour values of the public fashion catalogue and the bundled sample, as merchandisers see them.
COLOUR_HEX: dict[str, str] = {
    "Beige": "#d9c3a0", "Black": "#151515", "Blue": "#2f6fd6", "Bronze": "#a0692e", "Brown": "#7a4a24",
    "Burgundy": "#800020", "Charcoal": "#36454f", "Coffee Brown": "#4b3621", "Copper": "#b87333",
    "Cream": "#f3e9c6", "Fluorescent Green": "#39ff14", "Gold": "#d4af37", "Green": "#2e8b3d", "Grey": "#8a8a8f",
    "Grey Melange": "#a9a9ad", "Khaki": "#bdb07a", "Lavender": "#b57edc", "Lime Green": "#7ccd32",
    "Magenta": "#c2187c", "Maroon": "#6e1423", "Mauve": "#b784a7", "Metallic": "#aaa9ad", "Multi": "#9b59b6",
    "Mushroom Brown": "#9c8575", "Mustard": "#e1ad01", "Navy Blue": "#14215a", "Nude": "#e3bc9a",
    "Off White": "#f4f1e8", "Olive": "#6b7420", "Orange": "#f0781e", "Peach": "#ffcba4", "Pink": "#f082aa",
    "Purple": "#6e3296", "Red": "#c81e28", "Rose": "#e8a0a8", "Rust": "#b7410e", "Sea Green": "#2e8b57",
    "Silver": "#c0c0c8", "Skin": "#f1c27d", "Steel": "#71797e", "Tan": "#d2b48c", "Taupe": "#8b7d6b",
    "Teal": "#008080", "Turquoise Blue": "#30c5d2", "White": "#f7f7f7", "Yellow": "#f0c828",
}
UNKNOWN = "#b0b0b0"


def colour_hex(name: str) -> str:
    """Hex for a colour name (tolerant of case, spacing, hyphens and underscores: "off-white" is Off White); grey
    for names we do not know."""
    key = " ".join(str(name or "").replace("-", " ").replace("_", " ").split()).title()
    return COLOUR_HEX.get(key, UNKNOWN)
