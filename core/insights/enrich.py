"""Attribute enrichment: a missing attribute's value proposed zero-shot from the vectors already stored, with a
confidence calibrated on the products whose value is known."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field as dataclass_field
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.common.errors import BadQuery, NotIndexed
from core.common.fields import (CATEGORY, COMPARE_AT_PRICE, CURRENCY, DESCRIPTION, DISCOUNT, FIELD_NAME, GROUP_ID,
                                IMAGE, IMAGE_PATH, IMAGE_URL, IN_STOCK, INVENTORY, LINK, MATCHED_PHOTOS, ON_SALE,
                                PHOTO_VECTORS, PHOTOS, PRICE, PRODUCT_ID, PRODUCT_TYPE, RATING, RESERVED_KEYS,
                                SALE_PRICE, SHARED_PHOTOS, SKU, STATUS, SUB_CATEGORY, TAGS, TITLE, VARIANTS,
                                values_of)
from core.common.filters import Filters
from core.common.iterables import chunks
from core.index.compat import require_same_model
from core.index.store.base import HAS_PHOTO_VECTORS

if TYPE_CHECKING:  # annotations only: importing this module loads no model
    from core.index.store import ProductStore
    from core.models.embedder import QueryEncoder

NOT_APPLICABLE = "not_applicable"
# The JSON summary, exactly the keys; what else a run tells (skipped products, how confidence was made) is
# EnrichResult.details.
SUMMARY_KEYS = ("products", "proposed", "not_applicable", "known", "accuracy_on_known")
SOURCES = ("photo", "text", "both")
# The CLIP paper's prompt ensembling: each value's text vector is the mean of these prompts' (each normalised),
# renormalised. {kind} is the product's type, so "striped" is asked of a shirt as a shirt.
TEMPLATES = ("a photo of a {value} {kind}.", "a close-up photo of a {value} {kind}.", "a {value} {kind}.",
             "a product photo of a {value} {kind}.")
# not_applicable: the same ensemble with no value ("a photo of a {kind}.") is the null hypothesis. A product is
# not_applicable when its best value's cosine is not above the null prompt's by more than NULL_MARGIN: no value
# describes the photo better than saying nothing about the attribute (a plain tee asked for its pattern).
NULL_MARGIN = 0.0
LOGIT_SCALE = 100.0    # CLIP's learned logit scale: the softmax over the values is taken of 100 x cosine
MAX_VALUES = 100       # a closed list a person reviews; a 500-value list is a taxonomy, not an attribute's values
MAX_VALUE_CHARS = 100
MAX_KINDS = 50         # the most common product types get their own prompts; the rest are asked as "product"
MAX_PROMPTS = 4000     # prompts embedded per run at most (kinds x (values + null) x templates): fewer kinds for
                       # long value lists, so the text tower's share of a run stays bounded
DEFAULT_KIND = "product"
MIN_KNOWN = 20         # known products needed before the margin is calibrated (fewer: the raw margin)
MIN_SUPPORT = 10       # known products at or above a margin for it to be a calibration threshold
CHUNK = 1000           # products read with their vectors at a time: memory bounded whatever the catalogue's size
TOP_SCORES = 3         # values kept in a proposal's evidence
# Fields enrichment never writes, beside the index's own keys (RESERVED_KEYS): identity, photos and links, prices
# and stock (numbers and flags the feed owns), free text, and lists whose whole cell a single value would replace.
PROTECTED = (PRODUCT_ID, TITLE, DESCRIPTION, IMAGE, IMAGE_URL, PHOTOS, VARIANTS, LINK, SKU, GROUP_ID, TAGS, PRICE,
             SALE_PRICE, COMPARE_AT_PRICE, CURRENCY, IN_STOCK, INVENTORY, RATING, STATUS, ON_SALE, DISCOUNT,
             "text", "image")
Progress = Callable[[int, int], None]


@dataclass
class Proposal:
    """A value proposed for one product's attribute; confidence is on a 0..1 scale (see EnrichResult)."""

    product_id: str
    attribute: str
    current: str           # "" when empty (a list joined with ", ")
    proposed: str
    confidence: float
    evidence: dict
    title: str = ""        # for the page
    image_path: str = ""
    photos: list[str] = dataclass_field(default_factory=list)

    def as_dict(self) -> dict:
        return {"product_id": self.product_id, "attribute": self.attribute, "current": self.current,
                "proposed": self.proposed, "confidence": round(self.confidence, 4), "evidence": self.evidence}


