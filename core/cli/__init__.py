"""Command line: `python -m core <command>`, one parser whose commands each group module registers; one-line
errors and non-zero exits, never tracebacks.

    index.py     index, stats             search.py    search, browse, facets, duplicates
    map.py       map                      insights.py  eval, audit, reference, gaps
    sample.py    sample                   audit.py     audit and its decisions (decide, undo, decisions), for insights.py
    searchlog.py searchlog                common.py    the flags, model and store openers, progress bars they share
    health.py    health                   enrich.py    enrich and its review (accept, reject, undo)
    fixes.py     export-fixes
"""

from __future__ import annotations

import argparse
import sys

from core.cli.index import add_index_commands
from core.cli.insights import add_insight_commands
from core.cli.enrich import add_enrich_commands
from core.cli.fixes import add_export_fixes_command
from core.cli.health import add_health_command
from core.cli.map import add_map_command
from core.cli.sample import add_sample_command
from core.cli.search import add_search_commands
from core.cli.searchlog import add_searchlog_command
from core.common.config import Settings
from core.common.errors import LensError

# In this order in `--help`; each adds its subcommands and sets `run`, the function that carries one out.
COMMAND_GROUPS = (add_index_commands, add_search_commands, add_map_command, add_insight_commands, add_searchlog_command,
                  add_health_command, add_enrich_commands, add_export_fixes_command, add_sample_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Catalog Lens: index and search a product catalogue.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_commands in COMMAND_GROUPS:
        add_commands(sub)
    return parser


def attach_sort_values(argv: list[str]) -> list[str]:
    """'--sort -price' as '--sort=-price': argparse would read '-price' as an unknown option."""
    out = []
    for arg in argv:
        if out and out[-1] == "--sort" and arg.startswith("-"):
            out[-1] = f"--sort={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(attach_sort_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.run(args, Settings.from_env())
    except LensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
