"""Text compared without case, accents or spacing: one fold for keyword terms, exact lookups and search-log queries."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without accents: 'Café' and 'cafe' are one word. Lengths may change (see keywords.terms_in)."""
    if text.isascii():  # most catalogue text: no accent to drop, and casefold is lower (a quarter of a tokenise)
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


def folded(text) -> str:
    """`text` folded, outer space dropped and inner runs of space made one: ' TS-0042-Red ' = 'ts-0042-red'. Two
    exact-lookup keys, or two search-log queries, are the same when this says so."""
    return " ".join(fold(str(text or "")).split())
