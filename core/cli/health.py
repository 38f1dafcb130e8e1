"""`health`: one ranked view of what is wrong in the catalogue (being built: issue 23)."""

from __future__ import annotations


def add_health_command(sub) -> None:
    """Registers `health` (filled in by issue 23's work)."""
