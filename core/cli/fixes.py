"""`export-fixes`: accepted enrichments and audit changes written in the shop's own formats (issue 23)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.common import close_store, open_reader
from core.common.config import Settings


def add_export_fixes_command(sub) -> None:
    """Registers `export-fixes --format google|shopify --out FILE`."""
    cmd = sub.add_parser("export-fixes", help="write every accepted enrichment and audit change as a Merchant Center "
                                              "supplemental feed (TSV) or a Shopify product CSV to import as an update")
    cmd.add_argument("--format", required=True, choices=["google", "shopify"],
                     help="google: a supplemental feed (id and the changed attributes, Google's names); shopify: a "
                          "product CSV (Handle, Title and the changed columns; other attributes as custom metafields)")
    cmd.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to write (replaced)")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(run=cmd_export_fixes)


def cmd_export_fixes(args, settings: Settings) -> int:
    from core.insights.fixes_export import check_format, decided_fixes, export_fixes

    check_format(args.format)
    store = open_reader(settings) if decided_fixes(settings.data_dir) else None  # nothing decided: no index needed
    failing = True
    try:
        if store is not None:
            store.require_meta()
        report = export_fixes(settings.data_dir, store, args.format, args.out)
        failing = False
    finally:
        if store is not None:
            close_store(store, failing)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"wrote {report.rows} product(s) to {report.out} (columns: {', '.join(report.columns)})")
    if report.neutralised:
        said = ", ".join(f"#{product_id} {column}" for product_id, column in report.neutralised)
        print(f"{len(report.neutralised)} value(s) started with = + - @ and were written with a leading quote, so "
              f"no spreadsheet runs them as a formula: {said}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
