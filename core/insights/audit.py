"""Label audit: products whose colour or category label disagrees with their photo, most suspect first."""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from core.common.config import MAX_PIXELS
from core.index.compat import require_same_model
from core.ingest.colour_stats import foreground_colours, reference_lab
from core.common.errors import BadQuery, ImageRejected, NotIndexed
from core.common.fields import CATEGORY, COLOUR, COLOUR_STATS, IMAGE_PATH, PRODUCT_ID, SUB_CATEGORY, TITLE, values_of
from core.ingest.images import open_image
from core.common.iterables import chunks
from core.index.store import Hit, ProductStore

if TYPE_CHECKING:  # for annotations only: importing this module does not load the model's modules
    from core.models.embedder import QueryEncoder

AUDIT_FIELDS = (COLOUR, CATEGORY, SUB_CATEGORY)
# One prompt per field; each candidate label is put in it and embedded once per audit.
PROMPTS = {COLOUR: "a photo of a {label} product", CATEGORY: "a photo of a {label}",
           SUB_CATEGORY: "a photo of a {label}"}
CHUNK = 1000           # products read (with their image vectors) at a time
MAX_LABELS = 10_000    # a field's distinct values asked of the store: every value, in any real catalogue
# Colour's pixel fit of a label: the distance to the closest dominant colour, plus up to SHARE_DE for how little
# of the foreground that colour covers. An exact match to the main colour fits at 0; an exact match to a colour
# covering 30% costs 14, so a second colour still beats a label that misses every colour by 20+ (a model shot
# with jeans is not "Blue" unless the jeans outweigh the shirt, and then only by a few units).
SHARE_DE = 20.0
# Combined colour fit, lower is better: pixel fit / PIXEL_DE - CLIP_WEIGHT * cosine. A cosine moves by at most 2,
# so CLIP can shift a margin by at most 0.1, the weight of 10 ΔE: whatever the model (a random one included), it
# never overturns a colour difference a person sees at a glance. A real CLIP's label cosines differ by a few
# hundredths, so there it breaks near-ties between close labels (Navy Blue, Blue) rather than outvoting pixels.
PIXEL_DE = 100.0
CLIP_WEIGHT = 0.05

Progress = Callable[[int, int], None]


@dataclass
class Suspect:
    """A product whose label another label fits better; margin is by how much (see audit())."""

    product_id: str
    field: str
    label: str
    suggested: str
    margin: float
    evidence: dict
    title: str = ""        # for the page
    image_path: str = ""

    def as_dict(self) -> dict:
        return {"product_id": self.product_id, "field": self.field, "label": self.label,
                "suggested": self.suggested, "margin": round(self.margin, 4), "evidence": self.evidence}


@dataclass
class AuditResult:
    """The suspects (most suspect first, at most the limit) and what the audit looked at."""

    field: str
    labels: list[str] = dataclass_field(default_factory=list)  # the catalogue's values of the field: the candidates
    suspects: list[Suspect] = dataclass_field(default_factory=list)
    suspected: int = 0     # every product with a positive margin, before the limit
    checked: int = 0       # products compared with the other labels
    skipped: int = 0       # labelled products without a photo vector: nothing to compare
    unlabelled: int = 0    # products with no value in the field
    confirmed: int = 0     # left out: a person confirmed their label
    decoded: int = 0       # photos decoded now, for products indexed before colour statistics were stored


def check_field(field: str) -> str:
    """The field, or BadQuery naming the fields the audit knows."""
    if field not in AUDIT_FIELDS:
        raise BadQuery(f"the audit checks {', '.join(AUDIT_FIELDS)}, not {field!r}")
    return field


def audit(store: ProductStore, embedder: QueryEncoder, field: str = COLOUR, limit: int | None = None,
          confirmed: Iterable[tuple[str, str, str]] = frozenset(), progress: Progress | None = None,
          max_pixels: int = MAX_PIXELS) -> AuditResult:
    """Rank the products whose `field` label their photo fits worse than another of the catalogue's labels.

    Each label's fit to a product: for colour, its pixel fit (the photo's dominant colours stored at index time,
    against the label's reference colour; labels without one take no part) combined with CLIP (see CLIP_WEIGHT);
    with no pixel evidence, and for categories, CLIP alone: the cosine of the product's stored image vector with
    the label's prompt. The given label is the product's value that fits best (a product with several values is
    never suspected of lacking one of them); margin = fit(given) - fit(best other label), the best other being
    the suggestion. Suspects are the products with margin > 0, by margin, then product id. Products with a
    confirmed (product id, field, label) are left out. Photos are decoded only for products indexed before
    colour statistics were stored, once: their statistics are stored back (unless the store is a read-only copy).
    """
    check_field(field)
    if limit is not None and limit < 1:
        raise BadQuery(f"the limit must be at least 1, got {limit}")
    require_same_model(store.require_meta(), embedder.name, embedder.dim)
    total = store.count()
    if total == 0:
        raise NotIndexed("the index has no products to audit: index a catalogue first")
    labels = sorted(value for value, _ in store.facet(field, limit=MAX_LABELS) if value != "")
    result = AuditResult(field, labels)
    if len(labels) < 2:
        return result
    scorer = _Scorer(field, labels, embedder)
    confirmed = {(p, label) for p, f, label in confirmed if f == field}
    writable = not store.read_only
    wrote, done = False, 0
    suspects: list[Suspect] = []
    keys = [PRODUCT_ID, field, TITLE, IMAGE_PATH] + ([COLOUR_STATS] if field == COLOUR else [])
    for chunk in chunks(store.scroll(payload_keys=keys, with_vectors=["image"], page=CHUNK), CHUNK):
        done += len(chunk)
        rows = []
        for hit in chunk:
            product_id = str(hit.payload.get(PRODUCT_ID, ""))
            values = [v for v in dict.fromkeys(values_of(hit.payload.get(field))) if v in scorer.index]
            if not values:
                result.unlabelled += 1
            elif any((product_id, v) in confirmed for v in values):
                result.confirmed += 1
            elif hit.vectors.get("image") is None:
                result.skipped += 1
            else:
                rows.append((hit, product_id, values))
        if field == COLOUR:
            stored = _fill_colour_stats(store, [hit for hit, *_ in rows], max_pixels,
                                        embedder.image_size, writable, result)
            wrote = wrote or stored
        result.checked += len(rows)
        suspects.extend(scorer.suspects(rows))
        if limit is not None and len(suspects) > limit:
            result.suspected += len(suspects) - limit  # the ones dropped now are counted here
            suspects = _ranked(suspects)[:limit]
        if progress:
            progress(done, total)
    if wrote:
        store.flush()
    result.suspects = _ranked(suspects)
    result.suspected += len(result.suspects)
    return result


