"""Rows -> typed records and the report of what the columns became, whatever the format: the whole file at once
(read_records), or in streaming passes that keep no records (survey_records, then stream_records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from core.common.fields import (COMPARE_AT_PRICE, DISCOUNT, IN_STOCK, INVENTORY, KEYWORD_ROLES, NO, NUMBER_ROLES,
                                ON_SALE, PRICE, SKU, STANDARD_FILTERS, TEXT_ROLES, YES, FieldReport, Schema)
from core.ingest.formats.layout import MAX_VALUE_NOTES, Layout, Record, RowProblem, Rows, Tally
from core.ingest.formats.registry import format_of
from core.ingest.values import ColumnSurvey, parse_number


@dataclass
class Parsed:
    """A file's records, the rows that gave no product, the data rows read, and what the columns became."""

    records: list[Record]          # empty after survey_records of a streamed format: a streaming read keeps none
    problems: list[RowProblem]
    total_rows: int
    report: FieldReport
    products: int = 0


def read_records(layout: Layout, rows: Rows) -> Parsed:
    """Records, row problems and the field report for a planned layout, the whole file in memory (previews, a
    format read whole, tests); the indexer streams instead with survey_records then stream_records."""
    tally = Tally()
    records = list(format_of(layout).read(layout, rows, tally))
    capped = 0
    for record in records:
        capped += _derive(layout, record)
    present, notes = _survey(layout, records)
    _convert_numbers(layout, records)
    return _parsed(layout, records, tally.problems, tally.total, present, notes + _capped_note(layout, capped),
                   tally.value_notes, len(records))


def survey_records(layout: Layout, rows: Rows, on_record: Callable[[Record], None] | None = None) -> Parsed:
    """First pass of a streaming read: the row problems, the product count, each extra column's kind and the
    schema, keeping no records (memory grows with product ids, not with the catalogue's values). on_record sees
    every record as it is read (the catalogue gathers which ids look their photo up by name).

    A format that reads the file whole (Format.reads_whole: Shopify groups a Handle's rows from across the file)
    is read with read_records, and its records are kept: they are the products, never streamed again."""
    seen = on_record or (lambda record: None)
    if reads_whole(layout):
        parsed = read_records(layout, rows)
        for record in parsed.records:
            seen(record)
        return parsed
    tally = Tally()
    capped = 0

    def surveyed(record: Record) -> Record:
        nonlocal capped
        capped += _derive(layout, record)
        seen(record)
        return record

    present, notes = _survey(layout, (surveyed(r) for r in format_of(layout).read(layout, rows, tally)))
    return _parsed(layout, [], tally.problems, tally.total, present, notes + _capped_note(layout, capped),
                   tally.value_notes, tally.products)


def stream_records(layout: Layout, rows: Rows, tally: Tally | None = None) -> Iterator[Record]:
    """Later passes of a streaming read: each record as read_records gives it, with the kinds that
    survey_records chose (so extra number columns are floats); problems were reported by the survey, and the
    tally lets the caller check this pass read as many rows and products."""
    for record in format_of(layout).read(layout, rows, tally if tally is not None else Tally()):
        _derive(layout, record)
        _convert_numbers(layout, (record,))
        yield record


def reads_whole(layout: Layout) -> bool:
    """True when the layout's format reads the file whole: survey_records keeps its records, and a caller reading
    the products again uses those rather than streaming the file."""
    return format_of(layout).reads_whole


def explain_from_rows(layout: Layout, rows: Rows) -> None:
    """Fill layout.explained and layout.sources from rows (a file's head), for a format that works roles out from
    them (Shopify's colour is whichever option each product names Color); nothing for a format whose columns
    say it all."""
    if format_of(layout).explains_from_rows:
        read_records(layout, rows)


def _derive(layout: Layout, record: Record) -> bool:
    """The values every format works out the same way (in_stock, the sale), and the photos capped at
    layout.max_photos; True when this record had more photos than that."""
    values = record.values
    if IN_STOCK not in values and values.get(INVENTORY) is not None:
        values[IN_STOCK] = YES if values[INVENTORY] > 0 else NO
    _derive_sale(values)
    if len(record.photos) > layout.max_photos:
        record.photos = record.photos[:layout.max_photos]
        return True
    return False


def _derive_sale(values: dict) -> None:
    """on_sale (yes/no, whenever there is a price) and discount (percent, only on sale): a compare-at price above the
    price is a sale; one equal to it or below it is not."""
    price, was = values.get(PRICE), values.get(COMPARE_AT_PRICE)
    if price is None:
        return
    sale = was is not None and was > price
    values[ON_SALE] = YES if sale else NO
    if sale:
        values[DISCOUNT] = round(100 * (was - price) / was, 1)


def _capped_note(layout: Layout, capped: int) -> list[str]:
    if not capped:
        return []
    had = "product had" if capped == 1 else "products had"
    return [f"{capped:,} {had} more than {layout.max_photos} photos; the first {layout.max_photos} are kept"]


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


def _schema(layout: Layout, present: set[str]) -> Schema:
    """The six standard filters always, first and in order; then the roles and columns this file has."""
    keyword = list(STANDARD_FILTERS) + [r for r in dict.fromkeys((*KEYWORD_ROLES, IN_STOCK, SKU, ON_SALE))
                                        if r not in STANDARD_FILTERS and r in present]
    # discount is a field wherever on_sale is, even when nothing is on sale yet: '--sort -discount' keeps working
    number = [r for r in NUMBER_ROLES if r in present] + ([DISCOUNT] if ON_SALE in present else [])
    text = [r for r in TEXT_ROLES if r in present]
    by_kind = {"keyword": keyword, "number": number, "text": text}
    listed = {*keyword, *number, *text}
    for key, kind in layout.kinds.items():
        if key in present and key not in listed:
            by_kind[kind].append(key)
            listed.add(key)
    return Schema(tuple(keyword), tuple(number), tuple(text), tuple(f for f in (IN_STOCK, ON_SALE) if f in present))
