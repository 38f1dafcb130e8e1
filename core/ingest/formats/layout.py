"""The vocabulary every catalogue format shares: a header's Layout, a row's Record or RowProblem (with its kind),
the Format a format module provides, and the helpers that name extra columns, read row keys and single cells."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Iterable, Iterator

from core.common.fields import (COLOUR, CURRENCY, DESCRIPTION, FIELD_NAME, IMAGE, IMAGE_URL, IN_STOCK, NO, NUMBER_ROLES,
                                PRICE, SALE_PRICE, STATUS, TAGS, YES)
from core.ingest.values import column_key, html_to_text, parse_availability, parse_number, parse_price, split_list

Rows = Iterator[tuple[int, "list[str] | None", "str | None"]]  # (line, fields, problem) from core.ingest.catalog
MAX_VALUE_NOTES = 50  # per catalogue; a feed with a bad price in every row says so 50 times, then counts

NOT_WORD_RUN = re.compile(r"[^0-9A-Za-z]+")
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(name: str) -> str:
    """'SubCategory' -> 'sub_category', 'Season Year' -> 'season_year'."""
    name = NOT_WORD_RUN.sub("_", name.strip())
    name = CAMEL_HUMP.sub("_", name)
    return name.strip("_").lower()


def first_column_by_key(header: list[str]) -> dict[str, int]:
    """column_key -> the first column that has it ('Title' and 'title' both read as 'title'; the first wins)."""
    by_key: dict[str, int] = {}
    for i, name in enumerate(header):
        by_key.setdefault(column_key(name), i)
    return by_key


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
    """One product's typed values (payload keys) and its photo references as the feed gives them (file name or URL):
    images, the hero's, best first (a fallback is the same photo another way); photos, every photo of the product,
    the hero's first, deduplicated, in the feed's order (capped by the reading, with a note)."""

    row: int
    product_id: str
    values: dict
    images: tuple[str, ...] = ()
    photos: tuple[str, ...] = ()


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
    # Shopify option names already noted as not kept, so each is said once (searching the growing notes for it,
    # once per product, was quadratic).
    options_not_kept: set[str] = field(default_factory=set)
    explained: dict[str, str] = field(default_factory=dict)  # role -> in words, where a format works it out itself
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # such a role -> the columns it came from
    # Columns holding more photos than the hero (Google's additional_image_link, a generic 'images' or 'image_2'),
    # in header order, each with whether its cell is a list of references (else one reference).
    photo_columns: list[tuple[int, bool]] = field(default_factory=list)
    sku_column: int | None = None  # a product-level SKU column that is not the product id (read into the sku list)
    max_photos: int = 10           # photos kept per product (Settings.max_photos; the caller sets it)

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
    """What a pass over the rows counts besides records: data rows, products, problems, value notes (each a
    (row, product id, what was wrong with one value))."""

    def __init__(self, value_notes: list | None = None):
        self.total = 0
        self.products = 0
        self.problems: list[RowProblem] = []
        self.value_notes = value_notes if value_notes is not None else ValueNotes()


CellValues = Callable[[str, str, str], "tuple[dict, dict]"]  # (role, raw cell, header) -> (values, implied values)


@dataclass(frozen=True)
class Format:
    """What one catalogue format provides, so that code reading a catalogue never asks which format it is: whether
    a header is its, how it plans the roles of a header, and how it reads rows into records."""

    name: str
    matches: Callable[[set[str]], bool]              # the header's column keys are this format's
    plan: Callable[[Layout, dict[str, int]], None]   # fills a layout from column key -> first column; CatalogError
    read: Callable[[Layout, Rows, Tally], Iterable[Record]]  # counts rows, products and problems in the tally
    # A product gathers rows from anywhere in the file (Shopify's Handle): the file is read whole, once, and its
    # records kept, never streamed again.
    reads_whole: bool = False
    # Some roles are worked out from the rows (Shopify's colour is whichever option each product names Color), so
    # a preview reads rows to say where they come from.
    explains_from_rows: bool = False
    # role -> header keys, best first, tried before the synonyms when a file that cannot be planned is guessed at.
    hints: tuple[tuple[str, tuple[str, ...]], ...] = ()


def row_key(fields: list[str] | None, problem: str | None, header: list[str], key_col: int
            ) -> tuple[str, str | None, ProblemKind | None]:
    """A row's key (product id or handle), its problem and the problem's kind: unreadable (as read, or the wrong
    number of fields), or no key."""
    key = fields[key_col].strip() if fields is not None and len(fields) > key_col else ""
    if problem is not None:
        return key, problem, ProblemKind.UNREADABLE_ROW
    if len(fields) != len(header):
        return (key, f"unreadable CSV row: expected {len(header)} fields, found {len(fields)}",
                ProblemKind.UNREADABLE_ROW)
    if not key:
        return key, f"empty {header[key_col]}", ProblemKind.MISSING_KEY
    return key, None, None


def role_values(role: str, raw: str, header: str) -> tuple[dict, dict]:
    """(values, implied values) of one non-empty cell in a role, as every format reads it unless it says otherwise
    (Google's colours and product types); ValueError says what is wrong with it."""
    if role in (PRICE, SALE_PRICE):
        amount, currency = parse_price(raw)
        return {role: amount}, ({CURRENCY: currency} if currency else {})
    if role in NUMBER_ROLES:
        return {role: parse_number(raw)}, {}
    if role == IN_STOCK:
        return {role: YES if parse_availability(raw) else NO}, {}
    if role == COLOUR:
        return {role: [raw]}, {}
    if role == STATUS:  # 'Archived' and 'archived' are one status: HIDDEN_STATUSES are compared in lower case
        return {role: raw.lower()}, {}
    if role == TAGS:
        tags = split_list(raw)
        return ({role: tags} if tags else {}), {}
    if role == DESCRIPTION and "html" in column_key(header):
        text = html_to_text(raw)
        return ({role: text} if text else {}), {}
    return {role: raw}, {}
