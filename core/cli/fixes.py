"""`export-fixes`: accepted enrichments and audit changes written in the shop's own formats (issue 23)."""

from __future__ import annotations


def add_export_fixes_command(sub) -> None:
    """Registers `export-fixes` (filled in by issue 23's work)."""