def _ranked(suspects: list[Suspect]) -> list[Suspect]:
    return sorted(suspects, key=lambda s: (-s.margin, s.product_id))


def _fill_colour_stats(store: ProductStore, hits: list[Hit], max_pixels: int, draft_size: int | None,
                       writable: bool, result: AuditResult) -> bool:
    """Colour statistics for products indexed before they were stored: made from the photo file now (the same
    way indexing makes them) and stored back in one write, so the next audit decodes nothing. A photo that
    cannot be read leaves its product without pixel evidence (CLIP alone), and is tried again next time."""
    made = {}
    for hit in hits:
        if COLOUR_STATS in hit.payload or not hit.payload.get(IMAGE_PATH):
            continue
        try:
            image = open_image(hit.payload[IMAGE_PATH], max_pixels, draft_size)
        except ImageRejected:
            continue
        result.decoded += 1
        hit.payload[COLOUR_STATS] = foreground_colours(image)
        made[hit.id] = {COLOUR_STATS: hit.payload[COLOUR_STATS]}
    if made and writable:
        store.set_payload(made)
        return True
    return False


class _Scorer:
    """Every label's fit to a chunk of products, and the suspects among them."""

    def __init__(self, field: str, labels: list[str], embedder):
        self.field, self.labels = field, labels
        self.index = {label: i for i, label in enumerate(labels)}
        texts = np.asarray(embedder.encode_texts([PROMPTS[field].format(label=label) for label in labels]),
                           dtype=np.float32)
        self.texts = texts / np.maximum(np.linalg.norm(texts, axis=1, keepdims=True), 1e-12)
        refs = [reference_lab(label) if field == COLOUR else None for label in labels]
        self.known = np.array([r is not None for r in refs])
        self.refs = np.array([r if r is not None else (np.nan,) * 3 for r in refs], dtype=np.float64)

    def suspects(self, rows: list[tuple[Hit, str, list[str]]]) -> list[Suspect]:
        if not rows:
            return []
        images = np.asarray([hit.vectors["image"] for hit, *_ in rows], dtype=np.float32)
        images /= np.maximum(np.linalg.norm(images, axis=1, keepdims=True), 1e-12)
        cosines = (images @ self.texts.T).astype(np.float64)
        found = []
        for (hit, product_id, values), cos in zip(rows, cosines):
            own = np.zeros(len(self.labels), dtype=bool)
            own[[self.index[v] for v in values]] = True
            pixels = self._pixel_fit(hit.payload.get(COLOUR_STATS)) if self.field == COLOUR else None
            if pixels is not None and (own & self.known).any():
                fit, candidates = pixels / PIXEL_DE - CLIP_WEIGHT * cos, self.known
            else:
                fit, candidates, pixels = -cos, np.ones(len(self.labels), dtype=bool), None
            given = _argmin(fit, own & candidates)
            best = _argmin(fit, candidates & ~own)
            if best is None or fit[given] - fit[best] <= 0:
                continue
            found.append(Suspect(product_id, self.field, self.labels[given], self.labels[best],
                                 float(fit[given] - fit[best]), self._evidence(hit, cos, pixels, given, best),
                                 str(hit.payload.get(TITLE) or ""), str(hit.payload.get(IMAGE_PATH) or "")))
        return found

    def _pixel_fit(self, stats) -> np.ndarray | None:
        """Each label's pixel fit, in ΔE (NaN for labels without a reference colour); None without statistics."""
        if not stats:
            return None
        colours = np.asarray(stats, dtype=np.float64)
        distances = np.linalg.norm(colours[:, None, :3] - self.refs[None], axis=2)  # colours x labels
        return np.min(distances + SHARE_DE * (1 - colours[:, 3:4]), axis=0)

    def _evidence(self, hit: Hit, cos: np.ndarray, pixels: np.ndarray | None, given: int, best: int) -> dict:
        evidence = {"clip_margin": round(float(cos[best] - cos[given]), 4),
                    "given_cos": round(float(cos[given]), 4), "suggested_cos": round(float(cos[best]), 4)}
        if self.field == COLOUR:
            known = pixels is not None
            evidence.update({
                "pixel_margin": round(float(pixels[given] - pixels[best]), 1) if known else None,
                "given_de": round(float(pixels[given]), 1) if known else None,
                "suggested_de": round(float(pixels[best]), 1) if known else None,
                "colours": hit.payload.get(COLOUR_STATS) or []})
        return evidence


def _argmin(values: np.ndarray, mask: np.ndarray) -> int | None:
    """The index of the smallest value where mask is set (the first on a tie: labels are sorted), or None."""
    if not mask.any():
        return None
    return int(np.flatnonzero(mask)[np.argmin(values[mask])])

