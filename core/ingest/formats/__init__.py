"""Catalogue formats: which layout a file has (fashion, Shopify, Google Merchant Center, generic), which column
plays which canonical role, and rows -> typed records plus a report of what each column became.

One product per row, except Shopify (one product per Handle, see core.ingest.formats.shopify). In a Google feed, variants of
one item_group_id that carry their own image_link (colourways) stay separate products: their photos differ,
so for a search by look they are different products; item_group_id is kept as a keyword to group them again.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Iterable, Iterator

from core.common.errors import CatalogError
from core.common.fields import (BRAND, CATEGORY, COLOUR, CURRENCY, DESCRIPTION, FIELD_NAME, GENDER, GROUP_ID, IMAGE,
                         IMAGE_URL, IN_STOCK, INVENTORY, KEYWORD_ROLES, LINK, NO, NUMBER_ROLES, PRICE, PRODUCT_ID,
                         PRODUCT_TYPE, RATING, RESERVED_KEYS, ROLES, SALE_PRICE, SEASON, STANDARD_FILTERS,
                         SUB_CATEGORY, TAGS, TEXT_ROLES, TITLE, USAGE, YES, FieldReport, Schema)
from core.ingest.values import (ColumnSurvey, category_levels, html_to_text, parse_availability, parse_number,
                         parse_price, shown, split_list)

__all__ = ["FORMATS", "Layout", "Parsed", "Record", "RowProblem", "detect_format", "parse_availability",
           "parse_columns", "parse_number", "parse_price", "plan_layout", "read_records", "stream_records",
           "survey_records"]

FORMATS = ("auto", "fashion", "shopify", "google", "generic")
Rows = Iterator[tuple[int, "list[str] | None", "str | None"]]  # (line, fields, problem) from core.ingest.catalog

# The Kaggle fashion-images CSV: header -> role. The first eight are required; ImageURL is the fallback photo.
FASHION_COLUMNS = {"ProductId": PRODUCT_ID, "Gender": GENDER, "Category": CATEGORY, "SubCategory": SUB_CATEGORY,
                   "ProductType": PRODUCT_TYPE, "Colour": COLOUR, "Usage": USAGE, "ProductTitle": TITLE,
                   "Image": IMAGE}
FASHION_REQUIRED = ("ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle")
FASHION_IMAGE_URL = "ImageURL"

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
}
URL_IMAGE_KEYS = ("imageurl", "imagelink", "imagesrc", "photourl", "pictureurl")  # a second photo column
GOOGLE_ONLY = {"imagelink", "additionalimagelink", "googleproductcategory", "itemgroupid", "agegroup", "gtin", "mpn"}
MAX_COLUMNS = 5_000  # far more than any shop export has (Shopify's has about 50); a wider header is not a catalogue
MAX_VALUE_NOTES = 50  # per catalogue; a feed with a bad price in every row says so 50 times, then counts


NOT_KEY_CHARS = re.compile(r"[^0-9a-z]")
NOT_WORD_RUN = re.compile(r"[^0-9A-Za-z]+")
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def column_key(name: str) -> str:
    """'Image Src' -> 'imagesrc': headers compare without case, spaces or punctuation."""
    return NOT_KEY_CHARS.sub("", name.lower())


def snake_case(name: str) -> str:
    """'SubCategory' -> 'sub_category', 'Season Year' -> 'season_year'."""
    name = NOT_WORD_RUN.sub("_", name.strip())
    name = CAMEL_HUMP.sub("_", name)
    return name.strip("_").lower()


def field_key(name: str, position: int) -> str:
    """The payload key of an extra column: snake_case, and a valid field name ('2nd Colour' -> 'col_2nd_colour',
    a header of only symbols -> 'column_3'), so every column can be a filter."""
    key = snake_case(name)
    if key and not FIELD_NAME.match(key):
        key = f"col_{key}" if key[0].isdigit() else ""
    return key[:64].rstrip("_") or f"column_{position + 1}"


class ProblemKind(Enum):
    """What went wrong with a row: code decides on this (whether --prune may delete), never on the reason's words."""

    UNREADABLE_ROW = "unreadable row"          # its fields could not be read (quoting, encoding, field count)
    MISSING_KEY = "missing key"                # no product id (or Shopify handle)
    DUPLICATE_ID = "duplicate id"              # a product id seen on an earlier row
    INCOMPLETE_PRODUCT = "incomplete product"  # a Shopify handle with no row carrying its title
    TEXT_ONLY = "text only"                    # indexed, but without its photo

    @property
    def may_hide_products(self) -> bool:
        """True when the row could not be read: a stray quote can swallow later rows, products and all."""
        return self is ProblemKind.UNREADABLE_ROW