@dataclass
class EnrichResult:
    """One attribute's run: the proposals (most confident first, then product id) and how far to trust them.

    calibration: (confidence, share right among the known products with that confidence or more, how many), by
    confidence descending; precision_at reads it. summary holds SUMMARY_KEYS; details the rest ("skipped":
    products without a vector of the source, "confidence": "calibrated" or "margin")."""

    attribute: str
    values: list[str]
    source: str
    overwrite: bool
    summary: dict
    proposals: list[Proposal] = dataclass_field(default_factory=list)
    calibration: list[tuple[float, float, int]] = dataclass_field(default_factory=list)
    index_version: float | None = None
    details: dict = dataclass_field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"summary": {k: self.summary.get(k) for k in SUMMARY_KEYS}, "details": dict(self.details),
                "proposals": [p.as_dict() for p in self.proposals]}

    def precision_at(self, confidence: float) -> tuple[float | None, int]:
        """(share right, how many) among the known products with this confidence or more; (None, 0) when none."""
        found: tuple[float | None, int] = (None, 0)
        for level, share, count in self.calibration:  # descending: the last row at or above `confidence` holds all
            if level < confidence - 1e-12:
                break
            found = (share, count)
        return found


def fold(value: str) -> str:
    """A value as compared with a product's (case and spacing aside)."""
    return " ".join(str(value).split()).casefold()


def check_request(attribute: str, values: list[str] | str) -> tuple[str, list[str]]:
    """The attribute and its distinct values (comma-separated text or a list; spacing tidied, the first spelling
    of values equal but for case kept), or BadQuery saying what to change. Checked before any model loads."""
    attribute = str(attribute or "").strip()
    if not FIELD_NAME.match(attribute):
        raise BadQuery(f"{attribute!r} is not an attribute name: use lower-case letters, digits and _ (like "
                       "pattern or sleeve_length), starting with a letter")
    if attribute in RESERVED_KEYS or attribute in PROTECTED:
        raise BadQuery(f"{attribute!r} is a field enrichment does not write (the index's own, or one the feed "
                       "owns: ids, photos, links, prices, stock, status, title, description, tags): name another "
                       "attribute, like pattern")
    items = values.split(",") if isinstance(values, str) else list(values or [])
    distinct: dict[str, str] = {}
    for item in items:
        value = " ".join(str(item).split())
        if len(value) > MAX_VALUE_CHARS:
            raise BadQuery(f"the value {value[:40]!r}... is longer than {MAX_VALUE_CHARS} characters")
        if value:
            distinct.setdefault(fold(value), value)
    if len(distinct) < 2:
        raise BadQuery(f"give at least 2 distinct values to choose between (got {len(distinct)}), like "
                       "--values striped,plain,floral")
    if len(distinct) > MAX_VALUES:
        raise BadQuery(f"{len(distinct)} values are too many to choose between: at most {MAX_VALUES}; split the list "
                       "by product type, or enrich a narrower attribute")
    return attribute, list(distinct.values())


def kind_of(payload: dict) -> str:
    """What a product is, as its prompts name it: its product type, else its sub-category, else its category."""
    for key in (PRODUCT_TYPE, SUB_CATEGORY, CATEGORY):
        named = values_of(payload.get(key))
        if named and named[0].strip():
            return " ".join(named[0].split())
    return DEFAULT_KIND


