"""Google Merchant Center feeds: the generic columns (id, title, image_link ...), read with Google's own cell rules.

In a Google feed, variants of one item_group_id that carry their own image_link (colourways) stay separate
products: their photos differ, so for a search by look they are different products; item_group_id is kept as a
keyword to group them again.
"""

from __future__ import annotations

from typing import Iterator

import core.ingest.formats.generic as generic
from core.common.fields import COLOUR, PRODUCT_TYPE
from core.ingest.formats.layout import Format, Layout, Record, Rows, Tally, role_values
from core.ingest.values import category_levels, split_list

GOOGLE_ONLY = {"imagelink", "additionalimagelink", "googleproductcategory", "itemgroupid", "agegroup", "gtin", "mpn"}


def matches(keys: set[str]) -> bool:
    return {"id", "title"} <= keys and bool(keys & GOOGLE_ONLY)


def plan(layout: Layout, by_key: dict[str, int]) -> None:
    """The generic plan, with additional_image_link read and left out (a product is indexed by one photo)."""
    if "additionalimagelink" in by_key:
        layout.used.add(by_key["additionalimagelink"])
        layout.notes.append("additional_image_link is not kept: a product is indexed by one photo, its image_link")
    generic.plan(layout, by_key)


def cell_values(role: str, raw: str, header: str) -> tuple[dict, dict]:
    """role_values, except that a multi-colour product's colours are separated with '/', and a product type
    'Apparel > Women > Dresses' is a path of category levels."""
    if role == COLOUR:
        colours = split_list(raw, "/")
        return ({role: colours} if colours else {}), {}
    if role == PRODUCT_TYPE and ">" in raw:
        return {}, category_levels(raw)
    return role_values(role, raw, header)


def read(layout: Layout, rows: Rows, tally: Tally) -> Iterator[Record]:
    return generic.read(layout, rows, tally, cell_values)


GOOGLE = Format("google", matches=matches, plan=plan, read=read)
