"""export-fixes: every accepted enrichment and audit change still standing, written back in the shop's own update
format (a Merchant Center supplemental feed, a Shopify product CSV), with formula injection neutralised.

What a value is: the product's stored value of the field (the index applies every decision to it), so a list field
is written whole (a colour change on a two-colour product writes both colours, Shopify's Tags the full tag list).

Why unchanged cells are filled and never left empty: one file holds the union of the changed columns, and an empty
cell in an update is not "no change" everywhere. Shopify's importer, overwriting products with matching handles,
clears a value whose cell is empty in a column the file has; Merchant Center may take a supplemental feed's empty
value as the attribute's. So a product with no change in a column gets its current stored value there, which is
what it reads now. So a field whose exact value the index does not keep is not written: Shopify's Body (HTML) (the
index keeps its text, without the markup) is left out with a note.

Only a fixed value is ever quoted on the way out: one that starts like a formula (= + - @) gets a leading quote, so
no spreadsheet opening the file runs it, and the report names it. Every other cell is shop data the fix did not
touch (the key, Shopify's required Title, the current values filling the other columns), which an import must get
back exactly: quoted, a Google id '-A12' would match no product of the primary feed and a title '-50% Tee' would be
imported as "'-50% Tee". A product with such a cell is left out of the file with a note naming it: its fix cannot be
written safely, and the merchant makes it in the shop's admin. (A Google cell's tabs and line breaks become spaces,
fixed or not: a TSV cell cannot hold them.)

Products no longer in the index (deleted since the decision) are left out with a note: Shopify's importer would
create a new product from a handle it does not know, and Merchant Center ignores an id its primary feed lacks.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from core.common.errors import LensError
from core.common.fields import (BRAND, CATEGORY, COLOUR, DESCRIPTION, FIELD_NAME, GENDER, PRODUCT_TYPE, RESERVED_KEYS,
                                ROLES, SUB_CATEGORY, TAGS, TITLE, values_of)
from core.common.files import atomic_write
from core.curation.export import csv_cell
from core.index.store import point_id
from core.ingest.formats.shopify import METAFIELD_ROLES
from core.insights.audit_decisions import CHANGE, AuditDecisions
from core.insights.enrich_decisions import EnrichmentDecisions

GOOGLE, SHOPIFY = "google", "shopify"
FORMATS = (GOOGLE, SHOPIFY)
KEY = {GOOGLE: "id", SHOPIFY: "Handle"}  # the column each format finds the product by
ALWAYS = {GOOGLE: ("id",), SHOPIFY: ("Handle", "Title")}  # every row's first columns (Shopify's importer needs Title)
BATCH = 1000  # products retrieved from the store at once
NOTED = 10    # ids named in one note; more are counted

# Merchant Center's attribute for each of our fields (its product data specification's names). Our three category
# levels are the shop's own category path, Google's product_type ('Apparel > Dresses > Maxi'): our Google reader
# reads such a path back as category, sub-category and product type. google_product_category takes Google's own
# taxonomy only, which our labels are not.
GOOGLE_ATTRIBUTES = {TITLE: "title", DESCRIPTION: "description", BRAND: "brand", COLOUR: "color", GENDER: "gender",
                     CATEGORY: "product_type", SUB_CATEGORY: "product_type", PRODUCT_TYPE: "product_type",
                     "age_group": "age_group", "size": "size", "size_type": "size_type", "size_system": "size_system",
                     "pattern": "pattern", "material": "material", "condition": "condition"}
GOOGLE_ORDER = ("title", "description", "brand", "product_type", "color", "gender", "age_group", "size", "size_type",
                "size_system", "pattern", "material", "condition")
CATEGORY_PATH = (CATEGORY, SUB_CATEGORY, PRODUCT_TYPE)

# Shopify's own product columns; any other field goes to a metafield column in the 'custom' namespace, which
# Shopify's importer fills once the merchant has defined it (Settings > Custom data > Products). A metafield keeps
# the attribute's name, where a tag would mix 'Striped' among the shop's other tags.
SHOPIFY_COLUMNS = {TITLE: "Title", BRAND: "Vendor", PRODUCT_TYPE: "Type", TAGS: "Tags"}
SHOPIFY_ORDER = ("Title", "Vendor", "Type", "Tags")
LEFT_OUT = {
    (SHOPIFY, DESCRIPTION): "Shopify's Body (HTML) holds markup the index does not keep, so writing its text back "
                            "would drop the formatting; fix it in Shopify",
}


class ExportError(LensError):
    """An export that cannot be written (an unknown format, an output path that is a folder)."""


@dataclass
class ExportReport:
    """What export_fixes wrote: the file, its rows (one per product) and columns, each (product id, column) whose
    fixed value started like a formula and was written with a leading quote, what was left out, in words, and each
    product left out because a cell that is not its fix would have needed that quote (product id, that column)."""

    format: str
    out: str
    rows: int
    columns: list[str]
    neutralised: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": self.format, "out": self.out, "rows": self.rows, "columns": list(self.columns),
                "neutralised": [{"product_id": p, "column": c} for p, c in self.neutralised],
                "notes": list(self.notes),
                "left_out": [{"product_id": p, "column": c} for p, c in self.left_out]}


@dataclass(frozen=True)
class Fix:
    """One decided value: the product's `field` should read `value` (an audit change's new label, or an accepted
    enrichment)."""

    product_id: str
    field: str
    value: str


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise ExportError(f"export-fixes writes {' or '.join(FORMATS)}, not {format!r}")
    return format


def decided_fixes(data_dir: Path) -> list[Fix]:
    """Every audit change and accepted enrichment on record, oldest first within each."""
    audit = [Fix(d.product_id, d.field, d.new_label) for d in AuditDecisions(data_dir).all() if d.verdict == CHANGE]
    accepted = [Fix(a.product_id, a.attribute, a.value) for a in EnrichmentDecisions(data_dir).accepted()]
    return audit + accepted


def column_of(format: str, name: str) -> str | None:
    """The column a field is written to in this format, or None when the format has no place for it."""
    if (format, name) in LEFT_OUT:
        return None
    if format == GOOGLE:
        return GOOGLE_ATTRIBUTES.get(name)
    if name in SHOPIFY_COLUMNS:
        return SHOPIFY_COLUMNS[name]
    # a role our Shopify reader takes from a metafield (colour, category...), or a field of the catalogue's own; any
    # other role (a price, the status) has Shopify columns of its own, which an attribute fix never writes
    if name in METAFIELD_ROLES or (name not in ROLES and name not in RESERVED_KEYS and FIELD_NAME.match(name)):
        return f"{name.replace('_', ' ').capitalize()} (product.metafields.custom.{name})"
    return None


def export_fixes(data_dir: Path, store, format: str, out: Path) -> ExportReport:
    """Write every standing fix as `format`'s update file at `out` (atomically): one row per product, the key column
    (Google's id, Shopify's Handle and the Title its importer requires), then the changed columns. No fix: the
    header alone, and the store is not read. A product whose key, Title or unchanged cell would need a quote is
    left out with a note (the module docstring says why)."""
    check_format(format)
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"{out} is a folder: name the file to write, as --out fixes.{_suffix(format)}")
    fixes = decided_fixes(data_dir)
    if fixes and store is None:
        raise ExportError("there are fixes to write, and writing them needs the index: open it and try again")
    payloads = _stored(store, {f.product_id for f in fixes}) if fixes else {}
    notes: list[str] = []
    columns_by_product, changed = _columns(format, fixes, payloads, notes)
    left_out: dict[str, str] = {}
    while True:  # leaving a product out may drop a column only it had; the rest are checked again without it
        columns = _header(format, columns_by_product)
        sources = {c: [f for f in changed if column_of(format, f) == c] for c in columns}
        rows, neutralised, unsafe = _rows(format, columns, sources, columns_by_product, payloads)
        if not unsafe:
            break
        # a product's own key or Title rules it out whatever else is written; an unchanged cell only while another
        # product's fix keeps its column in the file, so those are judged again once the first are out
        own = {p: c for p, c in unsafe.items() if c in ALWAYS[format]}
        for product_id, column in (own or unsafe).items():
            left_out[product_id] = column
            del columns_by_product[product_id]
    notes.extend(_left_out_notes(format, left_out))
    try:
        atomic_write(out, _table(columns, rows, "\t" if format == GOOGLE else ","))
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}; choose a folder you can write to") from None
    return ExportReport(format, str(out), len(rows), columns, neutralised, notes, sorted(left_out.items()))


def _header(format: str, columns_by_product: dict[str, set[str]]) -> list[str]:
    """The file's columns: the key, then every column a product's fixes write, in the format's order."""
    key = list(ALWAYS[format])
    order = GOOGLE_ORDER if format == GOOGLE else SHOPIFY_ORDER
    used = {c for cols in columns_by_product.values() for c in cols}
    return [*key, *[c for c in order if c in used and c not in key],
            *sorted(c for c in used if c not in order and c not in key)]


