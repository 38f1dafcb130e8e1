"""Colour names to real colours: the CSS/X11 named colours and the fashion trade's names, whatever their spelling."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from PIL import ImageColor

from core.ingest.colour_space import hex_to_lab, lab_to_hex

# Colour values of the public fashion catalogue and the bundled sample, as merchandisers see them. These win over
# every other table below (Navy Blue stays #14215a, not CSS navy), so maps and audits made before keep their colours.
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

# The fashion trade's common names beyond those: what a Shopify or Merchant Center catalogue writes in its Color
# option. Where a CSS name means something else on a label (CSS plum is a pale lilac, CSS ivory almost white, CSS
# navy a pure #000080), the garment's colour wins.
FASHION_HEX: dict[str, str] = {
    "Navy": "#14215a", "Dark Navy": "#0d1640", "Midnight": "#191970", "Ink": "#252a34", "Sky Blue": "#87ceeb",
    "Baby Blue": "#89cff0", "Pale Blue": "#afcbe3", "Cobalt": "#0047ab", "Cobalt Blue": "#0047ab",
    "Denim": "#1560bd", "Light Denim": "#7ea6d2", "Dark Denim": "#2b3f63", "Petrol": "#005f6a",
    "Petrol Blue": "#005f6a", "Electric Blue": "#2c75ff", "Ice Blue": "#d6ecf3", "Duck Egg": "#c5dcd3",
    "Forest Green": "#228b22", "Bottle Green": "#006a4e", "Emerald": "#50c878", "Emerald Green": "#50c878",
    "Army Green": "#4b5320", "Khaki Green": "#8a865d", "Olive Green": "#6b7420", "Sage": "#9caf88",
    "Sage Green": "#9caf88", "Mint": "#aaf0d1", "Mint Green": "#aaf0d1", "Neon Green": "#39ff14",
    "Burgundy Red": "#800020", "Wine": "#722f37", "Oxblood": "#4a0000", "Cherry": "#a4161a", "Scarlet": "#ff2400",
    "Raspberry": "#c72c48", "Berry": "#8e3a59", "Brick": "#a4432d", "Brick Red": "#a4432d",
    "Terracotta": "#e2725b", "Coral": "#ff7f50", "Salmon Pink": "#ff91a4", "Blush": "#f4c2c2",
    "Blush Pink": "#f4c2c2", "Baby Pink": "#f4c2c2", "Dusty Pink": "#d4a5a5", "Dusty Rose": "#c9a0a0",
    "Neon Pink": "#ff6ec7", "Rose Gold": "#b76e79", "Plum": "#5e2750", "Aubergine": "#3d0c3f",
    "Lilac": "#c8a2c8", "Camel": "#c19a6b", "Sand": "#c2b280", "Stone": "#b8ad9c", "Ecru": "#e6dcc4",
    "Oatmeal": "#d8cbb0", "Natural": "#e8dcc2", "Champagne": "#f7e7ce", "Ivory": "#f3efe0", "Butter": "#f3e5ab",
    "Cognac": "#9a463d", "Caramel": "#af6e4d", "Mocha": "#6f4e37", "Espresso": "#4b3621", "Chocolate": "#5c3a21",
    "Chocolate Brown": "#5c3a21", "Dark Brown": "#4a2c17", "Light Brown": "#b5835a", "Honey": "#eba937",
    "Ochre": "#cc7722", "Mustard Yellow": "#e1ad01", "Lemon": "#fff44f", "Neon Yellow": "#e6ff00",
    "Burnt Orange": "#cc5500", "Tangerine": "#f28500", "Apricot": "#fbceb1", "Charcoal Grey": "#36454f",
    "Anthracite": "#383e42", "Graphite": "#383838", "Gunmetal": "#2a3439", "Pewter": "#8e9294",
    "Heather Grey": "#b6b0a9", "Light Grey": "#c8c8c8", "Dark Grey": "#555555", "Ash": "#b2beb5",
    "Jet Black": "#0a0a0a", "Optic White": "#fafafa", "Pure White": "#fafafa", "Winter White": "#f5f1e6",
    "Cream White": "#f3e9c6", "Off-Black": "#2a2a2a",
    # "Multi" and its spellings: known names with no single hue (core.ingest.colour_stats leaves them out of the audit)
    "Multicolour": "#9b59b6", "Multicolor": "#9b59b6", "Multicoloured": "#9b59b6", "Multicolored": "#9b59b6",
    "Multi Colour": "#9b59b6", "Multi Color": "#9b59b6", "Mixed": "#9b59b6", "Assorted": "#9b59b6",
}
MULTI_NAMES = frozenset({"Multi", "Multicolour", "Multicolor", "Multicoloured", "Multicolored", "Multi Colour",
                         "Multi Color", "Mixed", "Assorted"})

# The CSS Color Module Level 4 named colours (the X11 set; grey and gray both), from Pillow's copy of the W3C table
# (a maintained dependency the app already decodes photos with), as lower-case name -> "#rrggbb". Pillow caches a
# name it has resolved (ImageColor.getrgb("white")) as an (r, g, b) tuple in that same table, so both forms are read.
CSS_HEX: dict[str, str] = {
    name: "#{:02x}{:02x}{:02x}".format(*value[:3]) if isinstance(value, tuple) else str(value).lower()
    for name, value in ImageColor.colormap.items()}
UNKNOWN = "#b0b0b0"
_NOT_LETTERS = re.compile(r"[^a-z0-9]+")
# How a catalogue writes several colours in one cell: "Black/White", "Red & Blue", "Navy, Sky Blue" (a list value
# shown as text is joined with ", "). A slash splits only between words, so "1/2" style text is not cut apart at
# every slash it holds ("https://..."). No spaces around the separators: split_colours strips each name, and a
# leading \s* would rescan a long run of spaces from every position in it (quadratic on hostile cells).
_SEVERAL = re.compile(r"[,|&+;]|\band\b|(?<=[^\W\d_])\s*/\s*(?=[^\W\d_])", re.IGNORECASE)


def colour_key(name) -> str:
    """The spelling-free key of a colour name: lower case, accents, spaces, hyphens, underscores and other punctuation
    dropped, and gray read as grey ("Sky-Blue", "sky blue", "SkyBlue" and "SKY_BLUE" are all "skyblue")."""
    text = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode("ascii")
    return _NOT_LETTERS.sub("", text.lower()).replace("gray", "grey")


def _table() -> dict[str, str]:
    """Every known key to its hex; later tables win, so the catalogue's own 46 colours win over all."""
    table: dict[str, str] = {}
    for source in (CSS_HEX, FASHION_HEX, COLOUR_HEX):
        table.update({colour_key(name): hex_colour for name, hex_colour in source.items()})
    return table


