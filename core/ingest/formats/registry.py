"""The catalogue formats by name, which one a header is, and plan_layout: a header (and the user's column mapping)
-> the Layout every later read follows."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from core.common.errors import CatalogError
from core.common.fields import DISCOUNT, IMAGE_URL, ON_SALE, PHOTOS, RESERVED_KEYS, ROLES, SKU, VARIANTS
from core.ingest.formats.fashion import FASHION
from core.ingest.formats.generic import GENERIC, SYNONYMS
from core.ingest.formats.google import GOOGLE
from core.ingest.formats.layout import Format, Layout, field_key, first_column_by_key
from core.ingest.formats.shopify import SHOPIFY
from core.ingest.values import column_key

DETECTED = (FASHION, SHOPIFY, GOOGLE, GENERIC)  # tried in this order; generic takes any header
FORMAT_BY_NAME = {f.name: f for f in DETECTED}
FORMATS = ("auto", *FORMAT_BY_NAME)  # what a caller may ask for: auto, fashion, shopify, google, generic
MAX_COLUMNS = 5_000  # far more than any shop export has (Shopify's has about 50); a wider header is not a catalogue
MAX_NAMED = 20  # names listed in one message; 4,990 duplicate headers made a 15 KB error box
# Payload keys the reading works out itself; an extra column named like one keeps its data under <key>_column.
DERIVED = {SKU: "the variants' SKUs", VARIANTS: "the variant rows", PHOTOS: "the photo columns",
           ON_SALE: "price and compare_at_price", DISCOUNT: "price and compare_at_price"}


def format_of(layout: Layout) -> Format:
    """The format a planned layout reads its rows with."""
    return FORMAT_BY_NAME[layout.format]


def detect_format(header: Iterable[str]) -> str:
    """'fashion', 'shopify', 'google' or 'generic', from the header alone."""
    keys = {column_key(h) for h in header}
    return next(f.name for f in DETECTED if f.matches(keys))


def parse_columns(text: str | None) -> dict[str, str]:
    """'product_id=SKU,title=Name' -> {'product_id': 'SKU', 'title': 'Name'}; a header cannot contain a comma."""
    return parse_mapping(text, ROLES)


def parse_mapping(text: str | None, roles: Iterable[str], example: str = "product_id=SKU,title=Name",
                  called: str = "the column mapping") -> dict[str, str]:
    """'role=Header,role=Header' -> {role: header}, roles lower-cased; CatalogError for a part that is not
    role=Header, a role not in `roles`, or a role named twice. `example` and `called` are for the messages (a
    search log's mapping has its own roles). A header cannot contain a comma."""
    roles = tuple(roles)
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, header = (s.strip() for s in part.partition("="))
        if not sep or not role or not header:
            raise CatalogError(f"column mapping {part.strip()!r} must look like role=Column, as in {example}")
        check_role(role.lower(), roles, called)
        if role.lower() in out:
            raise CatalogError(f"column mapping names {role.lower()} twice")
        out[role.lower()] = header
    return out


def check_role(role: str, roles: Iterable[str] = ROLES, called: str = "the column mapping") -> None:
    """CatalogError naming the roles when `role` is not one of them."""
    roles = tuple(roles)
    if role not in roles:
        raise CatalogError(f"unknown role {role!r} in {called}; roles: {', '.join(roles)}")


def columns_found(header: list[str], delimiter_name: str) -> str:
    """'3 column(s) found (comma-separated): a, b, c', the first 30 columns named: what error messages show."""
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

    The user's column mapping is applied first; the format fills in the rest. Time is linear in the header's
    width (sets and counts, never a list searched per column)."""
    check_width(header)
    if format not in FORMATS:
        raise CatalogError(f"unknown catalogue format {format!r}; formats: {', '.join(FORMATS)}")
    layout = Layout(detect_format(header) if format == "auto" else format, header,
                    columns_found(header, delimiter_name))
    by_key = first_column_by_key(header)
    columns = parse_columns(columns) if isinstance(columns, str) else dict(columns or {})
    for role, name in columns.items():
        check_role(role)
        i = by_key.get(column_key(name))
        if i is None:
            raise CatalogError(f"column mapping {role}={name}: the catalogue has no column {name!r}; {layout.found}")
        if i in layout.roles.values():
            raise CatalogError(f"column {name!r} is mapped to two roles; map each column once")
        layout.roles[role] = i
    format_of(layout).plan(layout, by_key)
    taken = set(layout.roles.values()) | {layout.image_fallback} | layout.used
    for i, name in enumerate(header):
        if i not in taken and i not in layout.extras:
            layout.extras[i] = field_key(name, i)
    _rekey_displaced(layout, columns)
    _rekey_derived(layout)
    _refuse_clashes(layout)
    return layout


def _rekey_derived(layout: Layout) -> None:
    """An extra column named like a key the reading works out (a 'Discount' column) steps aside as <key>_column."""
    _step_aside(layout, set(DERIVED), {*DERIVED}, lambda key: f"{key} is worked out from {DERIVED[key]}")


def _rekey_displaced(layout: Layout, columns: dict[str, str]) -> None:
    """An extra column named like a role the user's mapping gave to another column keeps its data as <role>_column.

    Mapping title=Name takes the role from a column headed 'Title', which then stays an extra column; under its
    own key, 'title', it would overwrite the title the user chose. A user correcting the mapping in the app
    cannot rename the file's columns, so the column steps aside rather than refusing the file. A clash nobody
    mapped (a fashion file with both ProductTitle and Title) is still refused by _refuse_clashes.
    """
    mapped = {role for role in columns if role in layout.roles}
    _step_aside(layout, mapped, set(),
                lambda key: f"the column mapping gives {key} to '{layout.header[layout.roles[key]]}'")


def _step_aside(layout: Layout, keys: set[str], also_taken: set[str], why) -> None:
    """Extra columns whose key is one of keys are kept as <key>_column (or _column_2...), with a note saying why."""
    taken = {*layout.roles, *RESERVED_KEYS, IMAGE_URL, *layout.kinds, *layout.extras.values(), *also_taken}
    for i, key in sorted(layout.extras.items()):
        if key not in keys:
            continue
        new, n = f"{key}_column", 2
        while new in taken:
            new, n = f"{key}_column_{n}", n + 1
        layout.extras[i] = new
        taken.add(new)
        layout.notes.append(f"column '{layout.header[i]}' is kept as {new}: {why(key)}")


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


def _some(names: list[str]) -> str:
    """'a, b, c', or the first MAX_NAMED and '... and N more'."""
    more = f", ... and {len(names) - MAX_NAMED:,} more" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def guess_roles(header: list[str], format: str, columns: dict[str, str]) -> dict[str, str]:
    """role -> header, a starting point for a file that cannot be planned as it is (the mapping step shows it to be
    corrected): the user's columns, then the format's own column names, then headers by their usual names.

    Only a guess: plan_layout refuses this file until it is fixed."""
    by_key = first_column_by_key(header)
    roles: dict[str, int] = {}
    for role, name in columns.items():
        i = by_key.get(column_key(name))
        if i is not None and i not in roles.values():
            roles[role] = i
    known = FORMAT_BY_NAME.get(format)  # the format may be one plan_layout refused as unknown
    for role, keys in (*(known.hints if known else ()), *SYNONYMS.items()):
        if role in roles:
            continue
        for key in keys:
            i = by_key.get(key)
            if i is not None and i not in roles.values():
                roles[role] = i
                break
    return {role: header[i] for role, i in roles.items()}
