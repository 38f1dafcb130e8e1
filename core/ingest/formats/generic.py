"""Any CSV with one product per row: columns found by their usual names (SYNONYMS), and rows read into records;
the fashion and Google formats plan and read on top of this."""

from __future__ import annotations

from typing import Iterator

from core.common.errors import CatalogError
from core.common.fields import (BRAND, CATEGORY, COLOUR, COMPARE_AT_PRICE, CURRENCY, DESCRIPTION, GENDER, GROUP_ID,
                                IMAGE, IN_STOCK, INVENTORY, LINK, PRICE, PRODUCT_ID, PRODUCT_TYPE, RATING, SALE_PRICE,
                                SEASON, SKU, STATUS, SUB_CATEGORY, TAGS, TITLE, USAGE)
from core.ingest.formats.layout import (CellValues, Format, Layout, ProblemKind, Record, RowProblem, Rows, Tally,
                                        role_values, row_key)
from core.ingest.values import column_key, photo_references, shown

# role -> header keys (lower-case letters and digits only), best first: 'Product Name', 'product_name' and
# 'ProductName' all read as 'productname'. The first header that matches wins; others stay extra columns.
SYNONYMS: dict[str, tuple[str, ...]] = {
    PRODUCT_ID: ("id", "productid", "sku", "itemid", "handle", "offerid", "articleid", "styleid"),
    TITLE: ("title", "name", "productname", "producttitle", "productdisplayname", "itemname"),
    DESCRIPTION: ("description", "body", "bodyhtml", "productdescription", "desc"),
    GENDER: ("gender", "sex"),
    CATEGORY: ("category", "mastercategory", "maincategory"),
    SUB_CATEGORY: ("subcategory",),
    PRODUCT_TYPE: ("producttype", "articletype", "type"),
    COLOUR: ("colour", "color", "basecolour", "basecolor"),
    USAGE: ("usage", "occasion"),
    BRAND: ("brand", "vendor", "manufacturer", "brandname"),
    SEASON: ("season",),
    PRICE: ("price", "unitprice", "retailprice", "regularprice", "listprice"),
    SALE_PRICE: ("saleprice", "discountprice", "discountedprice", "specialprice"),
    CURRENCY: ("currency", "currencycode"),
    IN_STOCK: ("availability", "instock", "available", "stockstatus"),
    INVENTORY: ("inventory", "stock", "qty", "quantity", "inventoryquantity", "stockquantity", "stocklevel"),
    RATING: ("rating", "averagerating", "stars"),
    LINK: ("link", "url", "producturl", "productlink", "pageurl"),
    IMAGE: ("image", "imagefile", "imagename", "photo", "picture", "mainimage",
            "imageurl", "imagelink", "imagesrc", "photourl", "pictureurl"),
    TAGS: ("tags", "keywords", "labels"),
    GROUP_ID: ("itemgroupid", "groupid", "parentid", "parentsku"),
    STATUS: ("status", "productstatus", "publicationstatus"),
    COMPARE_AT_PRICE: ("compareatprice", "compareprice", "wasprice", "originalprice"),
}
URL_IMAGE_KEYS = ("imageurl", "imagelink", "imagesrc", "photourl", "pictureurl")  # a second photo column

# Columns holding the product's other photos. A list column holds several references in one cell, separated by '|'
# or whitespace (Google's additional_image_link: by commas, as its spec says); a numbered column ('image_2',
# 'Photo 3') holds one.
ONE, LIST, COMMAS = "one", "list", "commas"
LIST_PHOTO_KEYS = {"images", "photos", "pictures", "imageurls", "imagelinks", "photourls", "additionalimages",
                   "additionalphotos", "moreimages", "otherimages"}
COMMA_PHOTO_KEYS = {"additionalimagelink", "additionalimagelinks"}
NUMBERED_PHOTO_BASES = {"image", "photo", "picture", "imageurl", "imagelink", "imagefile", "imagesrc", "photourl",
                        "additionalimage", "additionalimageurl", "additionalimagelink"}
ONE_PHOTO_KEYS = {"additionalimage", "additionalimageurl"}


def photo_column(key: str) -> str | None:
    """How a column holds further photos (ONE, LIST, COMMAS), from its column_key; None for any other column."""
    if key in COMMA_PHOTO_KEYS:
        return COMMAS
    if key in LIST_PHOTO_KEYS:
        return LIST
    base = key.rstrip("0123456789")
    if key in ONE_PHOTO_KEYS or (base != key and base in NUMBERED_PHOTO_BASES):
        return ONE
    return None