_BY_KEY = _table()
_MULTI_KEYS = frozenset(colour_key(name) for name in MULTI_NAMES)


# A shade word before a known name ("Light Mustard", "Dusty Navy") or a texture after it ("Navy Marl"): the name's
# reference moved in CIELAB, by (lightness added, chroma multiplied). Only tried when the whole name is not known
# itself, so "Dark Orange" and "Light Grey" keep their own table entries.
SHADE_PREFIXES: dict[str, tuple[float, float]] = {
    "light": (18, 0.85), "pale": (24, 0.6), "soft": (10, 0.75), "pastel": (20, 0.6), "washed": (14, 0.6),
    "dark": (-18, 1.0), "deep": (-12, 1.1), "bright": (4, 1.25), "neon": (6, 1.4), "vivid": (2, 1.3),
    "dusty": (-2, 0.55), "muted": (0, 0.6), "faded": (12, 0.55), "rich": (-8, 1.15), "mid": (0, 1.0),
    "medium": (0, 1.0),
}
TEXTURE_SUFFIXES: dict[str, tuple[float, float]] = {"marl": (8, 0.7), "melange": (8, 0.7), "heather": (10, 0.6),
                                                    "mix": (0, 0.9), "wash": (10, 0.7)}


def lookup_hex(name) -> str | None:
    """'#rrggbb' for a colour name we know (any spelling, a shade word or texture included), or None."""
    key = colour_key(name)
    return (_BY_KEY.get(key) or _shaded(key)) if key else None


@lru_cache(maxsize=4096)
def _shaded(key: str) -> str | None:
    """A known name's reference moved by a shade word before it or a texture word after it, or None."""
    for words, prefix in ((SHADE_PREFIXES, True), (TEXTURE_SUFFIXES, False)):
        for word, (lighter, chroma) in words.items():
            base = key[len(word):] if prefix and key.startswith(word) else \
                key[:-len(word)] if not prefix and key.endswith(word) else ""
            if base in _BY_KEY and base not in _MULTI_KEYS:
                return _moved(_BY_KEY[base], lighter, chroma)
    return None


def _moved(hex_colour: str, lighter: float, chroma: float) -> str:
    lightness, a, b = hex_to_lab(hex_colour)
    return lab_to_hex((min(100.0, max(0.0, lightness + lighter)), a * chroma, b * chroma))


def known_colour(name) -> bool:
    """Whether the name has a reference colour (Multi and its spellings are known, though they have no single hue)."""
    return lookup_hex(name) is not None


def is_multi(name) -> bool:
    """Whether the name says "several colours" (Multi, Multicolour, Assorted...) rather than naming one."""
    return colour_key(name) in _MULTI_KEYS


def colour_rgb(name) -> tuple[int, int, int] | None:
    """(r, g, b) 0-255 of a colour name, or None for a name we do not know."""
    hex_colour = lookup_hex(name)
    return None if hex_colour is None else tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def colour_lab(name) -> tuple[float, float, float] | None:
    """CIELAB (D65) of a colour name's reference, or None for a name we do not know or one with no single hue
    (Multi): only a name with a Lab can be compared with a photo's pixels."""
    hex_colour = lookup_hex(name)
    if hex_colour is None or is_multi(name):
        return None
    return hex_to_lab(hex_colour)


def split_colours(value) -> list[str]:
    """The colour names in a colour value: a list's elements, a cell's names split at , / | & + ; and "and"."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [name.strip() for item in items if item is not None for name in _SEVERAL.split(str(item)) if name.strip()]


def several_colours(value) -> bool:
    """Whether a colour value names more than one colour, or says it has several (Multi, Assorted...)."""
    names = split_colours(value)
    return len(names) > 1 or (len(names) == 1 and is_multi(names[0]))


def colour_hex(name) -> str:
    """Hex for a colour name (tolerant of case, spacing, hyphens and underscores: "off-white" is Off White); grey
    for names we do not know."""
    return lookup_hex(name) or UNKNOWN
