"""Label audit: products whose colour or category label disagrees with their photo, most suspect first."""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from core.common.config import MAX_PIXELS
from core.index.compat import require_same_model
from core.ingest.colour_stats import foreground_colours, reference_lab
from core.common.errors import BadQuery, ImageRejected, NotIndexed
from core.common.fields import (CATEGORY, COLOUR, COLOUR_STATS, IMAGE_PATH, IMAGE_URL, MATCHED_PHOTOS, PHOTO_COLOURS,
                                PHOTO_VECTORS, PRODUCT_ID, SHARED_PHOTOS, SUB_CATEGORY, TITLE, VARIANTS, values_of)
from core.common.filters import Filters
from core.ingest.images import open_image
from core.common.iterables import chunks
from core.index.store import Hit, ProductStore
from core.index.store.base import HAS_PHOTO_VECTORS
from core.insights.audit_photos import Photos, colour_key, product_photos

try:  # the broad colour vocabulary (issue 21); before it, a name is known when it has a swatch
    from core.ingest.colours import known_colour
except ImportError:  # pragma: no cover
    from core.ingest.colours import UNKNOWN, colour_hex

    def known_colour(name) -> bool:
        return colour_hex(name) != UNKNOWN

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

FAR = np.array([1e9, 0.0, 0.0, 1.0])  # a padding colour, [L, a, b, weight], never the closest to a reference
Progress = Callable[[int, int], None]
SUSPECT, UNKNOWN_NAME = "suspect", "unknown"  # the two outcomes the audit reports for a product's label


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
        return {"product_id": self.product_id, "field": self.field, "label": self.label, "outcome": SUSPECT,
                "suggested": self.suggested, "margin": round(self.margin, 4), "evidence": self.evidence}


@dataclass
class UnknownLabel:
    """A product's colour value that names no colour we know ("Ultraviolet"): not judged, and said so."""

    product_id: str
    field: str
    label: str
    title: str = ""
    image_path: str = ""

    def as_dict(self) -> dict:
        return {"product_id": self.product_id, "field": self.field, "label": self.label, "outcome": UNKNOWN_NAME}


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
    hidden: int = 0        # drafts and archived products left out (show_hidden brings them in)
    unknown: list[UnknownLabel] = dataclass_field(default_factory=list)  # at most the limit, by product id
    unknown_count: int = 0  # every (product, value) with an unknown colour name, before the limit


def check_field(field: str) -> str:
    """The field, or BadQuery naming the fields the audit knows."""
    if field not in AUDIT_FIELDS:
        raise BadQuery(f"the audit checks {', '.join(AUDIT_FIELDS)}, not {field!r}")
    return field


