"""A catalogue's mapping before indexing: its header, first rows, detected format and role -> column plan.

Read from the head of the file only (a catalogue may be hundreds of megabytes; the mapping step reruns on every
click), and planned by core.ingest.formats.plan_layout, the very function the indexer calls, so the mapping shown is
the mapping used when the same format and columns are passed to core.index.indexer.index_catalog.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from core.common.errors import CatalogError
from core.common.fields import COLOUR, IMAGE_URL
from core.ingest.catalog import BOMS, DELIMITER_NAMES, check_inputs, decode_catalog, sniff_delimiter
from core.ingest.formats import check_width, detect_format, explain_from_rows, field_key, guess_roles, plan_layout

HEAD_BYTES = 1 << 20  # enough for the header and PREVIEW_ROWS rows of any sane catalogue
PREVIEW_ROWS = 5      # rows shown; a role a format works out from the rows (Shopify's colour) reads every row of
                      # the head


@dataclass
class MappingPreview:
    """What indexing a file with a format and column mapping would do with its columns, and a first look at it.

    problem is the CatalogError message the indexer would raise for this plan (no product id column, a required
    fashion column missing, a mapping that clashes), or None; when it is set, mapping is a best guess to start
    correcting from, not a plan.
    """

    name: str
    header: list[str]
    rows: list[list[str]]
    detected: str                      # detect_format(header): what 'auto' means for this file
    format: str                        # the format the plan used
    mapping: dict[str, str]            # role -> header
    fallback_image: str | None = None  # a second photo column (ImageURL beside Image)
    extras: dict[str, str] = field(default_factory=dict)  # header -> field key, columns kept beside the roles
    found: str = ""
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    truncated: bool = False            # only the head of the file was read
    explained: dict[str, str] = field(default_factory=dict)  # role -> in words (Shopify's colour and photos), as
                                                             # the report will say it, from the head's rows


def preview_mapping(csv_path: Path, format: str = "auto", columns: dict[str, str] | None = None,
                    name: str | None = None) -> MappingPreview:
    """The preview of a catalogue file on this machine; raises CatalogError when it has no readable header."""

    csv_path = Path(csv_path)
    check_inputs(csv_path, None)  # a folder or a missing file: the indexer's own words
    try:
        with open(csv_path, "rb") as fh:
            raw = fh.read(HEAD_BYTES + 1)
    except OSError as exc:
        raise CatalogError(f"catalogue file cannot be read: {name or csv_path}: {exc.strerror or exc}") from None
    return preview_bytes(raw, name or str(csv_path), format, columns)


def preview_bytes(raw: bytes, name: str, format: str = "auto", columns: dict[str, str] | None = None,
                  head_bytes: int = HEAD_BYTES) -> MappingPreview:
    """The preview of a catalogue's first bytes (an upload's head); more than head_bytes means a cut file."""
    truncated = len(raw) > head_bytes
    text = _head_text(raw[:head_bytes], name) if truncated else decode_catalog(raw, name)
    delimiter = sniff_delimiter(text)
    header, rows = _head_rows(text, delimiter)  # every row of the head
    if header is None:
        raise CatalogError(f"catalogue is empty or has no header row: {name}")
    # before a picker lists every column; a head that ends inside the header has not seen all of it
    check_width(header, cut=truncated and not rows and not text.endswith(("\n", "\r")))
    columns = dict(columns or {})
    preview = MappingPreview(name, header, rows[:PREVIEW_ROWS], detect_format(header), format, {},
                             truncated=truncated)
    try:
        layout = plan_layout(header, DELIMITER_NAMES[delimiter], format, columns)
    except CatalogError as exc:
        preview.problem = str(exc)
        preview.format = preview.detected if format == "auto" else format
        preview.mapping = guess_roles(header, preview.format, columns)
        preview.extras = {h: field_key(h, i) for i, h in enumerate(header) if h not in preview.mapping.values()}
        return preview
    notes = list(layout.notes)  # the plan's notes; the head's rows are not the whole file, their notes are not kept
    explain_from_rows(layout, iter((n + 2, row, None) for n, row in enumerate(rows)))
    preview.explained = dict(layout.explained)
    if truncated and COLOUR in preview.explained:  # the products past the head may name another option
        preview.explained[COLOUR] += f" (read in the first {len(rows):,} rows)"
    mapping = layout.mapping
    if len(layout.sources.get(COLOUR, ())) == 1:  # one option column holds colour in the first rows: show it
        mapping[COLOUR] = layout.sources[COLOUR][0]
    preview.fallback_image = mapping.pop(IMAGE_URL, None)
    preview.format, preview.mapping, preview.found, preview.notes = layout.format, mapping, layout.found, notes
    preview.extras = {header[i]: key for i, key in sorted(layout.extras.items())}
    return preview


def _head_text(raw: bytes, name: str) -> str:
    """Text of a file's first bytes, where the cut may fall inside a character or a row."""
    for bom, encoding in BOMS:
        if raw.startswith(bom) and encoding != "utf-8":
            try:  # an incremental decoder holds back a character the cut split in two
                return codecs.getincrementaldecoder(encoding)().decode(raw[len(bom):])
            except UnicodeDecodeError as exc:
                raise CatalogError(f"catalogue {name} starts with a {encoding} byte-order mark but is not valid "
                                   f"{encoding} ({exc.reason}); save it as UTF-8") from None
    cut = raw.rfind(b"\n")  # UTF-8: a newline byte is never inside a character
    return decode_catalog(raw[:cut + 1] if cut > 0 else raw, name)


def _head_rows(text: str, delimiter: str) -> tuple[list[str] | None, list[list[str]]]:
    """The header (stripped, as the indexer strips it) and the non-blank rows after it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, rows = None, []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [h.strip() for h in fields]
            else:
                rows.append(fields)
    except csv.Error:  # a broken row (or the cut) ends the preview; the indexer reports each broken row
        pass
    return header, rows
