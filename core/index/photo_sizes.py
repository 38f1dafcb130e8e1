"""Each photo's pixel size (PHOTO_SIZES): the sizes a kept row keeps from the store, and the catch-up of an index
made before sizes were stored, from the photos' headers alone (no pixel decoded, nothing embedded again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.common.errors import ImageRejected
from core.common.fields import (IMAGE_PATH, IMAGE_URL, MATCHED_PHOTOS, PHOTO_DIGESTS, PHOTO_SIZES, PRODUCT_ID,
                                TEXT_ONLY)
from core.common.filters import Filters
from core.common.iterables import chunks
from core.index.photos import is_url
from core.index.store import Hit
from core.ingest.images import header_size

CATCH_UP_PAGE = 1000  # stored products read, sized and written back at a time by the catch-up
# Index metadata flag: every stored product has its PHOTO_SIZES key (set at the end of a run that finds none
# lacking), so later runs skip the catch-up without reading a single payload.
PHOTO_SIZES_COMPLETE = "photo_sizes_complete"
# What the catch-up reads of a stored product: its hero (a URL's cached file is its IMAGE_PATH), whether the hero
# was used, and the photos with rows (every photo indexing decoded, besides the hero).
CATCH_UP_KEYS = [PRODUCT_ID, IMAGE_PATH, IMAGE_URL, TEXT_ONLY, MATCHED_PHOTOS]


def as_size(value) -> tuple[int, int] | None:
    """A stored [width, height] as a pair of positive ints, or None for anything else (a damaged payload)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        return None
    return int(value[0]), int(value[1])


class StoredSizes:
    """The sizes a stored product holds, by reference and by its rows' bytes (a photo renamed or moved keeps the row
    of its unchanged bytes, and with it the size)."""

    def __init__(self, payload: dict):
        stored = payload.get(PHOTO_SIZES)
        self.by_ref = stored if isinstance(stored, dict) else {}
        self.by_digest = {}
        for ref, digest in zip(payload.get(MATCHED_PHOTOS) or [], payload.get(PHOTO_DIGESTS) or []):
            size = as_size(self.by_ref.get(ref))
            if size is not None:
                self.by_digest.setdefault(digest, size)

    def of(self, ref: str, digest: str = "") -> tuple[int, int] | None:
        """The stored size of a photo, by its reference or else by its bytes' digest; None when not stored."""
        return as_size(self.by_ref.get(ref)) or self.of_digest(digest)

    def of_digest(self, digest: str) -> tuple[int, int] | None:
        return self.by_digest.get(digest)


def lacking_sizes(store, page: int = CATCH_UP_PAGE) -> Iterator[list[Hit]]:
    """Pages of the stored products without PHOTO_SIZES (written before it existed), with the payload keys the
    catch-up reads: one filtered pass over the index, not a look at every payload. A product with no photo decoded
    has an empty dict, which is not lacking."""
    return chunks(store.scroll(lacking_filter(), payload_keys=CATCH_UP_KEYS, page=page), page)


def lacking_filter() -> Filters:
    """The stored products without PHOTO_SIZES."""
    return Filters(lacking=(PHOTO_SIZES,))


def header_sizes(payload: dict, fetcher, max_pixels: int) -> dict[str, list[int]]:
    """PHOTO_SIZES of a stored product from its photos' headers: the hero (unless it was indexed text-only) and
    every photo with a row, each read from its local file or its cached copy (a URL without a fetcher, a cached
    copy gone, a file that is no image or is refused from its header: no size, and nothing else lost)."""
    sizes: dict[str, list[int]] = {}
    hero = payload.get(IMAGE_URL) or payload.get(IMAGE_PATH) or ""
    refs = ([hero] if hero and not payload.get(TEXT_ONLY) else []) + list(payload.get(MATCHED_PHOTOS) or [])
    for ref in dict.fromkeys(r for r in refs if isinstance(r, str) and r):
        path = _local_copy(ref, hero, payload, fetcher)
        if path is None:
            continue
        try:
            sizes[ref] = list(header_size(path, max_pixels))
        except ImageRejected:
            continue
    return sizes


def _local_copy(ref: str, hero: str, payload: dict, fetcher) -> Path | None:
    """Where a photo's bytes are on this machine: the file itself, or a URL's copy in the image cache."""
    if not is_url(ref):
        return Path(ref)
    if ref == hero and payload.get(IMAGE_PATH):
        return Path(payload[IMAGE_PATH])
    return fetcher.path_for(ref) if fetcher is not None else None


def caught_up(hits: list[Hit], fetcher, max_pixels: int) -> dict[str, dict]:
    """The PHOTO_SIZES key to set on each stored product (point id -> {PHOTO_SIZES: sizes}), from headers alone."""
    return {hit.id: {PHOTO_SIZES: header_sizes(hit.payload, fetcher, max_pixels)} for hit in hits}