def audit(store: ProductStore, embedder: QueryEncoder, field: str = COLOUR, limit: int | None = None,
          confirmed: Iterable[tuple[str, str, str]] = frozenset(), progress: Progress | None = None,
          max_pixels: int = MAX_PIXELS, show_hidden: bool = False) -> AuditResult:
    """Rank the products whose `field` label their photo fits worse than another of the catalogue's labels.

    Each label's fit to a product: for colour, its pixel fit (the photo's dominant colours stored at index time,
    against the label's reference colour; labels without one take no part) combined with CLIP (see CLIP_WEIGHT);
    with no pixel evidence, and for categories, CLIP alone: the cosine of the product's stored image vector with
    the label's prompt. A colour is judged on every photo of the product (a variant's colour on its own photo
    first) and never suspected when one of them shows it (see _Scorer.judge); categories on the hero photo.
    margin = fit(given) - fit(best other label), the best other being the suggestion. Suspects are the products
    with margin > 0, by margin, then product id. A colour name with no reference colour is not judged: it is
    listed in `unknown`. Products with a confirmed (product id, field, label) are left out, and drafts and
    archived ones unless show_hidden. Photos are decoded only for products indexed before colour statistics were
    stored, once: their statistics are stored back (unless the store is a read-only copy).
    """
    check_field(field)
    if limit is not None and limit < 1:
        raise BadQuery(f"the limit must be at least 1, got {limit}")
    require_same_model(store.require_meta(), embedder.name, embedder.dim)
    if store.count() == 0:
        raise NotIndexed("the index has no products to audit: index a catalogue first")
    visible = Filters().visible(show_hidden)
    total = store.count(visible)
    labels = sorted(value for value, _ in store.facet(field, visible, limit=MAX_LABELS) if value != "")
    result = AuditResult(field, labels, hidden=store.count() - total)
    if len(labels) < 2:
        return result
    scorer = _Scorer(field, labels, embedder)
    confirmed = {(p, label) for p, f, label in confirmed if f == field}
    writable = not store.read_only
    wrote, done = False, 0
    suspects: list[Suspect] = []
    keys = [PRODUCT_ID, field, TITLE, IMAGE_PATH]
    vectors = ["image"]
    if field == COLOUR:
        keys += [COLOUR_STATS, IMAGE_URL, MATCHED_PHOTOS, PHOTO_COLOURS, SHARED_PHOTOS, VARIANTS]
        # Every product's photo rows where it has them (a product still without them is judged on its photos'
        # pixels); an index made before every photo was kept has no such vector to ask for.
        vectors += [PHOTO_VECTORS] if (store.meta() or {}).get(HAS_PHOTO_VECTORS) else []
    unknown: list[UnknownLabel] = []
    for chunk in chunks(store.scroll(visible, payload_keys=keys, with_vectors=vectors, page=CHUNK), CHUNK):
        done += len(chunk)
        rows = []
        for hit in chunk:
            product_id = str(hit.payload.get(PRODUCT_ID, ""))
            values = [v for v in dict.fromkeys(values_of(hit.payload.get(field))) if v in scorer.index]
            if not values:
                result.unlabelled += 1
            elif any((product_id, v) in confirmed for v in values):
                result.confirmed += 1
            elif not _has_evidence(hit, field):
                result.skipped += 1
            else:
                rows.append((hit, product_id, values))
        if field == COLOUR:
            stored = _fill_colour_stats(store, [hit for hit, *_ in rows], max_pixels,
                                        embedder.image_size, writable, result)
            wrote = wrote or stored
        result.checked += len(rows)
        judged = [(hit, product_id, values, _photos(hit, field)) for hit, product_id, values in rows]
        for hit, product_id, values, photos in judged:
            named = scorer.unknown(values)
            result.unknown_count += len(named)
            unknown.extend(UnknownLabel(product_id, field, v, str(hit.payload.get(TITLE) or ""), photos.refs[0])
                           for v in named)
        if limit is not None and len(unknown) > limit:  # as for suspects: memory bounded by the limit
            unknown = sorted(unknown, key=_by_product)[:limit]
        suspects.extend(scorer.suspects(judged))
        if limit is not None and len(suspects) > limit:
            result.suspected += len(suspects) - limit  # the ones dropped now are counted here
            suspects = _ranked(suspects)[:limit]
        if progress:
            progress(done, total)
    if wrote:
        store.flush()
    result.suspects = _ranked(suspects)
    result.suspected += len(result.suspects)
    result.unknown = sorted(unknown, key=_by_product)
    return result


def _by_product(label: UnknownLabel) -> tuple[str, str]:
    return label.product_id, label.label


def _has_evidence(hit: Hit, field: str) -> bool:
    """Whether a product has anything to judge its label on: an image vector, or (colour) a photo's statistics."""
    if hit.vectors.get("image") is not None:
        return True
    return field == COLOUR and any(hit.payload.get(PHOTO_COLOURS) or [])


