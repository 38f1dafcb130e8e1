"""Which of a product's photos judge which colour label: each variant's own photo, else every photo it may show."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.common.fields import (COLOUR, COLOUR_STATS, IMAGE_PATH, IMAGE_URL, MATCHED_PHOTOS, PHOTO_COLOURS,
                                SHARED_PHOTOS, VARIANTS)


@dataclass
class Photos:
    """The photos a product's labels are judged against: their references, colour statistics (None where a photo
    has none) and image vectors (one row per photo, None without them), and for each colour value a variant
    carries, the positions of that variant's photos among them."""

    refs: list[str]
    stats: list
    vectors: np.ndarray | None
    carried: dict[str, list[int]] = field(default_factory=dict)  # colour_key(value) -> positions


try:  # the colour vocabulary's own spelling-free key, when it is there (issue 21)
    from core.ingest.colours import colour_key
except ImportError:  # pragma: no cover - an older vocabulary
    def colour_key(name) -> str:
        """A colour name as compared between a product's values and its variants' (case, spaces, hyphens aside)."""
        return "".join(str(name or "").replace("-", " ").replace("_", " ").split()).casefold()


def product_photos(payload: dict, image_vector, photo_vectors) -> Photos:
    """The photos to judge a product's labels against.

    With an index that stores every photo (MATCHED_PHOTOS, PHOTO_COLOURS and the photos multivector): every matched
    photo but those shared by many products (a size chart would otherwise stand in for the product), and the
    variants' photos among them. Without (an index built before photos were kept, or every photo shared): the
    hero alone, its colour statistics and its image vector, as the audit always did.
    """
    matched = payload.get(MATCHED_PHOTOS) or []
    colours = payload.get(PHOTO_COLOURS)
    shared = set(payload.get(SHARED_PHOTOS) or [])
    keep = [i for i, ref in enumerate(matched) if ref not in shared]
    if not keep or not isinstance(colours, list) or len(colours) != len(matched):
        hero = str(payload.get(IMAGE_PATH) or payload.get(IMAGE_URL) or "")
        vectors = None if image_vector is None else np.asarray([image_vector], dtype=np.float32)
        return Photos([hero], [payload.get(COLOUR_STATS) or None], vectors)
    rows = None if photo_vectors is None else np.asarray(photo_vectors, dtype=np.float32)
    vectors = rows[keep] if rows is not None and rows.ndim == 2 and len(rows) == len(matched) else None
    refs = [str(matched[i]) for i in keep]
    carried: dict[str, list[int]] = {}
    for variant in payload.get(VARIANTS) or []:
        if not isinstance(variant, dict) or not variant.get(COLOUR) or variant.get("image") not in refs:
            continue
        positions = carried.setdefault(colour_key(variant[COLOUR]), [])
        position = refs.index(variant["image"])
        if position not in positions:
            positions.append(position)
    return Photos(refs, [colours[i] or None for i in keep], vectors, carried)
