"""`health`: one ranked view of what is wrong in the catalogue: the score, each kind of problem with its products,
and the same per category."""

from __future__ import annotations

import json

from core.cli.common import close_store, filter_args, filters_of, model_for, open_reader, progress_bar
from core.common.config import Settings

SHOWN = 5  # products listed under each kind in the text output (--json lists them all)


def add_health_command(sub) -> None:
    """Registers `health [--filter ...] [--exclude ...] [--json] [--no-cache]`."""
    health = sub.add_parser("health", help="catalogue health: the share of products with no problem, and every "
                                           "problem (photos, duplicates, suspect labels, missing attributes, titles, "
                                           "prices, stock) with its products, most important first")
    filter_args(health)
    health.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    health.add_argument("--no-cache", action="store_true",
                        help="check again from scratch: near-duplicates and the label audit too, even when their "
                             "caches are fresh (by default an unchanged index's last report is shown as it was)")
    health.set_defaults(run=cmd_health)


def cmd_health(args, settings: Settings) -> int:
    from core.insights.health import cached_report, check_health

    filters = filters_of(args)  # bad filter syntax is reported before the index opens
    store = open_reader(settings)
    failing = True
    bar = None
    try:
        store.require_meta()
        # The last report for these filters while nothing has changed since (the index, a decision): as computed.
        report = None if args.no_cache else cached_report(store, settings.data_dir, filters)
        if report is None:
            bar, progress = progress_bar("checking")
            report = check_health(store, settings.data_dir, filters, encoder=lambda: model_for(settings),
                                  progress=progress, use_cache=not args.no_cache)
        failing = False
    finally:
        if bar is not None:
            bar.close()
        close_store(store, failing)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    for line in report_lines(report):
        print(line)
    return 0


def report_lines(report) -> list[str]:
    """The report as plain text: the score, then each kind with problems (largest first) with its first products
    and why, then the categories. Catalogue values are printed as they are: data, never markup."""
    clean = report.products - len({pid for p in report.problems for pid in p.products})
    lines = [f"health score {report.score}: {clean} of {report.products} products have no problem"]
    found = [p for p in report.problems if p.count]
    for problem in found:
        lines.append(f"{problem.kind}: {problem.count}")
        lines += [f"  {pid}: {problem.details.get(pid, '')}" for pid in problem.products[:SHOWN]]
        if problem.count > SHOWN:
            lines.append(f"  ... and {problem.count - SHOWN} more (--json lists them all)")
    if not found:
        lines.append("no problem found")
    lines.append("by category:")
    for category, row in report.by_category.items():
        kinds = ", ".join(f"{kind} {n}" for kind, n in row.items() if kind not in ("products", "score") and n)
        lines.append(f"  {category}: score {row['score']} of {row['products']} products" +
                     (f" ({kinds})" if kinds else ""))
    lines += [f"note: {note}" for note in report.notes]
    return lines
