"""The Kaggle fashion-images CSV (ProductId, Gender, ... ProductTitle, Image): its fixed columns, then any other
column as in the generic format."""

from __future__ import annotations

import core.ingest.formats.generic as generic
from core.common.errors import CatalogError
from core.common.fields import CATEGORY, COLOUR, GENDER, IMAGE, PRODUCT_ID, PRODUCT_TYPE, SUB_CATEGORY, TITLE, USAGE
from core.ingest.formats.layout import Format, Layout
from core.ingest.values import column_key

# header -> role. The first eight are required; ImageURL is the fallback photo.
FASHION_COLUMNS = {"ProductId": PRODUCT_ID, "Gender": GENDER, "Category": CATEGORY, "SubCategory": SUB_CATEGORY,
                   "ProductType": PRODUCT_TYPE, "Colour": COLOUR, "Usage": USAGE, "ProductTitle": TITLE,
                   "Image": IMAGE}
FASHION_REQUIRED = ("ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle")
FASHION_IMAGE_URL = "ImageURL"


def matches(keys: set[str]) -> bool:
    return {"productid", "producttitle"} <= keys


def plan(layout: Layout, by_key: dict[str, int]) -> None:
    """The fashion columns (refused when a required one is neither there nor mapped), then the generic plan."""
    missing = [h for h in FASHION_REQUIRED
               if column_key(h) not in by_key and FASHION_COLUMNS[h] not in layout.roles]
    if missing:
        raise CatalogError(f"catalogue is missing required column(s) {', '.join(missing)} (format 'generic' reads "
                           f"it without them); {layout.found}")
    for name, role in FASHION_COLUMNS.items():
        i = by_key.get(column_key(name))
        if i is not None and role not in layout.roles and i not in layout.roles.values():
            layout.roles[role] = i
    i = by_key.get(column_key(FASHION_IMAGE_URL))
    if i is not None and i not in layout.roles.values():
        layout.image_fallback = i
    generic.plan(layout, by_key)


FASHION = Format("fashion", matches=matches, plan=plan, read=generic.read,
                 hints=tuple((role, (column_key(name),)) for name, role in FASHION_COLUMNS.items()))
