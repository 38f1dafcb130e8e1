"""Iteration in bounded pieces, so nothing upstream is ever held whole."""

from __future__ import annotations

from typing import Iterable, Iterator


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` items in turn (the last may be shorter), never the whole iterable at once."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