def enrich(store: ProductStore, encoder: QueryEncoder, attribute: str, values: list[str] | str, source: str = "photo",
           overwrite: bool = False, filters: Filters | None = None, progress: Progress | None = None) -> EnrichResult:
    """Propose a value of `attribute` for the products the filters keep, zero-shot from their stored vectors.

    Each value's prompt ensemble for the product's kind (TEMPLATES) against each of the product's photo vectors
    (every matched photo's row; the hero's "image" vector in an index made before) and/or its text vector: per
    vector a softmax over the values of LOGIT_SCALE x cosine, a product's scores the mean over its photos (and for
    "both", the mean of the photo and the text distributions). The top value wins by margin = top1 - top2. A
    product whose best value does not beat the null prompt is not_applicable (NULL_MARGIN), and is counted, not
    proposed. Known products (their value is one of the values) measure accuracy_on_known and, from MIN_KNOWN of
    them, calibrate the margin into a confidence: the share right among known products with that margin or more.
    Only empty values are proposed unless overwrite (never the value a product already holds).

    The summary's counts: "not_applicable" counts only the products that could get a proposal (an empty value, or
    every product with overwrite), so without overwrite products = proposed + not_applicable + those holding a
    value + details["skipped"]. accuracy_on_known is the share of known products whose top value is their own;
    a known product judged not_applicable counts as wrong (its value is known to apply), so "known" counts it
    too. Calibration reads only the known products that beat the null prompt, the ones a proposal could be.
    """
    attribute, values = check_request(attribute, values)
    meta = store.require_meta()
    require_same_model(meta, encoder.name, encoder.dim)
    filters = filters or Filters()
    total = check_scope(store, attribute, source, filters)
    prompts = _Prompts(encoder, values, _common_kinds(store, filters, kinds_for(len(values))))
    folded = [fold(v) for v in values]
    vectors = [] if source == "text" else ["image"]
    if source != "text" and meta.get(HAS_PHOTO_VECTORS):
        vectors.append(PHOTO_VECTORS)
    if source != "photo":
        vectors.append("text")
    keys = [PRODUCT_ID, attribute, TITLE, IMAGE_PATH, IMAGE_URL, MATCHED_PHOTOS, SHARED_PHOTOS, PRODUCT_TYPE,
            SUB_CATEGORY, CATEGORY]
    counts = Counter()
    proposals: list[Proposal] = []
    known: list[tuple[float, bool]] = []  # (margin, right) of each known product a proposal would be made for
    known_not_applicable = 0               # known products judged not_applicable: wrong, and not calibrating
    done = 0
    for chunk in chunks(store.scroll(filters or None, payload_keys=keys, with_vectors=vectors, page=CHUNK), CHUNK):
        counts["products"] += len(chunk)
        scored = _Scored(chunk, source, prompts)
        for i, hit in enumerate(chunk):
            if not scored.has[i]:
                counts["skipped"] += 1
                continue
            top, margin = int(scored.top[i]), float(scored.margin[i])
            held = values_of(hit.payload.get(attribute))
            is_known = len(held) == 1 and fold(held[0]) in folded
            if scored.lead[i] <= NULL_MARGIN:
                known_not_applicable += is_known
                if overwrite or not held:
                    counts[NOT_APPLICABLE] += 1
                continue
            held_folded = {fold(v) for v in held}
            if is_known:
                known.append((margin, folded.index(fold(held[0])) == top))
            if held and (not overwrite or folded[top] in held_folded):
                continue
            order = np.argsort(-scored.probs[i], kind="stable")[:TOP_SCORES]
            scores = {values[int(v)]: round(float(scored.probs[i, v]), 4) for v in order}
            proposals.append(Proposal(
                str(hit.payload.get(PRODUCT_ID, "")), attribute, ", ".join(held), values[top], margin,
                {"source": scored.used(i), "margin": round(margin, 4), "scores": scores,
                 "photos": int(scored.photos[i])},
                str(hit.payload.get(TITLE) or ""), str(hit.payload.get(IMAGE_PATH) or ""), _photo_refs(hit)))
        done += len(chunk)
        if progress:
            progress(done, total)
    confidence, calibrated = _calibrator(known)
    how = "calibrated" if calibrated else "margin"
    for p in proposals:
        p.confidence = confidence(p.confidence)
        p.evidence["confidence"] = how
    proposals.sort(key=lambda p: (-p.confidence, p.product_id))
    right, judged = sum(ok for _, ok in known), len(known) + known_not_applicable
    summary = {"products": counts["products"], "proposed": len(proposals), "not_applicable": counts[NOT_APPLICABLE],
               "known": judged, "accuracy_on_known": round(right / judged, 4) if judged else None}
    table = _table([(confidence(m), ok) for m, ok in known])
    return EnrichResult(attribute, values, source, overwrite, summary, proposals, table, meta.get("last_indexed"),
                        {"skipped": counts["skipped"], "confidence": how})


def check_scope(store: ProductStore, attribute: str, source: str = "photo", filters: Filters | None = None) -> int:
    """How many products a run would read, or the error that stops it (no index, no products, a source or filter
    this index cannot take, an attribute that is a number or text field here, no product matching): all of it
    answerable before the model loads."""
    if source not in SOURCES:
        raise BadQuery(f"--from is one of {', '.join(SOURCES)}, not {source!r}")
    schema = store.schema()
    if attribute in schema.number or attribute in schema.text or attribute in schema.flags:
        raise BadQuery(f"{attribute!r} is a number, flag or text field of this index, not a keyword attribute: "
                       "name another attribute")
    if store.count() == 0:
        raise NotIndexed("the index has no products to enrich: index a catalogue first")
    if filters:
        filters.check(schema)
    total = store.count(filters or None)
    if total == 0:
        raise BadQuery("no product matches the filters: loosen them to enrich some products")
    return total


