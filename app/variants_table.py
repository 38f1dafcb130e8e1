"""The product view's variants table: SKU, options, prices, inventory and photo of each variant, as plain text."""

from __future__ import annotations

import streamlit as st

from app.photo_gallery import photos_of
from app.product_panel import plain_table
from core.common import fields as F

COLUMNS = ["SKU", "Colour", "Size", "Other options", "Price", "Compare-at price", "Inventory", "Photo"]


def money(value) -> str:
    """49.9 -> '49.90'; a value that is not a number is shown as the feed gave it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.2f}"
    return F.display_value(value)


def variant_rows(payload: dict) -> list[list[str]]:
    """One row of plain text per variant, in the payload's order (cells are data: the table escapes them)."""
    photos = photos_of(payload)
    rows = []
    for variant in payload.get(F.VARIANTS) or []:
        if not isinstance(variant, dict):
            continue
        options = "; ".join(f"{F.display_value(k)}: {F.display_value(v)}"
                            for k, v in (variant.get("options") or {}).items() if F.display_value(v) != "")
        image = str(variant.get("image") or "")
        photo = f"Photo {photos.index(image) + 1}" if image in photos else ""
        rows.append([F.display_value(variant.get("sku")), F.display_value(variant.get("colour")),
                     F.display_value(variant.get("size")), options, money(variant.get("price")),
                     money(variant.get("compare_at_price")), F.display_value(variant.get("inventory")), photo])
    return rows


def variants_table(payload: dict) -> None:
    """The variants table, when the product has variants."""
    rows = variant_rows(payload)
    if rows:
        st.subheader(f"Variants ({len(rows)})", anchor=False)
        plain_table(COLUMNS, rows)