def _rows(format: str, columns: list[str], sources: dict[str, list[str]], columns_by_product: dict[str, set[str]],
          payloads: dict[str, dict]) -> tuple[list[list[str]], list[tuple[str, str]], dict[str, str]]:
    """The products' rows, the fixed cells neutralised (product id, column), and product id -> the first column whose
    cell is not a fix and would need a quote: those products must be left out."""
    rows, neutralised, unsafe = [], [], {}
    for product_id in sorted(columns_by_product):
        payload, fixed = payloads[product_id], columns_by_product[product_id]
        row = []
        for column in columns:
            value = product_id if column == KEY[format] else _cell(format, column, sources[column], payload)
            value = _one_line(value) if format == GOOGLE else value
            safe = csv_cell(value)
            if safe != value and column in fixed:
                neutralised.append((product_id, column))
            elif safe != value:
                unsafe.setdefault(product_id, column)
            row.append(safe)
        rows.append(row)
    return rows, neutralised, unsafe


def _left_out_notes(format: str, left_out: dict[str, str]) -> list[str]:
    """One note per column that made products be left out: which, and why quoting that cell is no way out."""
    by_column: dict[str, list[str]] = {}
    for product_id, column in sorted(left_out.items()):
        by_column.setdefault(column, []).append(product_id)
    rank = {column: n for n, column in enumerate(ALWAYS[format])}  # the key, Title, then the other columns
    notes = []
    for column, ids in sorted(by_column.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])):
        if column == KEY[format]:
            why = ("Merchant Center matches a supplemental feed's id to the primary feed's, and a quoted id matches "
                   "none" if format == GOOGLE else
                   "Shopify finds the product by its Handle, and a quoted handle would create a new product")
        elif format == SHOPIFY and column == "Title":
            why = "Shopify's importer requires the Title, and would replace the product's with the quoted one"
        else:
            why = ("the file has this column for other products' fixes, and an import would replace these products' "
                   "own value with the quoted one")
        notes.append(f"{len(ids)} product(s) left out, their fixes not written: their {column} starts with = + - or @, "
                     f"so it would need a leading quote against spreadsheet formulas; {why}. Make these fixes in the "
                     f"shop's admin: {_some(ids)}")
    return notes


