"""What the map reads from the index: every product's ids and display attributes (no vectors), and the vectors a
product is placed from, a chunk at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from core.common.errors import BadQuery
from core.common.fields import COLOUR, COLOUR_STATS, PRODUCT_ID, STANDARD_FILTERS, STATUS, display_value
from core.common.vectors import normalise
from core.index.store import ProductStore
from core.ingest.colour_stats import dominant_hex
from core.ingest.colours import known_colour, split_colours

VECTOR_KINDS = ("image", "text", "both")
VECTOR_CHUNK = 8192   # vectors read, reduced and placed at a time: memory stays flat as the catalogue grows
# status: drafts and archived are left out of the map (or greyed); photo_colour: the photo's dominant colour, kept only
# for a product whose first colour name has no reference (the map draws "Ultraviolet" as the photo shows it).
PHOTO_COLOUR = "photo_colour"
ATTR_FIELDS = ("title", *STANDARD_FILTERS, "image_path", STATUS, PHOTO_COLOUR)
OPTIONAL_FIELDS = (STATUS, PHOTO_COLOUR)  # a map stored before issue 21 lacks them: read as "" (not recomputed)


@dataclass
class Products:
    """What the map keeps of every product, read without vectors: point ids, product ids and attributes."""

    points: list[str]
    ids: list[str]
    attrs: dict[str, list[str]]


def read_products(store: ProductStore) -> Products:
    """Every product's ids and display attributes (one payload scroll, no vectors)."""
    points, ids, attrs = [], [], {k: [] for k in ATTR_FIELDS}
    read = [k for k in ATTR_FIELDS if k != PHOTO_COLOUR]
    for hit in store.scroll(payload_keys=["product_id", *read, COLOUR_STATS]):
        if PRODUCT_ID not in hit.payload:
            continue
        points.append(hit.id)
        ids.append(str(hit.payload[PRODUCT_ID]))
        for k in read:
            attrs[k].append(display_value(hit.payload.get(k)))
        attrs[STATUS][-1] = attrs[STATUS][-1].lower()
        attrs[PHOTO_COLOUR].append(photo_colour(hit.payload))
    return Products(points, ids, attrs)


def photo_colour(payload: dict) -> str:
    """The photo's dominant colour ('#rrggbb') when the product's first colour name is one we do not know, else ''."""
    names = split_colours(payload.get(COLOUR))
    if names and known_colour(names[0]):
        return ""
    return dominant_hex(payload.get(COLOUR_STATS)) or ""


def vector_of(vectors: dict, kind: str) -> tuple[np.ndarray, str] | None:
    """The vector a product is placed from, and which: image vectors fall back to text vectors."""
    image, text = vectors.get("image"), vectors.get("text")
    if kind == "both" and image is not None and text is not None:
        return normalise(np.add(image, text, dtype=np.float32)), "both"
    if kind == "text" and text is not None:
        return np.asarray(text, dtype=np.float32), "text"
    if image is not None:
        return np.asarray(image, dtype=np.float32), "image"
    if text is not None:
        return np.asarray(text, dtype=np.float32), "text"  # a product without a photo is placed from its text
    return None


VectorChunk = tuple[list[str], np.ndarray, list[str], list[str]]  # point ids, matrix, sources, points without one


def vector_chunks(store: ProductStore, kind: str, points: list[str] | None = None,
                  chunk: int = VECTOR_CHUNK) -> Iterator[VectorChunk]:
    """The given points' vectors (retrieved, in order), or every stored point's (scrolled), a chunk at a time.

    Points that no longer exist are left out; points without any vector are listed as such.
    """
    if kind not in VECTOR_KINDS:
        raise BadQuery(f"vectors must be one of {', '.join(VECTOR_KINDS)}, got {kind!r}")

    # Scrolling, only the vector the map is made from is read (each one reaches Python as a list of floats, most
    # of a scroll's cost); the few products without it are read again whole, for the fallback.
    first_choice = {"image": ["image"], "text": ["text"]}.get(kind, ["image", "text"])

    def complete(batch: list) -> list:
        lacking = [h.id for h in batch if len(h.vectors) < len(first_choice)]
        if not lacking or kind == "both":
            return batch
        whole = {h.id: h for h in store.retrieve(lacking, with_vectors=True)}
        return [whole.get(h.id, h) for h in batch]

    def batches():
        if points is None:
            batch = []
            for hit in store.scroll(payload_keys=["product_id"], with_vectors=first_choice):
                batch.append(hit)
                if len(batch) == chunk:
                    yield complete(batch)
                    batch = []
            yield complete(batch)
            return
        for start in range(0, len(points), chunk):
            wanted = points[start:start + chunk]
            by_id = {h.id: h for h in store.retrieve(wanted, with_vectors=True)}
            yield [by_id[p] for p in wanted if p in by_id]

    for hits in batches():
        ids, rows, sources, without = [], [], [], []
        for hit in hits:
            found = vector_of(hit.vectors, kind)
            if found is None:
                without.append(hit.id)
                continue
            ids.append(hit.id)
            rows.append(found[0])
            sources.append(found[1])
        if ids or without:
            yield ids, (np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 0), np.float32)), sources, without

