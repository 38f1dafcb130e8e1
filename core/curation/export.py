"""Every CSV the app exports: one safe cell (no formula runs in a spreadsheet), one column order, one BOM."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Iterable

from core.common import fields as F

# Board fields: what a board adds beside the catalogue's attributes (the similarity when added, and when).
BOARD_FIELDS = ("score", "added_at")
# Exports start with a UTF-8 byte order mark: without it Excel reads the file as the local code page and shows
# "RÃ©sumÃ©" for an accented title. Every other reader we know (pandas, Sheets, Numbers) skips it.
EXCEL_BOM = "\ufeff"
# Keys the index adds that mean nothing in a spreadsheet: the server's local photo path and bookkeeping.
NOT_EXPORTED = F.RESERVED_KEYS


# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, nothing around it: no spaces, tabs, "inf" or "nan", which float() would accept.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value) -> str:
    """A value as an export cell, with a leading quote on anything a spreadsheet would run as a formula.

    A cell that is entirely a number ("-0.1234", the score we format, or a catalogue price "-5") is left alone:
    a spreadsheet reads it as that number and runs nothing, and a quote would turn it into text that no longer
    sums or sorts. Anything else that starts with a trigger (`=1+1`, `-2+cmd|' /C calc'!A0`, `@SUM(A1)`) gets
    the quote, which spreadsheets show as text and hide in the cell.
    """
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def export_columns(rows: list[dict], board_fields=BOARD_FIELDS) -> list[str]:
    """Every column the rows carry: id and title, the canonical roles in their order, the photo's URL, the
    catalogue's own columns (alphabetically), then the board fields. Internal keys are never exported."""
    present = {k for row in rows for k in row} - {*NOT_EXPORTED, F.PRODUCT_ID, F.TITLE, *board_fields}
    roles = [k for k in F.ROLES if k in present]
    image_url = [F.IMAGE_URL] if F.IMAGE_URL in present else []
    own = sorted(present - set(roles) - set(image_url))
    return [F.PRODUCT_ID, F.TITLE, *roles, *image_url, *own, *board_fields]


def export_value(value) -> str:
    """A payload value as a spreadsheet reads it: lists as "a, b", yes/no, numbers without thousands separators
    (display_value's "1,299.00" would be text, or two cells, to a spreadsheet), anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return F.YES if value else F.NO
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(export_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def rows_csv(rows: list[dict], board_fields=BOARD_FIELDS) -> str:
    """CSV of product rows: export_columns' columns, every value as a safe cell, with the BOM."""
    columns = export_columns(rows, board_fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: csv_cell(export_value(v)) for k, v in row.items() if k in columns} for row in rows)
    return EXCEL_BOM + buf.getvalue()


def _score(score: float | None) -> str:
    return "" if score is None else f"{score:.4f}"


def board_csv(board) -> str:
    """CSV of a board: every catalogue attribute its items carry, the score when added, and when."""
    return rows_csv([{**item.attributes, "product_id": item.product_id, "title": item.title, "score": _score(item.score),
                  "added_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.added_at))}
                 for item in board.items])


def selection_csv(results) -> str:
    """CSV of search results or a map selection: the same columns as a board export, less "added_at"."""
    return rows_csv([{**r.payload, "product_id": r.product_id, "title": r.title, "score": _score(r.score)}
                 for r in results], board_fields=("score",))


def table_csv(header: Iterable[str], rows: Iterable[Iterable]) -> str:
    """CSV of a plain table (audit decisions, gaps): the header, then every value as a safe cell, with the BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(list(header))
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return EXCEL_BOM + buf.getvalue()
