"""A store and a reference filled with hand-made vectors whose gaps verdicts are known."""

from __future__ import annotations

import math

from core.index.store import StoredPoint, point_id
from core.insights.reference import REFERENCE_OF, reference_collection

DIM = 8


NAME = "rival"


def unit(*parts) -> list[float]:
    v = [0.0] * DIM
    for i, w in parts:
        v[i] = w
    return v


def cos_with(i: int, w: float, j: int) -> list[float]:
    """Cosine w with axis i, the rest along axis j."""
    return unit((i, w), (j, math.sqrt(1 - w * w)))


TEXT = unit((7, 1.0))


OURS = [("o-bag", "Leather Bag", "Bags", unit((0, 1.0))),
        ("o-beanie", "Wool Beanie", "Hats", unit((1, 1.0))),
        ("o-dress", "Red Dress", "Dresses", unit((2, 1.0))),
        ("o-watch", "Steel Watch", "Watches", unit((3, 1.0)))]


THEIRS = [("t-bag", "Their Bag", "Bags", cos_with(1, 0.996, 4)),    # the beanie at 0.996; our bag at 0
          ("t-hat", "Their Hat", "Hats", cos_with(1, 0.95, 5)),     # the beanie at 0.95, overall and within Hats
          ("t-lamp", "Their Lamp", "Lamps", cos_with(3, 0.3, 6))]   # no lamp of ours; the watch at 0.3


def points(rows) -> list[StoredPoint]:
    return [StoredPoint(point_id(pid), {"image": photo, "text": TEXT},
                        {"product_id": pid, "title": title, "product_type": kind, "fingerprint": f"f-{pid}",
                         "image_path": ""}) for pid, title, kind, photo in rows]


def fill(settings):
    """Ours in the settings' collection, theirs as the reference NAME of it (as `reference add` marks one)."""
    from core.index.store import EdgeStore

    ours = EdgeStore(settings.data_dir, settings.collection)
    theirs = EdgeStore(settings.data_dir, reference_collection(settings, NAME))
    for store, rows in ((ours, OURS), (theirs, THEIRS)):
        store.ensure("hand-made", DIM)
        store.upsert(points(rows))
        store.update_meta(last_indexed=1.0)
    theirs.update_meta(**{REFERENCE_OF: settings.collection, "reference": NAME})
    return ours, theirs
