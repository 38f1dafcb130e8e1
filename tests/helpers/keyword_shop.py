"""Hand-made products for keyword search tests: known CLIP vectors, and the keyword vector, stems and lookup keys an
index run writes (core.index.keywords), so BM25, the tiers and the lookup act on exactly what the test says."""

from __future__ import annotations

import numpy as np

from core.common import fields as F
from core.index.keywords import keyword_document, lookup_keys
from core.index.store import KEYWORD_VECTORS, StoredPoint, point_id

DIM = 4


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def keyword_point(pid: str, vector, title: str, **payload) -> StoredPoint:
    """A product as an index run writes it: CLIP vectors (image = text = `vector`), its keyword vector, and its
    keyword payload (terms, lookup keys)."""
    payload = {F.PRODUCT_ID: pid, F.TITLE: title, F.IMAGE_PATH: f"/img/{pid}.jpg", F.CATEGORY: "Apparel", **payload}
    document = keyword_document(payload)
    payload[F.TERMS] = list(document.terms)
    payload[F.LOOKUP_KEYS] = lookup_keys(payload)
    return StoredPoint(point_id(pid), {"image": unit(vector), "text": unit(vector), KEYWORD_VECTORS: document},
                       payload)


class TextEncoder:
    """A QueryEncoder whose text vectors are known: each query text maps to a vector (`default` for any other)."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self, queries: dict, default=(0.5, 0.5, 0.5, 0.5)):
        self.queries, self.default = queries, default
        self.seen: list[str] = []

    def encode_texts(self, texts, **_):
        self.seen += list(texts)
        return np.stack([unit(self.queries.get(t, self.default)) for t in texts])

    def encode_images(self, images, **_):
        raise AssertionError("these tests search by text only")