@dataclass
class RowProblem:
    """One catalogue row that failed or only partly succeeded: what kind of problem, and the reason in words."""

    row: int
    product_id: str
    reason: str
    kind: ProblemKind

    def as_dict(self) -> dict:
        return {"row": self.row, "product_id": self.product_id, "reason": self.reason}


@dataclass
class Record:
    """One product's typed values (payload keys) and its photo references, best first (file name or URL)."""

    row: int
    product_id: str
    values: dict
    images: tuple[str, ...] = ()


@dataclass
class Layout:
    """A header's plan: the format, role -> column, the fallback photo column and the extra columns' keys."""

    format: str
    header: list[str]
    found: str                                           # '3 column(s) found (comma-separated): a, b, c'
    roles: dict[str, int] = field(default_factory=dict)
    image_fallback: int | None = None
    extras: dict[int, str] = field(default_factory=dict)  # column -> payload key
    kinds: dict[str, str] = field(default_factory=dict)   # key beyond the roles -> keyword | number | text
    used: set[int] = field(default_factory=set)           # columns a format reads itself (Shopify's variants)
    notes: list[str] = field(default_factory=list)
    options_not_kept: set[str] = field(default_factory=set)  # Shopify option keys noted once (a note per product
                                                             # searched the growing notes: quadratic)
    explained: dict[str, str] = field(default_factory=dict)  # role -> in words, where a format works it out itself
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # such a role -> the columns it came from

    @property
    def mapping(self) -> dict[str, str]:
        """role -> the column it is read from (image_url: the fallback photo column)."""
        out = {role: self.header[i] for role, i in self.roles.items()}
        if self.image_fallback is not None:
            out[IMAGE_URL] = self.header[self.image_fallback]
        return out

    @property
    def described(self) -> dict[str, str]:
        """The mapping as a report says it: a role the format works out itself (Shopify's colour, its photos with
        their fallback) is its explanation, not one column."""
        out = self.mapping
        if IMAGE in self.explained:
            out.pop(IMAGE_URL, None)
        return {**out, **self.explained}


@dataclass
class Parsed:
    """A file's records, the rows that gave no product, the data rows read, and what the columns became."""

    records: list[Record]          # empty after survey_records: a streaming read keeps none
    problems: list[RowProblem]
    total_rows: int
    report: FieldReport
    products: int = 0