def _photos(hit: Hit, field: str) -> Photos:
    if field != COLOUR:  # a category is judged on the hero photo, by CLIP
        image = hit.vectors.get("image")
        return Photos([str(hit.payload.get(IMAGE_PATH) or "")], [None],
                      None if image is None else np.asarray([image], dtype=np.float32))
    return product_photos(hit.payload, hit.vectors.get("image"), hit.vectors.get(PHOTO_VECTORS))


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
    """Every label's fit to a product's photos, and whether the product is a suspect."""

    def __init__(self, field: str, labels: list[str], embedder):
        self.field, self.labels = field, labels
        self.index = {label: i for i, label in enumerate(labels)}
        texts = np.asarray(embedder.encode_texts([PROMPTS[field].format(label=label) for label in labels]),
                           dtype=np.float32)
        self.texts = texts / np.maximum(np.linalg.norm(texts, axis=1, keepdims=True), 1e-12)
        refs = [reference_lab(label) if field == COLOUR else None for label in labels]
        self.known = np.array([r is not None for r in refs])  # has a hue pixels can be compared with
        # A colour name with no reference at all ("Ultraviolet") is never judged, nor suggested, by CLIP alone.
        self.named = np.array([known_colour(label) if field == COLOUR else True for label in labels])
        self.refs = np.array([r if r is not None else (np.nan,) * 3 for r in refs], dtype=np.float64)
        self.keys: dict[str, str] = {}  # colour_key of each value seen, once

    def unknown(self, values: list[str]) -> list[str]:
        return [v for v in values if not self.named[self.index[v]]]

    def suspects(self, rows: list[tuple[Hit, str, list[str], Photos]]) -> list[Suspect]:
        """The suspects among a chunk of products. Every photo's cosines come from one matrix product and every
        photo's pixel fits from one pass, for the whole chunk; each product then takes its slice."""
        blocks = [photos.vectors for *_, photos in rows if photos.vectors is not None]
        cosines = self._cosines(np.concatenate(blocks)) if blocks else None
        stats = [s for *_, photos in rows for s in photos.stats]
        pixels = self._pixel_fits(stats) if self.field == COLOUR else [None] * len(stats)
        found, at_vector, at_photo = [], 0, 0
        for hit, product_id, values, photos in rows:
            cos = None
            if photos.vectors is not None:
                cos, at_vector = cosines[at_vector:at_vector + len(photos.vectors)], at_vector + len(photos.vectors)
            fits, at_photo = pixels[at_photo:at_photo + len(photos.stats)], at_photo + len(photos.stats)
            suspect = self.judge(hit, product_id, values, photos, cos, fits)
            if suspect is not None:
                found.append(suspect)
        return found

    def judge(self, hit: Hit, product_id: str, values: list[str], photos: Photos, cosines: np.ndarray | None,
              pixels: list) -> Suspect | None:
        """The product as a suspect, or None. A value is never suspected when one of the product's photos shows it
        (it fits that photo at least as well as every label the product does not hold). A value a variant carries
        is judged on its own; with a variant photo, its margin and suggestion come from that photo. The values no
        variant carries are judged together, as the audit always judged a product: suspected only when none of
        them shows in any photo (a product with several values is not suspected of lacking one of them), and not
        at all when one of them is an unknown name (it may be what the photos show)."""
        own = np.zeros(len(self.labels), dtype=bool)
        own[[self.index[v] for v in values]] = True
        judged = self._photo_fits(own, cosines, pixels)
        if not judged:
            return None
        unknown = set(self.unknown(values))
        carried = {}
        if photos.carried:
            keys = {v: self._key(v) for v in values}
            carried = {v: photos.carried[keys[v]] for v in values if v not in unknown and keys[v] in photos.carried}
        loose = [v for v in values if v not in carried]
        groups = [(loose, None)] if loose and not unknown & set(loose) else []
        groups += [([v], positions) for v, positions in carried.items()]
        found = []
        for group, positions in groups:
            rows = [self.index[v] for v in group]
            if any(_shows(row, own, fit, cand) for row in rows for _, fit, cand, *_ in judged):
                continue
            own_photos = [j for j in judged if positions is None or j[0] in positions]
            worst = _closest(rows, own, own_photos) or _closest(rows, own, judged)
            if worst is not None:
                found.append(worst)
        if not found:
            return None
        margin, given, best, (position, fit, _, pixels, cos) = max(found, key=lambda f: (f[0], -f[1]))
        ref = photos.refs[position]
        return Suspect(product_id, self.field, self.labels[given], self.labels[best], margin,
                       self._evidence(photos.stats[position], ref, cos, pixels, given, best),
                       str(hit.payload.get(TITLE) or ""), ref or str(hit.payload.get(IMAGE_PATH) or ""))

    def _key(self, value: str) -> str:
        key = self.keys.get(value)
        if key is None:
            key = self.keys[value] = colour_key(value)
        return key

    def _photo_fits(self, own: np.ndarray, cosines: np.ndarray | None, fits: list) -> list[tuple]:
        """(position, fit, candidates, pixel fit or None, cosines) for each photo with any evidence: its colour
        statistics against the labels' references when it has them and the product holds a label with a hue,
        combined with CLIP (see CLIP_WEIGHT); else CLIP alone."""
        judged = []
        hue = (own & self.known).any()
        for position, pixels in enumerate(fits):
            if pixels is None and cosines is None:
                continue  # neither pixels nor a vector: this photo says nothing
            cos = cosines[position] if cosines is not None else np.zeros(len(self.labels))
            if pixels is not None and hue:
                judged.append((position, pixels / PIXEL_DE - CLIP_WEIGHT * cos, self.known, pixels, cos))
            elif cosines is not None:
                judged.append((position, -cos, self.named, None, cos))
        return judged

    def _cosines(self, vectors: np.ndarray) -> np.ndarray:
        images = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (images @ self.texts.T).astype(np.float64)

    def _pixel_fits(self, stats: list) -> list[np.ndarray | None]:
        """Each photo's pixel fit of every label, in ΔE (NaN for labels without a reference colour), or None for a
        photo without statistics: the distance to the closest dominant colour plus SHARE_DE for how little of the
        product that colour covers. All photos in one pass, their colours padded to the longest list."""
        present = [i for i, s in enumerate(stats) if s]
        out: list[np.ndarray | None] = [None] * len(stats)
        if not present:
            return out
        most = max(len(stats[i]) for i in present)
        far = list(FAR)  # padding: a colour farther than any label's reference
        colours = np.array([[list(c[:4]) for c in stats[i]] + [far] * (most - len(stats[i])) for i in present],
                           dtype=np.float64)
        distances = np.linalg.norm(colours[:, :, None, :3] - self.refs[None, None], axis=3)  # photos x colours x labels
        fits = np.min(distances + SHARE_DE * (1 - colours[:, :, 3:4]), axis=1)
        for row, i in enumerate(present):
            out[i] = fits[row]
        return out

    def _evidence(self, stats, ref: str, cos: np.ndarray, pixels: np.ndarray | None, given: int, best: int) -> dict:
        evidence = {"clip_margin": round(float(cos[best] - cos[given]), 4),
                    "given_cos": round(float(cos[given]), 4), "suggested_cos": round(float(cos[best]), 4)}
        if self.field == COLOUR:
            known = pixels is not None
            evidence.update({
                "pixel_margin": round(float(pixels[given] - pixels[best]), 1) if known else None,
                "given_de": round(float(pixels[given]), 1) if known else None,
                "suggested_de": round(float(pixels[best]), 1) if known else None,
                "colours": stats or [], "photo": ref})
        return evidence


def _shows(row: int, own: np.ndarray, fit: np.ndarray, candidates: np.ndarray) -> bool:
    """Whether a photo shows the label at `row`: it fits at least as well as every candidate the product lacks."""
    if not candidates[row]:
        return False
    best = _argmin(fit, candidates & ~own)
    return best is None or fit[row] <= fit[best]


def _closest(rows: list[int], own: np.ndarray, judged: list[tuple]):
    """(margin, given row, suggested row, photo) of the given labels' closest call over these photos: the pair
    whose margin is smallest; None when no photo can compare them with another label."""
    found = None
    for photo in judged:
        _, fit, candidates, *_ = photo
        best = _argmin(fit, candidates & ~own)
        for row in rows:
            if best is None or not candidates[row]:
                continue
            margin = float(fit[row] - fit[best])
            if found is None or margin < found[0]:
                found = (margin, row, best, photo)
    return found


def _argmin(values: np.ndarray, mask: np.ndarray) -> int | None:
    """The index of the smallest value where mask is set (the first on a tie: labels are sorted), or None."""
    if not mask.any():
        return None
    return int(np.flatnonzero(mask)[np.argmin(values[mask])])

