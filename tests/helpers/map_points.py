"""Hand-made stored points of a few product types, for map tests that need no model."""

from __future__ import annotations

import numpy as np

from core.index.store import StoredPoint, point_id

DIM = 16


TYPES = ["Dresses", "Shirts", "Sandals", "Watches"]


def typed_points(n: int, seed: int = 0) -> list[StoredPoint]:
    """n products in four product types, each type a tight group around its own axis."""
    rng = np.random.default_rng(seed)
    points = []
    for i in range(n):
        t = i % len(TYPES)
        v = np.zeros(DIM, dtype=np.float32)
        v[3 * t] = 1.0
        v += rng.normal(0, 0.05, DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        points.append(StoredPoint(point_id(f"p{i}"), {"image": v},
                                  {"product_id": f"p{i}", "product_type": TYPES[t], "colour": ["Red"],
                                   "gender": "Women", "title": f"T{i}", "fingerprint": f"f{i}"}))
    return points