def parse_columns(text: str | None) -> dict[str, str]:
    """'product_id=SKU,title=Name' -> {'product_id': 'SKU', 'title': 'Name'}; a header cannot contain a comma."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, header = (s.strip() for s in part.partition("="))
        if not sep or not role or not header:
            raise CatalogError(f"column mapping {part.strip()!r} must look like role=Column, as in "
                               "product_id=SKU,title=Name")
        _check_role(role.lower())
        if role.lower() in out:
            raise CatalogError(f"column mapping names {role.lower()} twice")
        out[role.lower()] = header
    return out


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise CatalogError(f"unknown role {role!r} in the column mapping; roles: {', '.join(ROLES)}")


def detect_format(header: Iterable[str]) -> str:
    """'fashion', 'shopify', 'google' or 'generic', from the header alone."""
    keys = {column_key(h) for h in header}
    if {"productid", "producttitle"} <= keys:
        return "fashion"
    if "handle" in keys and ("title" in keys or "imagesrc" in keys or any(k.startswith("variant") for k in keys)):
        return "shopify"
    if {"id", "title"} <= keys and keys & GOOGLE_ONLY:
        return "google"
    return "generic"


def columns_found(header: list[str], delimiter_name: str) -> str:
    shown_cols = ", ".join(h[:60] for h in header[:30]) + (", ..." if len(header) > 30 else "")
    return f"{len(header)} column(s) found ({delimiter_name}-separated): {shown_cols}"


def check_width(header: list[str], cut: bool = False) -> None:
    """A header of more than MAX_COLUMNS columns is refused before anything else reads it; cut: only its start
    was read (the mapping step reads a file's first megabyte), so its width is not known."""
    if len(header) > MAX_COLUMNS:
        width = (f"more than {MAX_COLUMNS:,} columns, more than" if cut
                 else f"{len(header):,} columns, more than the {MAX_COLUMNS:,}")
        raise CatalogError(f"catalogue has {width} a catalogue may have (a shop export has a few dozen); check that "
                           "this is the product file, one product per row")


def plan_layout(header: list[str], delimiter_name: str = "comma", format: str = "auto",
                columns: dict[str, str] | str | None = None) -> Layout:
    """Decide which column plays which role; raises CatalogError naming what is missing or wrong.

    Time is linear in the header's width (sets and counts, never a list searched per column)."""
    check_width(header)
    if format not in FORMATS:
        raise CatalogError(f"unknown catalogue format {format!r}; formats: {', '.join(FORMATS)}")
    layout = Layout(detect_format(header) if format == "auto" else format, header,
                    columns_found(header, delimiter_name))
    by_key: dict[str, int] = {}
    for i, name in enumerate(header):
        by_key.setdefault(column_key(name), i)
    columns = parse_columns(columns) if isinstance(columns, str) else dict(columns or {})
    for role, name in columns.items():
        _check_role(role)
        i = by_key.get(column_key(name))
        if i is None:
            raise CatalogError(f"column mapping {role}={name}: the catalogue has no column {name!r}; {layout.found}")
        if i in layout.roles.values():
            raise CatalogError(f"column {name!r} is mapped to two roles; map each column once")
        layout.roles[role] = i

    if layout.format == "shopify":
        from core.ingest.formats import shopify
        shopify.plan(layout, by_key)
    else:
        if layout.format == "fashion":
            _plan_fashion(layout, by_key)
        if layout.format == "google" and "additionalimagelink" in by_key:
            layout.used.add(by_key["additionalimagelink"])
            layout.notes.append("additional_image_link is not kept: a product is indexed by one photo, its image_link")
        _plan_synonyms(layout, by_key)
        _require(layout)
    taken = set(layout.roles.values()) | {layout.image_fallback} | layout.used
    for i, name in enumerate(header):
        if i not in taken and i not in layout.extras:
            layout.extras[i] = field_key(name, i)
    _rekey_displaced(layout, columns)
    _refuse_clashes(layout)
    return layout


def _rekey_displaced(layout: Layout, columns: dict[str, str]) -> None:
    """An extra column named like a role the user's mapping gave to another column keeps its data as <role>_column.

    Mapping title=Name takes the role from a column headed 'Title', which then stays an extra column; under its
    own key, 'title', it would overwrite the title the user chose. A user correcting the mapping in the app
    cannot rename the file's columns, so the column steps aside rather than refusing the file. A clash nobody
    mapped (a fashion file with both ProductTitle and Title) is still refused by _refuse_clashes.
    """
    mapped = {role for role in columns if role in layout.roles}
    taken = {*layout.roles, *RESERVED_KEYS, IMAGE_URL, *layout.kinds, *layout.extras.values()}
    for i, key in sorted(layout.extras.items()):
        if key not in mapped:
            continue
        new, n = f"{key}_column", 2
        while new in taken:
            new, n = f"{key}_column_{n}", n + 1
        layout.extras[i] = new
        taken.add(new)
        layout.notes.append(f"column '{layout.header[i]}' is kept as {new}: the column mapping gives {key} to "
                            f"'{layout.header[layout.roles[key]]}'")


def _plan_fashion(layout: Layout, by_key: dict[str, int]) -> None:
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


def _plan_synonyms(layout: Layout, by_key: dict[str, int]) -> None:
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


def _require(layout: Layout) -> None:
    if PRODUCT_ID not in layout.roles:
        raise CatalogError(f"catalogue has no product id column (looked for {', '.join(SYNONYMS[PRODUCT_ID])}); "
                           f"name it with product_id=<column>; {layout.found}")
    if TITLE not in layout.roles and IMAGE not in layout.roles:
        raise CatalogError("catalogue has neither a title nor an image column, and a product needs one of them to be "
                           f"found; name one with title=<column> or image=<column>; {layout.found}")


def _refuse_clashes(layout: Layout) -> None:
    """Two columns writing one payload key, or an extra column named like a key the index adds, is refused."""
    written = [(i, role) for role, i in layout.roles.items()]
    if layout.image_fallback is not None:
        written.append((layout.image_fallback, IMAGE_URL))
    extra = list(layout.extras.items())
    counts = Counter(key for _, key in written + extra)
    kept = {*RESERVED_KEYS, IMAGE_URL, *layout.kinds}
    clashes = {k for k, n in counts.items() if n > 1} | {k for _, k in extra if k in kept}
    if clashes:
        names = [layout.header[i] for i, k in sorted(written + extra) if k in clashes]
        raise CatalogError(f"catalogue columns {_some(names)} would overwrite each other or fields the index "
                           f"keeps ({_some(sorted(clashes))}); rename them")


MAX_NAMED = 20  # names listed in one message; 4,990 duplicate headers made a 15 KB error box


def _some(names: list[str]) -> str:
    """'a, b, c', or the first MAX_NAMED and '... and N more'."""
    more = f", ... and {len(names) - MAX_NAMED:,} more" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


# ---- rows -> records -------------------------------------------------------------------------------------------

def read_records(layout: Layout, rows: Rows) -> Parsed:
    """Records, row problems and the field report for a planned layout, the whole file in memory (previews,
    Shopify, tests); the indexer streams instead with survey_records then stream_records."""
    value_notes = ValueNotes()  # (row, product id, what was wrong with one value)
    if layout.format == "shopify":
        from core.ingest.formats import shopify
        records, problems, total = shopify.read(layout, rows, value_notes)
    else:
        tally = Tally(value_notes)
        records = list(_one_product_per_row(layout, rows, tally))
        problems, total = tally.problems, tally.total
    for record in records:
        _derive_in_stock(record.values)
    present, notes = _survey(layout, records)
    _convert_numbers(layout, records)
    return _parsed(layout, records, problems, total, present, notes, value_notes, len(records))


def survey_records(layout: Layout, rows: Rows, on_record: Callable[[Record], None] | None = None) -> Parsed:
    """First pass of a streaming read: the row problems, the product count, each extra column's kind and the
    schema, keeping no records (memory grows with product ids, not with the catalogue's values). on_record sees
    every record as it is read (the catalogue gathers which ids look their photo up by name)."""
    seen = on_record or (lambda record: None)
    if layout.format == "shopify":  # products are grouped by Handle across the file: read whole
        parsed = read_records(layout, rows)
        for record in parsed.records:
            seen(record)
        return parsed
    value_notes = ValueNotes()
    tally = Tally(value_notes)

    def surveyed(record: Record) -> Record:
        seen(record)
        return _with_in_stock(record)

    present, notes = _survey(layout, (surveyed(r) for r in _one_product_per_row(layout, rows, tally)))
    return _parsed(layout, [], tally.problems, tally.total, present, notes, value_notes, tally.products)


def stream_records(layout: Layout, rows: Rows, tally: "Tally | None" = None) -> Iterator[Record]:
    """Later passes of a streaming read: each record as read_records gives it, with the kinds that
    survey_records chose (so extra number columns are floats); problems were reported by the survey, and the
    tally lets the caller check this pass read as many rows and products."""
    for record in _one_product_per_row(layout, rows, tally if tally is not None else Tally()):
        _derive_in_stock(record.values)
        _convert_numbers(layout, (record,))
        yield record


class ValueNotes(list):
    """Notes on single values: the first MAX_VALUE_NOTES kept, the rest only counted (a feed with a bad price in
    every row must not hold a million notes)."""

    def __init__(self):
        super().__init__()
        self.more = 0

    def append(self, note) -> None:
        if len(self) < MAX_VALUE_NOTES:
            super().append(note)
        else:
            self.more += 1


class Tally:
    """What a pass over the rows counts besides records: data rows, products, problems, value notes."""

    def __init__(self, value_notes: list | None = None):
        self.total = 0
        self.products = 0
        self.problems: list[RowProblem] = []
        self.value_notes = value_notes if value_notes is not None else ValueNotes()


def _derive_in_stock(values: dict) -> None:
    if IN_STOCK not in values and values.get(INVENTORY) is not None:
        values[IN_STOCK] = YES if values[INVENTORY] > 0 else NO


def _with_in_stock(record: Record) -> Record:
    _derive_in_stock(record.values)
    return record


def _survey(layout: Layout, records: Iterable[Record]) -> tuple[set[str], list[str]]:
    """One look at every record: the keys present, and each extra column's kind (kept in layout.kinds)."""
    surveys = {key: ColumnSurvey(layout.header[i]) for i, key in layout.extras.items()}
    present: set[str] = set()
    for record in records:
        present.update(record.values)
        for key, survey in surveys.items():
            if key in record.values:
                survey.add(record.values[key])
    notes = []
    for key, survey in surveys.items():
        if not survey.count:
            continue
        kind, note = survey.kind()
        layout.kinds[key] = kind
        if note:
            notes.append(note)
    return present, notes


def _convert_numbers(layout: Layout, records: Iterable[Record]) -> None:
    """Extra columns the survey found numeric become floats (finite: ColumnSurvey counted each a number)."""
    numbers = [key for key in layout.extras.values() if layout.kinds.get(key) == "number"]
    for record in records:
        for key in numbers:
            if key in record.values:
                record.values[key] = parse_number(record.values[key])


def _parsed(layout: Layout, records: list[Record], problems: list[RowProblem], total: int, present: set[str],
            type_notes: list[str], value_notes: list, products: int) -> Parsed:
    notes = list(layout.notes) + type_notes
    notes += [f"row {row}, product {pid}: {what}" for row, pid, what in value_notes[:MAX_VALUE_NOTES]]
    more = len(value_notes) - MAX_VALUE_NOTES + getattr(value_notes, "more", 0)
    if more > 0:
        notes.append(f"... and {more} more values that could not be read")
    report = FieldReport(layout.format, layout.described, _schema(layout, present), notes)
    return Parsed(records, sorted(problems, key=lambda p: p.row), total, report, products)


def row_key(fields: list[str] | None, problem: str | None, header: list[str], key_col: int
            ) -> tuple[str, str | None, ProblemKind | None]:
    """A row's key (product id or handle), its problem and the problem's kind: unreadable (as read, or the wrong
    number of fields), or no key."""
    key = fields[key_col].strip() if fields is not None and len(fields) > key_col else ""
    if problem is not None:
        return key, problem, ProblemKind.UNREADABLE_ROW
    if len(fields) != len(header):
        return key, f"unreadable CSV row: expected {len(header)} fields, found {len(fields)}", ProblemKind.UNREADABLE_ROW
    if not key:
        return key, f"empty {header[key_col]}", ProblemKind.MISSING_KEY
    return key, None, None


def _one_product_per_row(layout: Layout, rows: Rows, tally: Tally) -> Iterator[Record]:
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
                direct, implied = role_values(role, raw, layout.format, header[i])
            except ValueError as exc:
                value_notes.append((line, product_id, f"{role} {shown(raw)} {exc}; kept without it"))
                continue
            values.update(direct)
            derived.update(implied)
        for key, value in derived.items():
            values.setdefault(key, value)
        values.update((key, fields[i].strip()) for i, key in layout.extras.items() if fields[i].strip())
        images = tuple(fields[i].strip() for i in (layout.roles.get(IMAGE), layout.image_fallback) if i is not None)
        tally.products += 1
        yield Record(line, product_id, values, images)


def role_values(role: str, raw: str, fmt: str, header: str) -> tuple[dict, dict]:
    """(values, implied values) of one non-empty cell in a role; ValueError says what is wrong with it."""
    if role in (PRICE, SALE_PRICE):
        amount, currency = parse_price(raw)
        return {role: amount}, ({CURRENCY: currency} if currency else {})
    if role in NUMBER_ROLES:
        return {role: parse_number(raw)}, {}
    if role == IN_STOCK:
        return {role: YES if parse_availability(raw) else NO}, {}
    if role == COLOUR:  # Google separates a multi-colour product's colours with '/'
        colours = split_list(raw, "/") if fmt == "google" else [raw]
        return ({role: colours} if colours else {}), {}
    if role == TAGS:
        tags = split_list(raw)
        return ({role: tags} if tags else {}), {}
    if role == PRODUCT_TYPE and fmt == "google" and ">" in raw:  # 'Apparel > Women > Dresses'
        return {}, category_levels(raw)
    if role == DESCRIPTION and "html" in column_key(header):
        text = html_to_text(raw)
        return ({role: text} if text else {}), {}
    return {role: raw}, {}


def _schema(layout: Layout, present: set[str]) -> Schema:
    """The six standard filters always, first and in order; then the roles and columns this file has."""
    keyword = list(STANDARD_FILTERS) + [r for r in dict.fromkeys((*KEYWORD_ROLES, IN_STOCK))
                                        if r not in STANDARD_FILTERS and r in present]
    number = [r for r in NUMBER_ROLES if r in present]
    text = [r for r in TEXT_ROLES if r in present]
    by_kind = {"keyword": keyword, "number": number, "text": text}
    listed = {*keyword, *number, *text}
    for key, kind in layout.kinds.items():
        if key in present and key not in listed:
            by_kind[kind].append(key)
            listed.add(key)
    return Schema(tuple(keyword), tuple(number), tuple(text), (IN_STOCK,) if IN_STOCK in present else ())