def _suffix(format: str) -> str:
    return "tsv" if format == GOOGLE else "csv"


def _stored(store, product_ids: set[str]) -> dict[str, dict]:
    """product id -> stored payload, for those the index still holds."""
    by_point = {point_id(pid): pid for pid in product_ids}
    points = sorted(by_point)
    found: dict[str, dict] = {}
    for start in range(0, len(points), BATCH):
        for hit in store.retrieve(points[start:start + BATCH]):
            found[by_point[hit.id]] = hit.payload
    return found


def _columns(format: str, fixes: list[Fix], payloads: dict[str, dict], notes: list[str]
             ) -> tuple[dict[str, set[str]], set[str]]:
    """product id -> the columns its standing fixes write, and every field written; what is left out goes to
    notes (products no longer indexed, fixes the catalogue has overtaken, fields the format has no place for)."""
    gone = sorted({f.product_id for f in fixes if f.product_id not in payloads})
    if gone:
        notes.append(f"{len(gone)} product(s) with fixes are no longer in the index and were left out (an import "
                     f"would create them anew): {_some(gone)}")
    overtaken, placeless = [], {}
    columns: dict[str, set[str]] = {}
    changed: set[str] = set()
    for fix in fixes:
        payload = payloads.get(fix.product_id)
        if payload is None:
            continue
        if fix.value not in values_of(payload.get(fix.field)):
            overtaken.append(f"#{fix.product_id}'s {fix.field}")
            continue
        column = column_of(format, fix.field)
        if column is None:
            placeless.setdefault(fix.field, []).append(fix.product_id)
            continue
        columns.setdefault(fix.product_id, set()).add(column)
        changed.add(fix.field)
    if overtaken:
        notes.append(f"{len(overtaken)} fix(es) no longer stand (the catalogue reads another value since; the next "
                     f"index run shows it): {_some(overtaken)}")
    for name, ids in sorted(placeless.items()):
        why = LEFT_OUT.get((format, name)) or (
            "Merchant Center has no attribute for it (a feed rule can copy it into a custom_label_N)"
            if format == GOOGLE else "Shopify sets it in its own columns, which an attribute fix never writes")
        notes.append(f"{name} not written for {len(ids)} product(s): {why}")
    return columns, changed


def _cell(format: str, column: str, fields: list[str], payload: dict) -> str:
    """The product's stored value for a column, as the format writes it."""
    if format == GOOGLE and column == "product_type":
        return " > ".join(", ".join(values_of(payload.get(level))) for level in CATEGORY_PATH
                          if values_of(payload.get(level)))
    if format == GOOGLE and column == "color":
        return "/".join(values_of(payload.get(COLOUR)))  # Google separates a product's colours with '/'
    if format == SHOPIFY and column == "Title":
        fields = [TITLE]
    return ", ".join(values_of(payload.get(fields[0]))) if fields else ""


def _one_line(value: str) -> str:
    """A TSV cell cannot hold a tab or a line break: each becomes a space."""
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _table(columns: list[str], rows: list[list[str]], delimiter: str) -> str:
    """The file's text: UTF-8 without a byte order mark (these files are for importers, not spreadsheets)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def _some(items: list[str]) -> str:
    more = f", ... and {len(items) - NOTED} more" if len(items) > NOTED else ""
    return ", ".join(items[:NOTED]) + more
