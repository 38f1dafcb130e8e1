"""`enrich`: missing attributes proposed zero-shot from the stored vectors, and their review (issue 23)."""

from __future__ import annotations


def add_enrich_commands(sub) -> None:
    """Registers `enrich` and its review actions (filled in by issue 23's work)."""