def plan(layout: Layout, by_key: dict[str, int], title_or_photo: bool = True) -> None:
    """Roles not yet taken, from the first header named like them; refused without a product id, or (unless
    title_or_photo is False: Google's supplemental feeds) without both a title and a photo."""
    for role, keys in SYNONYMS.items():
        if role in layout.roles:
            continue
        for key in keys:
            i = by_key.get(key)
            if i is not None and i not in layout.roles.values():
                layout.roles[role] = i
                break
    image = layout.roles.get(IMAGE)
    if image is not None and layout.image_fallback is None and column_key(layout.header[image]) not in URL_IMAGE_KEYS:
        for key in URL_IMAGE_KEYS:  # 'image' (a file) and 'image_url' both present: the URL is the fallback
            i = by_key.get(key)
            if i is not None and i not in layout.roles.values():
                layout.image_fallback = i
                break
    plan_photos(layout)
    _require(layout, title_or_photo)


def plan_photos(layout: Layout) -> None:
    """Every column holding further photos, and a product-level SKU column that is not the product id: read here,
    never extra fields."""
    taken = {*layout.roles.values(), layout.image_fallback}
    for i, name in enumerate(layout.header):
        key = column_key(name)
        how = photo_column(key)
        if i in taken or i in layout.used:
            continue
        if how is not None:
            layout.photo_columns.append((i, how))
            layout.used.add(i)
        elif key == "sku" and layout.sku_column is None:
            layout.sku_column = i
            layout.used.add(i)


def _require(layout: Layout, title_or_photo: bool = True) -> None:
    if PRODUCT_ID not in layout.roles:
        raise CatalogError(f"catalogue has no product id column (looked for {', '.join(SYNONYMS[PRODUCT_ID])}); "
                           f"name it with product_id=<column>; {layout.found}")
    if title_or_photo and TITLE not in layout.roles and IMAGE not in layout.roles and not layout.photo_columns:
        raise CatalogError("catalogue has neither a title nor an image column, and a product needs one of them to be "
                           f"found; name one with title=<column> or image=<column>; {layout.found}")


def read(layout: Layout, rows: Rows, tally: Tally, cell_values: CellValues = role_values) -> Iterator[Record]:
    """One record per row, as the rows are read; a row without a usable id, or repeating one, is a problem, and a
    cell that cannot be read is left out with a value note. cell_values reads one cell (a format's own reading)."""
    header, id_col = layout.header, layout.roles[PRODUCT_ID]
    id_name = header[id_col]
    problems, value_notes = tally.problems, tally.value_notes
    first_row_of: dict[str, int] = {}
    for line, fields, problem in rows:
        if fields is not None and not any(f.strip() for f in fields):
            continue  # blank line
        tally.total += 1
        product_id, problem, kind = row_key(fields, problem, header, id_col)
        if problem is None and product_id in first_row_of:
            problem = f"duplicate {id_name} {product_id} (first seen on row {first_row_of[product_id]})"
            kind = ProblemKind.DUPLICATE_ID
        if problem is not None:
            problems.append(RowProblem(line, product_id, problem, kind))
            continue
        first_row_of[product_id] = line
        values = {PRODUCT_ID: product_id}
        derived: dict = {}  # values one column implies for another (a price's currency); explicit columns win
        for role, i in layout.roles.items():
            raw = fields[i].strip()
            if not raw or role in (PRODUCT_ID, IMAGE):
                continue
            try:
                direct, implied = cell_values(role, raw, header[i])
            except ValueError as exc:
                value_notes.append((line, product_id, f"{role} {shown(raw)} {exc}; kept without it"))
                continue
            values.update(direct)
            derived.update(implied)
        for key, value in derived.items():
            values.setdefault(key, value)
        values.update((key, fields[i].strip()) for i, key in layout.extras.items() if fields[i].strip())
        if layout.sku_column is not None and fields[layout.sku_column].strip():
            values[SKU] = [fields[layout.sku_column].strip()]
        images = tuple(fields[i].strip() for i in (layout.roles.get(IMAGE), layout.image_fallback) if i is not None)
        more = further_photos(layout, fields)
        if IMAGE not in layout.roles and more:
            images = (more[0], *images)  # no image column: the first of the others is the hero
        photos = tuple(dict.fromkeys(ref for ref in (images[:1] + more) if ref))
        tally.products += 1
        yield Record(line, product_id, values, images, photos)


def further_photos(layout: Layout, fields: list[str]) -> tuple[str, ...]:
    """The references a row's photo columns hold, in column order."""
    refs: list[str] = []
    for i, how in layout.photo_columns:
        cell = fields[i].strip()
        if how == ONE:
            refs.extend([cell] if cell else [])
        else:
            refs.extend(photo_references(cell, "," if how == COMMAS else None))
    return tuple(refs)


GENERIC = Format("generic", matches=lambda keys: True, plan=plan, read=read)
