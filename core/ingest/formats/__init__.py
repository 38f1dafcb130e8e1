"""Catalogue formats (fashion, Shopify, Google Merchant Center, generic): a header's layout, and rows -> records."""

from core.ingest.formats.layout import (Format, Layout, ProblemKind, Record, RowProblem, Rows, Tally, field_key,
                                        snake_case)
from core.ingest.formats.reading import (Parsed, explain_from_rows, read_records, reads_whole, stream_records,
                                         survey_records)
from core.ingest.formats.registry import (FORMATS, MAX_COLUMNS, check_width, detect_format, guess_roles, parse_columns,
                                          plan_layout)
from core.ingest.values import column_key  # headers compare by it; its home is the cell rules

__all__ = ["FORMATS", "MAX_COLUMNS", "Format", "Layout", "Parsed", "ProblemKind", "Record", "RowProblem", "Rows",
           "Tally", "check_width", "column_key", "detect_format", "explain_from_rows", "field_key", "guess_roles",
           "parse_columns", "plan_layout", "read_records", "reads_whole", "snake_case", "stream_records",
           "survey_records"]
