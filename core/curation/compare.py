"""Comparing products side by side: the compare list's ids from a link, and the attribute table (no Streamlit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.common import fields as F
from core.search.query import Result

MAX_COMPARE = 4  # four photos still fit side by side on a laptop screen; a fifth column would squeeze them
MAX_ID_CHARS = 200
MISSING = "—"  # a product without the attribute: shown, so an empty cell is never mistaken for a blank value
# The rows a merchandiser reads first; the rest follow in Result.attributes() order.
FIRST_ROWS = (F.BRAND, F.COLOUR)
# Folded into the Price row (price with its currency), so not repeated as rows of their own.
IN_PRICE_ROW = (F.PRICE, F.CURRENCY)


def compare_ids(values: Iterable[str]) -> tuple[list[str], int]:
    """(product ids to compare, how many more the link named): non-empty, first occurrence kept, at most four."""
    ids = list(dict.fromkeys(str(v)[:MAX_ID_CHARS] for v in values if str(v).strip()))
    return ids[:MAX_COMPARE], max(0, len(ids) - MAX_COMPARE)


def toggled(ids: Sequence[str], product_id: str) -> tuple[list[str], bool]:
    """The compare list with product_id added or removed, and whether that was done (False: the list was full)."""
    if product_id in ids:
        return [p for p in ids if p != product_id], True
    if len(ids) >= MAX_COMPARE:
        return list(ids), False
    return [*ids, product_id], True


ACRONYMS = {"sku": "SKU", "id": "ID", "url": "URL", "mpn": "MPN", "gtin": "GTIN"}  # shown as merchandisers write them


def field_label(key: str) -> str:
    """'sub_category' -> 'Sub category', 'sku' -> 'SKU', 'variant_sku' -> 'Variant SKU' (payload keys are snake_case)."""
    words = key.replace("_", " ").split()
    if not words:
        return key
    label = " ".join(ACRONYMS.get(w.lower(), w.lower()) for w in words)
    return label[0].upper() + label[1:]


def compare_rows(results: Sequence[Result]) -> list[tuple[str, list[str]]]:
    """The attribute table: (row label, one plain-text value per product), products in the given order.

    Rows: title, price (with its currency), brand, colour, then the union of every other attribute the
    products carry, ordered as Result.attributes() orders one product's (canonical roles first, then the
    catalogue's own columns alphabetically). A product lacking an attribute shows MISSING.
    """
    attributes = [dict(r.attributes()) for r in results]
    present = {k for attrs in attributes for k in attrs} - set(IN_PRICE_ROW)
    # The order Result.attributes() gives one product, over the union: canonical roles, then the catalogue's own.
    keys = [k for k in FIRST_ROWS if k in present]
    keys += [k for k in F.ROLES if k in present and k not in keys] + sorted(present - set(F.ROLES))
    rows = [("Title", [r.title or MISSING for r in results]),
            ("Price", [r.price or MISSING for r in results])]
    rows += [(field_label(k), [attrs.get(k) or MISSING for attrs in attributes]) for k in keys]
    return rows


def differing(rows: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Only the rows whose values are not all the same (what tells the products apart)."""
    return [(label, values) for label, values in rows if len(set(values)) > 1]
