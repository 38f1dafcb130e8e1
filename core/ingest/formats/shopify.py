"""Shopify product exports: one product per Handle, gathered from the handle's variant and image rows.

Only a handle's first row carries the product's details (Title, Body (HTML), Vendor, Type, Tags, option
names); later rows add variants (options, price, stock) and photos (Image Src, Image Position). So:
- the hero photo is the Image Src with the lowest Image Position (then Variant Image); the product's photos are
  every Image Src by Image Position, then every Variant Image not among them;
- each variant row (one with a SKU, price, stock or option value) is one of the product's variants: its SKU, colour,
  size, other options, price, compare-at price, inventory and photo; sku lists every variant's SKU;
- price is the lowest Variant Price; compare_at_price is the cheapest variant's compare-at price, kept as the export
  gives it even when it is not above the price (catalogue health checks it; on_sale says whether it is a sale);
- inventory is the sum of Variant Inventory Qty (an oversold, negative quantity counts as 0);
- colour lists the values of the option named Color or Colour; other options (Size) become keyword lists;
- Product Category ('Apparel & Accessories > Clothing > Dresses') fills category levels as in
  core.ingest.values.category_levels, and Type, when set, is the product type;
- Status (active, draft, archived; lower case) is kept as a keyword: none is dropped, and the default views leave
  drafts and archived products out;
- a metafield column, 'Pattern (product.metafields.custom.pattern)', is the field its key names (pattern). A key
  that names one of METAFIELD_ROLES (colour, category, usage...) gives that role and wins over the other columns
  (the option named Color, Product Category's first level): it is the merchant's own product-level value, and what
  `export-fixes --format shopify` writes. Any other key is a field of that name when no column has it already.
A handle that comes back after other handles is merged into one product, with a note: Shopify's importer
treats a handle as one product wherever its rows are, and dropping rows would lose variants.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Iterable

from core.common.errors import CatalogError
from core.common.fields import (BRAND, CATEGORY, COLOUR, COMPARE_AT_PRICE, DESCRIPTION, DISCOUNT, FIELD_NAME, GENDER,
                                IMAGE, IMAGE_URL, IN_STOCK, INVENTORY, ON_SALE, PHOTOS, PRICE, PRODUCT_ID,
                                PRODUCT_TYPE, RESERVED_KEYS, ROLES, SALE_PRICE, SEASON, SKU, SUB_CATEGORY, TAGS, TITLE,
                                USAGE, VARIANTS)
from core.ingest.formats.layout import (Format, Layout, ProblemKind, Record, RowProblem, Rows, Tally, field_key,
                                        first_column_by_key, role_values, row_key, snake_case)
from core.ingest.values import category_levels, column_key, parse_number, parse_price, shown, split_list

PRODUCT_COLUMNS = {"handle": PRODUCT_ID, "title": TITLE, "bodyhtml": DESCRIPTION, "vendor": BRAND,
                   "type": PRODUCT_TYPE, "customproducttype": PRODUCT_TYPE, "productcategory": CATEGORY,
                   "standardproducttype": CATEGORY, "tags": TAGS, "googleshoppinggender": GENDER}
# Roles this module works out across a handle's rows; a column mapping cannot point them elsewhere.
AGGREGATED = {PRODUCT_ID: "Handle", PRICE: "Variant Price",
              SALE_PRICE: "nowhere (Variant Compare At Price becomes compare_at_price)",
              COMPARE_AT_PRICE: "Variant Compare At Price (the cheapest variant's)",
              INVENTORY: "Variant Inventory Qty", IN_STOCK: "Variant Inventory Qty",
              COLOUR: "the option named Color or Colour (each product's Option N Name decides)",
              IMAGE: "Image Src"}
READ_HERE = ("variantsku", "variantprice", "variantcompareatprice", "variantinventoryqty", "imagesrc", "imageposition",
             "variantimage", "status", *(f"option{n}{part}" for n in (1, 2, 3) for part in ("name", "value")))
PER_VARIANT = ("variant", "image", "option", "costperitem", "price", "compareatprice", "included", "unitprice")
VARIANT_KEYS = ("variantsku", "variantprice", "variantinventoryqty", "option1value", "option2value", "option3value")
DERIVED = (SKU, VARIANTS, PHOTOS, ON_SALE, DISCOUNT)  # keys this module or the reading fills: no option takes one
COLOUR_OPTIONS = ("color", "colour")  # column_key of the Option N Name that makes that option the colour
# Roles a metafield column may give (keyword roles a product states once); its value wins over the other columns'.
METAFIELD_ROLES = (COLOUR, GENDER, CATEGORY, SUB_CATEGORY, PRODUCT_TYPE, USAGE, BRAND, SEASON)
METAFIELD_PREFIX = "(product.metafields."


def metafield_key(header: str) -> str | None:
    """The field a Shopify metafield column names: 'Pattern (product.metafields.custom.pattern)' -> 'pattern',
    'Color (product.metafields.shopify.color-pattern)' -> 'color_pattern'; None for any other header."""
    name = header.strip()
    start = name.rfind(METAFIELD_PREFIX)
    if start < 0 or not name.endswith(")"):
        return None
    parts = name[start + len(METAFIELD_PREFIX):-1].split(".")
    key = parts[-1].replace("-", "_").lower() if len(parts) == 2 and all(parts) else ""
    return key if FIELD_NAME.match(key) else None


@lru_cache(maxsize=16)
def metafield_columns(header: tuple[str, ...]) -> list[tuple[int, str]]:
    """(column, role) of each metafield column giving one of METAFIELD_ROLES, the first for each role (cached:
    every product of an export asks)."""
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        key = metafield_key(name)
        if key in METAFIELD_ROLES and not column_key(name).startswith("genderproductmetafields"):
            out.setdefault(key, i)
    return [(i, role) for role, i in out.items()]


def matches(keys: set[str]) -> bool:
    """A Handle and a Title, an Image Src or a Variant column: a Shopify product export."""
    return "handle" in keys and ("title" in keys or "imagesrc" in keys or any(k.startswith("variant") for k in keys))


def explain(layout: Layout, colour_columns: Iterable[str]) -> dict[str, str]:
    """role -> how a Shopify export gives it, in words, where no single column does: the one explanation that the
    mapping step and the indexing report both show.

    colour comes from whichever option is named Color or Colour, which each product's Option N Name decides
    (Option1 on one product, Option2 on a Size/Color product); colour_columns are the Option N Value headers
    that held it for the products read, in option order. A product's photo is its Image Src with the lowest
    Image Position, then its Variant Image.
    """
    used = sorted(set(colour_columns))
    where = " or ".join(used) if used else "no option column (no product read has an option named Color)"
    out = {COLOUR: f"{where}: the value of the option named Color or Colour; which option that is, each product's "
                   "Option N Name decides"}
    photo = layout.header[layout.roles[IMAGE]] if IMAGE in layout.roles else None
    fallback = layout.header[layout.image_fallback] if layout.image_fallback is not None else None
    if photo is not None and column_key(photo) == "imagesrc":
        out[IMAGE] = "Image Src: a product's photo with the lowest Image Position" + (
            f", else its {fallback}" if fallback else "")
    elif photo is not None:
        out[IMAGE] = f"{photo}: a product's first one"
    return out


def plan(layout: Layout, by_key: dict[str, int]) -> None:
    """Roles of a Shopify header; per-variant columns are read here or left out (with a note)."""
    if "handle" not in by_key:
        raise CatalogError(f"a Shopify export needs a Handle column; {layout.found}")
    for role, source in AGGREGATED.items():
        if role in layout.roles:
            raise CatalogError(f"in a Shopify export {role} comes from {source}; a column mapping cannot change it")
    dropped = []
    for i, name in enumerate(layout.header):
        key = column_key(name)
        role = PRODUCT_COLUMNS.get(key) or (GENDER if key.startswith("genderproductmetafields") else None)
        if role is None and snake_case(name) in ROLES and snake_case(name) not in AGGREGATED:
            role = snake_case(name)  # a plain 'Season' or 'Rating' column
        if role and role not in layout.roles and i not in layout.roles.values():
            layout.roles[role] = i
        elif key in READ_HERE:
            layout.used.add(i)
        elif key.startswith(PER_VARIANT):
            layout.used.add(i)
            dropped.append(name)
    _plan_metafields(layout)
    for role, key in ((PRICE, "variantprice"), (INVENTORY, "variantinventoryqty"), (IMAGE, "imagesrc")):
        if key in by_key:
            layout.roles[role] = by_key[key]
    if IMAGE not in layout.roles and "variantimage" in by_key:
        layout.roles[IMAGE] = by_key["variantimage"]
    elif "variantimage" in by_key:
        layout.image_fallback = by_key["variantimage"]
    if TITLE not in layout.roles and IMAGE not in layout.roles:
        raise CatalogError(f"a Shopify export needs a Title or an Image Src column; {layout.found}")
    if dropped:
        layout.notes.append(f"per-variant columns not kept (a product is a Handle): {', '.join(dropped)}")


def _plan_metafields(layout: Layout) -> None:
    """Metafield columns: one giving a role is read by _product (its value wins); any other is the field its key
    names, unless another column, a role or a key the index keeps has that name (then its long name, as before)."""
    by_role = metafield_columns(tuple(layout.header))
    for i, role in by_role:
        layout.used.add(i)
        layout.notes.append(f"{role} comes from '{layout.header[i]}' where a product has a value there "
                            f"{_before_issue_23(layout.header[i], i)}")
    read_here = {i for i, _ in by_role} | set(layout.roles.values()) | layout.used
    plain = {field_key(name, i) for i, name in enumerate(layout.header) if metafield_key(name) is None}
    taken = {*ROLES, *RESERVED_KEYS, IMAGE_URL, *DERIVED, *plain}
    for i, name in enumerate(layout.header):
        key = metafield_key(name)
        if key is not None and i not in read_here and key not in taken:
            layout.extras[i] = key
            taken.add(key)
            layout.notes.append(f"metafield column '{name}' is read as {key} {_before_issue_23(name, i)}")


def _before_issue_23(name: str, position: int) -> str:
    """The name an index made before issue 23 gives the column (every metafield column was an extra column then):
    a re-index renames the field, so the old name's filter stays empty and saved filters and boards on it find
    nothing until they are made again on the new one."""
    return (f"(before issue 23: {field_key(name, position)}; filters and boards saved on that name need the new "
            "one)")


class _Group:
    def __init__(self, line: int):
        self.first = line
        self.rows: list[tuple[int, list[str]]] = []
        self.rejoined: list[int] = []


def read(layout: Layout, rows: Rows, tally: Tally) -> list[Record]:
    """Products by Handle, read from every row before the first is given (a handle's rows may be anywhere in the
    file); a handle whose Title row is missing is one problem, not a product."""
    header, handle_col, title_col = layout.header, layout.roles[PRODUCT_ID], layout.roles.get(TITLE)
    groups: dict[str, _Group] = {}
    problems = tally.problems
    previous = None
    for line, fields, problem in rows:
        if fields is not None and not any(f.strip() for f in fields):
            continue
        tally.total += 1
        handle, problem, kind = row_key(fields, problem, header, handle_col)
        if problem is not None:
            problems.append(RowProblem(line, handle, problem, kind))
            continue
        group = groups.get(handle)
        if group is None:
            group = groups[handle] = _Group(line)
        elif previous != handle:
            group.rejoined.append(line)
        group.rows.append((line, fields))
        previous = handle

    cols = first_column_by_key(header)
    records = []
    colour_columns: Counter = Counter()
    for handle, group in groups.items():
        mains = [(line, f) for line, f in group.rows if title_col is None or f[title_col].strip()]
        if not mains:
            problems.append(RowProblem(group.first, handle, f"handle {handle} has no row with a Title (its first "
                                       "row, which carries the product's title and details, is missing); not indexed",
                                       ProblemKind.INCOMPLETE_PRODUCT))
            continue
        if group.rejoined:
            layout.notes.append(f"handle {handle} appears again on row(s) {', '.join(map(str, group.rejoined))} "
                                "after other handles; merged into one product")
        if len(mains) > 1 and title_col is not None:
            layout.notes.append(f"handle {handle} has another row with a Title (row {mains[1][0]}); the details of "
                                f"row {mains[0][0]} are used")
        records.append(_product(layout, cols, handle, mains[0], group.rows, tally.value_notes, colour_columns))
    layout.explained = explain(layout, colour_columns)
    layout.sources[COLOUR] = tuple(sorted(colour_columns))
    tally.products += len(records)
    return records


def _product(layout: Layout, cols: dict[str, int], handle: str, main: tuple[int, list[str]],
             rows: list[tuple[int, list[str]]], value_notes: list, colour_columns: Counter) -> Record:
    line, first = main
    values: dict = {PRODUCT_ID: handle}
    derived: dict = {}

    def note(what: str, row: int = line) -> None:
        value_notes.append((row, handle, what))

    for role, i in layout.roles.items():
        raw = first[i].strip()
        if role in AGGREGATED or not raw:
            continue
        if role == CATEGORY:  # a taxonomy path; Type, when set, stays the product type
            derived.update(category_levels(raw))
            continue
        try:
            direct, implied = role_values(role, raw, layout.header[i])
        except ValueError as exc:
            note(f"{role} {shown(raw)} {exc}; kept without it")
            continue
        values.update(direct)
        derived.update(implied)
    for key, value in derived.items():
        values.setdefault(key, value)
    values.update((key, first[i].strip()) for i, key in layout.extras.items() if first[i].strip())

    def cell(f: list[str], key: str) -> str:
        return f[cols[key]].strip() if key in cols else ""

    variants = [(n, f) for n, f in rows if any(cell(f, k) for k in VARIANT_KEYS)]
    _prices(values, variants, cell, note)
    _inventory(values, variants, cell, note)
    names = _options(layout, values, [first] + [f for _, f in rows if f is not first], [f for _, f in variants],
                     cell, cols, colour_columns)
    _metafield_values(layout, values, first)
    listed = _variants(variants, names, cell)
    if listed:
        values[VARIANTS] = listed
        skus = list(dict.fromkeys(v["sku"] for v in listed if "sku" in v))
        if skus:
            values[SKU] = skus
    sources = [src for _, _, src in sorted((_position(cell(f, "imageposition")), n, cell(f, "imagesrc"))
                                           for n, (_, f) in enumerate(rows) if cell(f, "imagesrc"))]
    variant_images = [cell(f, "variantimage") for _, f in rows if cell(f, "variantimage")]
    images = tuple(v for v in (sources[0] if sources else "", variant_images[0] if variant_images else "") if v)
    return Record(line, handle, values, images or ("",), tuple(dict.fromkeys((*sources, *variant_images))))


def _metafield_values(layout: Layout, values: dict, first: list[str]) -> None:
    """The roles metafield columns give, over what the other columns said: a colour metafield is a list
    ('Sky Blue, Crimson'), a category one the category itself (not a taxonomy path)."""
    for i, role in metafield_columns(tuple(layout.header)):
        raw = first[i].strip()
        if not raw:
            continue
        values[role] = split_list(raw) if role == COLOUR else raw


def _variants(variants: list, names: dict[int, str], cell) -> list[dict]:
    """One sub-record per variant row, keys absent when the row has no value (a bad number is left out: _prices and
    _inventory said so in a note already)."""
    out = []
    for _, f in variants:
        variant: dict = {}
        options: dict[str, str] = {}
        if cell(f, "variantsku"):
            variant["sku"] = cell(f, "variantsku")
        for n, name in names.items():
            value = cell(f, f"option{n}value")
            if not value:
                continue
            key = column_key(name)
            if key in COLOUR_OPTIONS:
                variant["colour"] = value
            elif key == "size":
                variant["size"] = value
            else:
                options[name] = value
        if options:
            variant["options"] = options
        for key, column, parse in (("price", "variantprice", _amount), ("compare_at_price", "variantcompareatprice",
                                   _amount), ("inventory", "variantinventoryqty", parse_number)):
            try:
                number = parse(cell(f, column))
            except ValueError:
                continue
            if number is not None:
                variant[key] = number
        if cell(f, "variantimage"):
            variant["image"] = cell(f, "variantimage")  # the catalogue swaps it for the reference in PHOTOS
        out.append(variant)
    return out


def _amount(text: str) -> float | None:
    return parse_price(text)[0]


def _prices(values: dict, variants: list, cell, note) -> None:
    priced = []
    for line, f in variants:
        raw = cell(f, "variantprice")
        try:
            amount, _ = parse_price(raw)
        except ValueError as exc:
            note(f"price {shown(raw)} {exc}; that variant has no price", line)
            continue
        if amount is not None:
            priced.append((amount, cell(f, "variantcompareatprice"), line))
    if not priced:
        return
    values[PRICE], compare, line = min(priced, key=lambda p: p[0])
    try:
        was, _ = parse_price(compare)
    except ValueError as exc:
        note(f"compare-at price {shown(compare)} {exc}; kept without it", line)
        return
    if was is not None:  # kept even when not above the price: the reading decides on_sale
        values[COMPARE_AT_PRICE] = was


def _inventory(values: dict, variants: list, cell, note) -> None:
    quantities = []
    for line, f in variants:
        raw = cell(f, "variantinventoryqty")
        try:
            qty = parse_number(raw)
        except ValueError as exc:
            note(f"inventory {shown(raw)} {exc}; that variant's stock is unknown", line)
            continue
        if qty is not None:
            quantities.append(max(qty, 0.0))
    if not quantities:
        return
    total = float(sum(quantities))
    if math.isfinite(total):  # two variants of 1e308 each add up to infinity, which the store refuses
        values[INVENTORY] = total
    else:
        note("inventory of its variants adds up to more than a finite number; kept without it")


def _options(layout: Layout, values: dict, rows: list, variants: list, cell, cols: dict[str, int],
             colour_columns: Counter) -> dict[int, str]:
    """colour from the option named Color/Colour, this product's own; other options become keyword lists (Size ->
    size). colour_columns counts the Option N Value columns colour came from. Returns option number -> name (the
    'Title' option of a product without variants left out)."""
    taken = {*ROLES, *RESERVED_KEYS, IMAGE_URL, *DERIVED, *layout.extras.values()}
    names: dict[int, str] = {}
    for n in (1, 2, 3):
        name = next((cell(f, f"option{n}name") for f in rows if cell(f, f"option{n}name")), "")
        if not name or column_key(name) == "title":  # 'Title' / 'Default Title': a product without variants
            continue
        names[n] = name
        chosen = list(dict.fromkeys(cell(f, f"option{n}value") for f in variants if cell(f, f"option{n}value")))
        if not chosen:
            continue
        key = COLOUR if column_key(name) in COLOUR_OPTIONS else field_key(name, cols[f"option{n}value"])
        if key == COLOUR:
            values[COLOUR] = chosen
            colour_columns[layout.header[cols[f"option{n}value"]]] += 1
        elif key in taken:  # said once per field, under the first spelling met ('Brand', 'brand!', 'BRAND')
            if key not in layout.options_not_kept:
                layout.options_not_kept.add(key)
                layout.notes.append(f"option '{name}' is not kept: its name is a field the index already has")
        else:
            values[key] = chosen
            layout.kinds.setdefault(key, "keyword")
    return names


def _position(text: str) -> float:
    try:
        position = float(text)
    except ValueError:
        return math.inf  # an image without a position comes after those with one, in file order
    return position if math.isfinite(position) else math.inf  # 'nan' would make the order arbitrary


SHOPIFY = Format("shopify", matches=matches, plan=plan, read=read, reads_whole=True, explains_from_rows=True)
