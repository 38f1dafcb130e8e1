"""Google Merchant Center feeds: the generic columns (id, title, image_link ...), read with Google's own cell rules.

In a Google feed, variants of one item_group_id that carry their own image_link (colourways) stay separate
products: their photos differ, so for a search by look they are different products; item_group_id is kept as a
keyword to group them again.

A product's photos are its image_link, then every additional_image_link (comma-separated, as the spec allows, or
the column repeated). A sale_price makes the sale: the price is the sale_price and the compare-at price is the
price (so a sale_price equal to the price is no sale); sale_price itself is not kept.

Read as a Google feed on request (format google), a file with an id and neither a title nor a photo column is a
supplemental feed: Merchant Center's update file, the id and the attributes it overrides (what `export-fixes
--format google` writes). Detection never picks it, so a catalogue indexed as it is still needs a title or a photo.
"""

from __future__ import annotations

from typing import Iterator

import core.ingest.formats.generic as generic
from core.common.fields import COLOUR, COMPARE_AT_PRICE, IMAGE, PRICE, PRODUCT_TYPE, SALE_PRICE, TITLE
from core.ingest.formats.layout import Format, Layout, Record, Rows, Tally, role_values
from core.ingest.values import category_levels, split_list

GOOGLE_ONLY = {"imagelink", "additionalimagelink", "googleproductcategory", "itemgroupid", "agegroup", "gtin", "mpn"}


def matches(keys: set[str]) -> bool:
    return {"id", "title"} <= keys and bool(keys & GOOGLE_ONLY)


def plan(layout: Layout, by_key: dict[str, int]) -> None:
    """The generic plan (which reads additional_image_link as further photos); a supplemental feed (no title, no
    photo) is read with a note saying so."""
    generic.plan(layout, by_key, title_or_photo=False)
    if TITLE not in layout.roles and IMAGE not in layout.roles and not layout.photo_columns:
        layout.notes.append("a supplemental feed: ids and the attributes they override, no title or photo")


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
    for record in generic.read(layout, rows, tally, cell_values):
        on_sale(record.values)
        yield record


def on_sale(values: dict) -> None:
    """sale_price -> price, and the regular price -> compare_at_price (only when both are there)."""
    sale = values.pop(SALE_PRICE, None)
    if sale is not None and values.get(PRICE) is not None:
        values[COMPARE_AT_PRICE], values[PRICE] = values[PRICE], sale
    elif sale is not None:
        values[PRICE] = sale  # a sale price without a regular price: what the shopper pays


GOOGLE = Format("google", matches=matches, plan=plan, read=read)