def kinds_for(values: int) -> int:
    """How many kinds get their own prompts for a list of `values` values (the rest share "product")."""
    return max(0, min(MAX_KINDS, MAX_PROMPTS // ((values + 1) * len(TEMPLATES)) - 1))


def _common_kinds(store: ProductStore, filters: Filters, most: int) -> list[str]:
    """The `most` most common kinds among the products the filters keep (a payload-only pass)."""
    if most == 0:
        return []
    counts = Counter(kind_of(hit.payload) for hit in store.scroll(
        filters or None, payload_keys=[PRODUCT_TYPE, SUB_CATEGORY, CATEGORY], page=CHUNK * 10))
    counts.pop(DEFAULT_KIND, None)
    return [kind for kind, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:most]]


class _Prompts:
    """Each kind's value vectors (values x dim) and null vector, embedded once per run."""

    def __init__(self, encoder, values: list[str], kinds: list[str]):
        self.kinds = {kind: i for i, kind in enumerate([*kinds, DEFAULT_KIND])}
        names = list(self.kinds)
        texts = [t.format(value=value, kind=kind) for kind in names for value in [*values, ""]
                 for t in TEMPLATES]
        texts = [" ".join(t.split()) for t in texts]  # the null prompt: "a photo of a {kind}."
        embedded = _unit(np.asarray(encoder.encode_texts(texts), dtype=np.float32))
        per_value = embedded.reshape(len(names), len(values) + 1, len(TEMPLATES), -1)
        ensembles = _unit(per_value.mean(axis=2))
        self.values = ensembles[:, :-1, :]   # kinds x values x dim
        self.null = ensembles[:, -1, :]      # kinds x dim

    def at(self, kind: str) -> int:
        return self.kinds.get(kind, self.kinds[DEFAULT_KIND])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _softmax(cosines: np.ndarray) -> np.ndarray:
    logits = LOGIT_SCALE * cosines
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _photo_rows(hit) -> list:
    """The product's photo vectors, one row each: every matched photo's but those shared by many products (a size
    chart says nothing of this product); the hero's "image" vector in an index made before photos were kept."""
    rows = hit.vectors.get(PHOTO_VECTORS)
    if rows is not None and len(rows):
        matched = hit.payload.get(MATCHED_PHOTOS) or []
        shared = set(hit.payload.get(SHARED_PHOTOS) or [])
        keep = [i for i, ref in enumerate(matched) if ref not in shared]
        return [rows[i] for i in keep] if len(matched) == len(rows) and keep else list(rows)
    image = hit.vectors.get("image")
    return [] if image is None else [image]


def _photo_refs(hit) -> list[str]:
    """The photos the page shows beside a proposal: the matched ones but shared ones, else the hero."""
    shared = set(hit.payload.get(SHARED_PHOTOS) or [])
    refs = [str(r) for r in hit.payload.get(MATCHED_PHOTOS) or [] if r not in shared]
    hero = str(hit.payload.get(IMAGE_PATH) or hit.payload.get(IMAGE_URL) or "")
    return refs or ([hero] if hero else [])


class _Scored:
    """A chunk of products scored at once: every photo row (and text vector) against its product's kind's prompts
    in one matrix product per kind, the softmax of all rows in one pass, each product's mean over its rows.

    has: products with a vector of the source; probs / cosines (products x values): mean value probabilities and
    cosines (for "both", the mean of the photo and text means); top, margin (top1 - top2), lead (the top value's
    cosine above the null prompt's), photos (photo rows read)."""

    def __init__(self, hits: list, source: str, prompts: _Prompts):
        n, width = len(hits), prompts.values.shape[1]
        kinds = np.array([prompts.at(kind_of(hit.payload)) for hit in hits], dtype=np.int64)
        self.photos = np.zeros(n, dtype=np.int64)
        parts = []
        if source in ("photo", "both"):
            rows, owners = [], []
            for i, hit in enumerate(hits):
                mine = _photo_rows(hit)
                rows.extend(mine)
                owners.extend([i] * len(mine))
                self.photos[i] = len(mine)
            parts.append(_part(rows, owners, kinds, prompts, n))
        if source in ("text", "both"):
            owners = [i for i, hit in enumerate(hits) if hit.vectors.get("text") is not None]
            parts.append(_part([hits[i].vectors["text"] for i in owners], owners, kinds, prompts, n))
        present = np.array([has for has, *_ in parts], dtype=np.float64)  # parts x products
        count = present.sum(axis=0)
        self.has = count > 0
        self.sources = present > 0
        weight = present / np.maximum(count, 1)
        self.probs = sum(w[:, None] * p for w, (_, p, _, _) in zip(weight, parts)) if parts else np.zeros((n, width))
        self.cosines = sum(w[:, None] * c for w, (_, _, c, _) in zip(weight, parts))
        null = sum(w * z for w, (*_, z) in zip(weight, parts))
        order = np.argsort(-self.probs, axis=1, kind="stable")
        at = np.arange(n)
        self.top = order[:, 0]
        self.margin = self.probs[at, order[:, 0]] - self.probs[at, order[:, 1]]
        self.lead = self.cosines[at, self.top] - null
        self.source = source

    def used(self, i: int) -> str:
        """What product i's scores came from: photo, text or both."""
        if self.source != "both":
            return self.source
        photo, text = bool(self.sources[0, i]), bool(self.sources[1, i])
        return "both" if photo and text else "photo" if photo else "text"


def _part(rows: list, owners: list[int], kinds: np.ndarray, prompts: _Prompts, n: int):
    """(has, mean probabilities, mean cosines, mean null cosine) per product, from vectors each owned by a product
    (owners ascending): products without a vector get zeros and has False."""
    width = prompts.values.shape[1]
    has = np.zeros(n, dtype=bool)
    probs, cosines, null = np.zeros((n, width)), np.zeros((n, width)), np.zeros(n)
    if not rows:
        return has, probs, cosines, null
    vectors = _unit(np.asarray(rows, dtype=np.float32))
    owners = np.asarray(owners, dtype=np.int64)
    row_kinds = kinds[owners]
    cos = np.empty((len(vectors), width), dtype=np.float32)
    nul = np.empty(len(vectors), dtype=np.float32)
    for kind in np.unique(row_kinds):
        mine = row_kinds == kind
        cos[mine] = vectors[mine] @ prompts.values[kind].T
        nul[mine] = vectors[mine] @ prompts.null[kind]
    cos, nul = cos.astype(np.float64), nul.astype(np.float64)
    products, starts, sizes = np.unique(owners, return_index=True, return_counts=True)
    has[products] = True
    probs[products] = np.add.reduceat(_softmax(cos), starts, axis=0) / sizes[:, None]
    cosines[products] = np.add.reduceat(cos, starts, axis=0) / sizes[:, None]
    null[products] = np.add.reduceat(nul, starts) / sizes
    return has, probs, cosines, null


def _calibrator(known: list[tuple[float, bool]]) -> tuple[Callable[[float], float], bool]:
    """margin -> confidence: with MIN_KNOWN known products or more, the share right among the known products whose
    margin is at least the largest threshold at or below it (all of them below the smallest), made non-decreasing
    in the margin (each level no higher than any level above it); else the raw margin. Thresholds are the known
    margins with MIN_SUPPORT known products or more at or above them: a share of one or two products would pull
    every level below it down (or up) by chance."""
    if len(known) < MIN_KNOWN:
        return (lambda margin: float(min(max(margin, 0.0), 1.0))), False
    ordered = sorted(known, key=lambda k: -k[0])
    levels: list[tuple[float, float]] = []  # (margin threshold, share right at or above), descending margins
    right = 0
    for i, (margin, ok) in enumerate(ordered):
        right += ok
        if i + 1 < MIN_SUPPORT or (i + 1 < len(ordered) and ordered[i + 1][0] == margin):
            continue  # too few above it yet, or a tie: one level for them all
        share = right / (i + 1)
        if levels:
            share = min(share, levels[-1][1])
        levels.append((margin, share))
    levels.reverse()  # ascending margins, non-decreasing shares
    margins = [m for m, _ in levels]

    def confidence(margin: float) -> float:
        at = bisect_right(margins, margin) - 1
        return float(levels[max(at, 0)][1])

    return confidence, True


def _table(rows: list[tuple[float, bool]]) -> list[tuple[float, float, int]]:
    """(confidence, share right among known products with that confidence or more, how many), descending."""
    table: list[tuple[float, float, int]] = []
    ordered = sorted(rows, key=lambda r: -r[0])
    right = 0
    for i, (level, ok) in enumerate(ordered):
        right += ok
        if i + 1 < len(ordered) and ordered[i + 1][0] == level:
            continue
        table.append((level, right / (i + 1), i + 1))
    return table
