"""Search: text, image and hybrid queries, filters, facets, feedback and diversity (no Streamlit)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.common.config import MAX_PIXELS
from core.index.compat import require_same_model
from core.common import fields as F
from core.common.vectors import normalise
from core.common.errors import BadQuery, UnknownProduct
from core.common.fields import Schema, SortKey, display_value
from core.common.filters import Filters
from core.ingest.images import ImageSource, open_image
from core.index.keywords import matched_terms, query_terms, query_weights
from core.index.store import RRF_K, Diverse, Fused, Hit, Nearest, Ordered, ProductStore, Recommend, Sparse, point_id
from core.search import words

if TYPE_CHECKING:  # for annotations only: importing this module does not load the model's modules
    from core.models.embedder import QueryEncoder

MAX_LIMIT = 500
SORT_POOL = 200  # a semantic search sorted by a field sorts its 200 most similar results (or those above the cut-off)
# The candidates each list of a text search's words-and-meaning tiers (and their MMR re-ranking) brings: one fixed
# number, whatever the page. A pool that grew with the page (offset + limit) fused longer lists for page 2 than for
# page 1, so the order moved between pages: some products were shown on both, others on none. With a fixed pool every
# page is a slice of one list, and a tier ends where its pool does: it holds the best FUSION_POOL of each of its lists
# (a product in several counted once), with diversity at most FUSION_POOL. 300 rather than 500: at 20,000 products a
# diverse words-and-meaning page took ~16 ms with 300, ~22 with 500. (The older fused and MMR searches, hybrid rrf,
# product texts and diversity by meaning, still size theirs by the page: prefetch_size.)
FUSION_POOL = 300
Fusion = Literal["weighted", "rrf"]
Match = Literal["both", "keywords", "meaning"]


@dataclass(frozen=True)
class SearchRequest:
    """Everything a search needs; validated on construction so bad input never reaches the engine."""

    text: str = ""
    image: ImageSource | None = None
    like: str = ""                 # a catalogue product id used as the image query ("more like this")
    selection: tuple[str, ...] = ()  # several products (a map selection): their mean vector is the query
    weight: float = 0.5            # hybrid: share of the text query (1 = text only, 0 = image only)
    fusion: Fusion = "weighted"
    use_text_vectors: bool = False  # text mode: also search product text vectors and fuse (RRF)
    filters: Filters = field(default_factory=Filters)
    limit: int = 12
    offset: int = 0
    threshold: float | None = None
    diverse: bool = False
    diversity: float = 0.5         # MMR: 0 = plain relevance order, 1 = as varied as possible
    positives: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    sort: SortKey = field(default_factory=SortKey)  # by a number field: every result, a text search's exact SKU,
    #                                 handle and id matches included, takes its place in that order (still exact)
    show_hidden: bool = False      # also draft and archived products (a status filter in `filters` decides too)
    match: Match = "both"          # text mode: words and meaning, the keyword index alone, or CLIP alone

    def __post_init__(self):
        if not 1 <= int(self.limit) <= MAX_LIMIT:
            raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if int(self.offset) < 0:
            raise BadQuery(f"offset must be 0 or more, got {self.offset}")
        if not 0.0 <= float(self.weight) <= 1.0:
            raise BadQuery(f"weight must be between 0 and 1, got {self.weight}")
        if not 0.0 <= float(self.diversity) <= 1.0:
            raise BadQuery(f"diversity must be between 0 and 1, got {self.diversity}")
        if self.fusion not in ("weighted", "rrf"):
            raise BadQuery(f"fusion must be 'weighted' or 'rrf', got {self.fusion!r}")
        if self.match not in words.MATCHES:
            raise BadQuery(f"match must be one of {', '.join(map(repr, words.MATCHES))}, got {self.match!r}")
        if self.threshold is not None and not -1.0 <= float(self.threshold) <= 1.0:
            raise BadQuery(f"threshold must be a similarity between -1 and 1, got {self.threshold}")
        if sum([self.image is not None, bool(self.like), bool(self.selection)]) > 1:
            raise BadQuery("give one image query: an image, a product id or a selection, not several")
        if self.match == "keywords" and self.text.strip() and not self.has_image and not self.terms:
            raise BadQuery("a words-only search needs a word to match, and this query has only punctuation or stop "
                           "words: search by meaning instead")

    @property
    def has_image(self) -> bool:
        return self.image is not None or bool(self.like) or bool(self.selection)

    @property
    def needs_model(self) -> bool:
        """True when a text or an uploaded image must be encoded (a product id or likes alone need no model)."""
        return self.mode in ("text", "hybrid") or self.image is not None

    @property
    def mode(self) -> str:
        """'hybrid', 'text', 'image' or 'feedback' (likes/dislikes only)."""
        text = bool(self.text.strip())
        if text and self.has_image:
            return "hybrid"
        if text:
            return "text"
        if self.has_image:
            return "image"
        if self.positives or self.negatives:
            return "feedback"
        raise BadQuery("nothing to search for: give a text, an image, a product id (--like) or liked products")

    @property
    def fused(self) -> bool:
        """True when two ranked lists are fused by rank (RRF): hybrid with rrf, or text with product texts."""
        mode = self.mode
        return (mode == "hybrid" and self.fusion == "rrf") or (mode == "text" and self.use_text_vectors)

    @cached_property
    def terms(self) -> tuple[str, ...]:
        """The query text's distinct stems (core.index.keywords.query_terms): what the keyword index matches."""
        return tuple(query_terms(self.text)) if self.text.strip() else ()

    @property
    def by_words(self) -> bool:
        """A text search with a keyword list: match "both" or "keywords", and a word to match. Hybrid and image
        searches, and match "meaning", run as before the keyword index."""
        return (self.match != "meaning" and bool(self.text.strip()) and not self.has_image
                and bool(self.terms))

    @property
    def diverse_applies(self) -> bool:
        """MMR re-ranks one list around one vector: one similarity list, or the fused list of a text search's
        words and meaning (re-ranked around the query's CLIP vector inside the engine, products without a photo
        vector kept at their fused places); not the rrf fusion of two similarity lists, a feedback ranking, nor a
        words-only search (it uses no meaning, and MMR's variety is CLIP's)."""
        if self.positives or self.negatives or (self.by_words and self.match == "keywords"):
            return False
        return self.diverse and (self.by_words or not self.fused)

    def notes(self) -> list[str]:
        """Plain-language reasons why an option that was asked for does not apply to this search."""
        out = []
        text_mode = bool(self.text.strip()) and not self.has_image
        if text_mode and self.match == "both" and not self.terms:
            out.append(words.NO_WORDS_NOTE)
        if self.match != "both" and self.text.strip() and self.has_image:
            out.append(f"{'Words' if self.match == 'keywords' else 'Meaning'} only applies to a text search alone: "
                       "with a photo, the text is matched by meaning.")
        if text_mode and self.match == "keywords" and self.terms:
            if self.threshold is not None:
                out.append("Minimum similarity is off: a words-only search keeps every product holding a query "
                           "word. Choose words and meaning to use it.")
            if self.use_text_vectors:
                out.append("“Also match product texts” is off: a words-only search uses no meaning.")
        if self.diverse and self.by_words and self.match == "keywords":
            out.append("Diverse results are off: a words-only search uses no meaning, and variety is measured by "
                       "CLIP's vectors. Choose words and meaning to use it.")
        elif self.diverse and not self.diverse_applies:
            why = ("👍/👎 feedback ranks the results" if self.positives or self.negatives else
                   "“also match product texts” ranks two lists by position" if self.mode == "text" else
                   "rrf fusion ranks two lists by position")
            out.append(f"Diverse results are off: {why}, and diversity needs one similarity list. "
                       + ("Reset the feedback" if self.positives or self.negatives else
                          "Turn that off" if self.mode == "text" else "Choose weighted fusion") + " to use it.")
        return out


@dataclass
class Result:
    """One search result; from_hit and the accessors below are the only code that reads payload keys.

    score is the engine's score, whose meaning depends on the query (a cosine similarity, an RRF score, a
    recommend score); similarity and rank are what a person can read: the cosine similarity to the query
    when known, and the position in the list when the order is not by that similarity (fused or feedback).
    A text search's words say why too: matched_words (the query's stems the product holds, in query order) and
    exact (the whole query is its SKU, id or item group id: exact_by says which).
    """

    product_id: str
    score: float | None
    title: str
    image_path: str
    payload: dict
    similarity: float | None = None
    rank: int | None = None
    matched_words: list[str] = field(default_factory=list)
    exact: bool = False
    exact_by: str = ""

    def why(self) -> str:
        """Why the search found it, as plain text: "SKU match · matched: levi, jean · similarity 0.31"."""
        return words.why(self.exact_by or ("exact" if self.exact else ""), self.matched_words, self.similarity)

    @classmethod
    def from_hit(cls, hit: Hit) -> "Result":
        payload = hit.payload or {}
        return cls(str(payload.get(F.PRODUCT_ID, "")), round(float(hit.score), 6), str(payload.get(F.TITLE, "")),
                   str(payload.get(F.IMAGE_PATH, "")), payload)

    def text(self, key: str) -> str:
        """An attribute as plain text ('' when the product lacks it); lists are joined with commas."""
        return display_value(self.payload.get(key))

    def number(self, key: str) -> float | None:
        value = self.payload.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def price(self) -> str:
        """'19.99 USD', '19.99' without a currency, '' without a price."""
        price = self.number(F.PRICE)
        if price is None:
            return ""
        return f"{price:,.2f} {self.text(F.CURRENCY)}".strip()

    @property
    def link(self) -> str:
        """The product page URL when it is http(s); anything else (javascript:, data:, a path) is never a link."""
        url = self.text(F.LINK).strip()
        return url if url.lower().startswith(("http://", "https://")) and " " not in url else ""

    @property
    def image_url(self) -> str:
        return self.text(F.IMAGE_URL)

    def attributes(self) -> list[tuple[str, str]]:
        """Every catalogue attribute as (field, text): canonical roles first, then the catalogue's own columns."""
        hidden = {*F.RESERVED_KEYS, F.PRODUCT_ID, F.TITLE, F.IMAGE_URL}
        keys = [k for k in F.ROLES if k in self.payload] + sorted(k for k in self.payload if k not in F.ROLES)
        return [(k, self.text(k)) for k in keys if k not in hidden and self.text(k) != ""]

    def as_dict(self) -> dict:
        """The result for --json: the catalogue's payload without the keyword index's own lists (a product's up to
        2,000 stems and its lookup keys are how it is found, not what it is)."""
        payload = {k: v for k, v in self.payload.items() if k not in (F.TERMS, F.LOOKUP_KEYS)}
        return {"product_id": self.product_id, "score": self.score, "title": self.title,
                "image_path": self.image_path, "payload": payload}


# ---- query vectors -----------------------------------------------------------------------------

def _check_model(store: ProductStore, embedder: QueryEncoder) -> None:
    require_same_model(store.require_meta(), embedder.name, embedder.dim)


def photo_space(store: ProductStore) -> str:
    """The vector space a photo query searches: every photo of a product (the "photos" multivector, scored by its
    best photo) once every product with a photo has it, else the hero's "image" vector, so that no search silently
    misses the products of an index built before several photos (its next index run adds them)."""
    return F.PHOTO_VECTORS if getattr(store, "multi_photo", False) else "image"


def photo_spaces(store: ProductStore) -> tuple[str, ...]:
    """The vector spaces a photo query searches, its answers merged by max score per product: "image" alone before
    several photos; with them, "image" AND "photos". The HNSW graph on the multivector guides a one-photo query
    less well than the one on "image" (docs/benchmarks.md: at 100k products a product's own photo came first
    43-96% of the time on "photos", 100% on "image"), so the hero's vector is searched too. The max is exact: a
    product's hero row is also one of its photos rows, so where either search finds it the score is its best
    photo's."""
    space = photo_space(store)
    return ("image",) if space == "image" else ("image", space)


def best_photo_hits(store: ProductStore, vector: np.ndarray, filters: Filters | None, limit: int, offset: int = 0,
                    threshold: float | None = None) -> list[Hit]:
    """One photo as the query: products by their best photo's cosine, best first (ties by point id), from one
    batched engine call over photo_spaces(store) merged by max. Each space's top offset+limit is enough: a product
    missing from both is beaten by offset+limit others."""
    vector = np.asarray(vector, dtype=np.float32)
    answers = store.query_batch([Nearest(vector, using) for using in photo_spaces(store)], filters,
                                offset + limit, threshold=threshold)
    best: dict[str, Hit] = {}
    for hits in answers:
        for hit in hits:
            if hit.id not in best or hit.score > best[hit.id].score:
                best[hit.id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.id))[offset:offset + limit]


def own_photo_rows(hit: Hit) -> np.ndarray | None:
    """A product's own photo vectors as rows: its photos multivector less the rows of shared photos (a size chart
    or a banner on many products would make them all alike), else its hero "image" vector as one row; None when
    it has no photo vector at all. `hit` must carry its vectors (retrieve or scroll with vectors).

    A product whose every photo is shared keeps the row the index kept for it (its hero's), so it is compared as
    it was with one photo each: eight listings of one photo are still eight near-duplicates."""
    vectors = hit.vectors or {}
    rows = vectors.get(F.PHOTO_VECTORS)
    if rows is not None and len(rows) and np.ndim(rows[0]) == 1:
        matched = list((hit.payload or {}).get(F.MATCHED_PHOTOS) or [])
        shared = set((hit.payload or {}).get(F.SHARED_PHOTOS) or [])
        keep = [row for n, row in enumerate(rows) if not (n < len(matched) and matched[n] in shared)]
        return np.asarray(keep or rows, dtype=np.float32)
    image = vectors.get("image")
    return None if image is None else np.asarray(image, dtype=np.float32).reshape(1, -1)


def best_pair_batch(store: ProductStore, queries: list[np.ndarray], filters: Filters | None, limit: int,
                    threshold: float | None = None, payload_keys: list[str] | None = None,
                    hnsw_ef: int | None = None) -> list[list[Hit]]:
    """For each query product (its photo vectors as rows), the `limit` products whose best PAIR of photos is
    closest, best first (ties by point id), from one batched engine call.

    One Nearest per query photo on each of photo_spaces(store) (on "photos", MaxSim of one row: that photo against
    a candidate's best photo; on "image", against its hero), merged by max per candidate: the score is the cosine of the closest pair of photos, so a threshold
    of 0.95 means what it meant with one photo each. Each photo's top `limit` is enough: a candidate missing from
    every one of them is beaten by `limit` others on its own best pair.
    """
    spaces = photo_spaces(store)
    owners = [n for n, rows in enumerate(queries) for _ in range(len(rows)) for _ in spaces]
    flat = [Nearest(np.asarray(row, dtype=np.float32), using) for rows in queries for row in rows for using in spaces]
    answers = store.query_batch(flat, filters, limit, threshold=threshold, payload_keys=payload_keys,
                                hnsw_ef=hnsw_ef) if flat else []
    merged: list[dict[str, Hit]] = [{} for _ in queries]
    for owner, hits in zip(owners, answers):
        best = merged[owner]
        for hit in hits:
            if hit.id not in best or hit.score > best[hit.id].score:
                best[hit.id] = hit
    return [sorted(best.values(), key=lambda h: (-h.score, h.id))[:limit] for best in merged]


def best_pair_hits(store: ProductStore, vectors_2d, filters: Filters | None, limit: int,
                   threshold: float | None = None) -> list[Hit]:
    """A product as the query ("more like this", near-duplicates, gaps): the `limit` products whose best pair of
    photos with it is closest, best first; each Hit's score is that pair's cosine. See best_pair_batch."""
    rows = np.asarray(vectors_2d, dtype=np.float32)
    return best_pair_batch(store, [rows.reshape(-1, rows.shape[-1])], filters, limit, threshold)[0]


def product_photo_rows(store: ProductStore, product_ids) -> dict[str, np.ndarray]:
    """Each product's own photo rows (own_photo_rows), or its text vector as one row when it has no photo."""
    product_ids = list(dict.fromkeys(product_ids))
    stored = store.retrieve([point_id(p) for p in product_ids], with_vectors=True)
    hits = {h.payload.get(F.PRODUCT_ID): h for h in stored}
    missing = [p for p in product_ids if p not in hits]
    if missing:
        raise UnknownProduct(f"unknown product id(s): {', '.join(missing)}")
    out = {}
    for p in product_ids:
        rows = own_photo_rows(hits[p])
        out[p] = rows if rows is not None else np.asarray(hits[p].vectors["text"], dtype=np.float32).reshape(1, -1)
    return out


def product_vectors(store: ProductStore, product_ids, using: str = "image") -> dict[str, np.ndarray]:
    """Stored vector of each product in one space (image or text), the other one when it lacks that one."""
    product_ids = list(dict.fromkeys(product_ids))
    hits = {h.payload.get(F.PRODUCT_ID): h for h in store.retrieve([point_id(p) for p in product_ids], with_vectors=True)}
    missing = [p for p in product_ids if p not in hits]
    if missing:
        raise UnknownProduct(f"unknown product id(s): {', '.join(missing)}")
    other = "text" if using == "image" else "image"
    return {p: np.asarray(hits[p].vectors.get(using) or hits[p].vectors[other], dtype=np.float32)
            for p in product_ids}


def text_vector(embedder: QueryEncoder, text: str) -> np.ndarray:
    return embedder.encode_texts([text.strip()])[0]


def image_vector(store: ProductStore, embedder: QueryEncoder, request: SearchRequest, max_pixels: int) -> np.ndarray:
    """The image query vector: re-used from the store for a product id, embedded for an upload."""
    if request.like:
        return product_vectors(store, [request.like])[request.like]
    if request.selection:
        # The mean of the selected products' vectors: what they have in common.
        vectors = product_vectors(store, request.selection)
        return normalise(np.mean([vectors[p] for p in request.selection], axis=0))
    return embedder.encode_images([open_image(request.image, max_pixels, draft_size=embedder.image_size)])[0]


def weighted_vector(text_vec: np.ndarray, image_vec: np.ndarray, weight: float) -> np.ndarray:
    """Mix normalised query vectors: weight 1 is exactly the text vector, 0 exactly the image vector."""
    if weight >= 1.0:
        return text_vec
    if weight <= 0.0:
        return image_vec
    return normalise(weight * text_vec + (1.0 - weight) * image_vec)


# ---- the modes --------------------------------------------------------------------------------

def _run(store, query, request: SearchRequest, filters: Filters, vector=None) -> list[Result]:
    """Run the query; give each result a readable score (similarity to `vector`, and the rank when the
    order is not by that similarity)."""
    hits = store.query(query, filters, limit=request.limit, offset=request.offset, threshold=request.threshold)
    return _readable(store, query, hits, request, vector)


def _readable(store, query, hits: list[Hit], request: SearchRequest, vector=None) -> list[Result]:
    """One page of a query's hits as Results, with the readable score _run describes."""
    results = [Result.from_hit(h) for h in hits]
    ranked = isinstance(query, (Fused, Recommend))
    for i, r in enumerate(results):
        r.rank = request.offset + i + 1 if ranked else None
        if not ranked:
            r.similarity = r.score  # nearest and MMR scores are the cosine similarity to the query
    if isinstance(query, Recommend) and vector is not None and results:
        # A recommend score mixes closeness to liked and disliked products (and can be negative): show the
        # similarity to what was asked for instead, computed from the stored vectors.
        stored = product_vectors(store, [r.product_id for r in results])
        query_vec = normalise(np.asarray(vector, dtype=np.float32))
        for r in results:
            r.similarity = round(float(normalise(stored[r.product_id]) @ query_vec), 6)
    return results


def prefetch_size(request: SearchRequest) -> int:
    """How many candidates each list of a fused (rrf) query brings: three pages, between 100 and 1,000. (A text
    search's words-and-meaning tiers bring FUSION_POOL, whatever the page.)"""
    return min(1000, max(100, 3 * (request.limit + request.offset)))


def _ranking(vector: np.ndarray | None, request: SearchRequest, store: ProductStore, using: str = "image",
             pool: int | None = None):
    """One ranked list around a vector: nearest, feedback (recommend) or MMR (over `pool` candidates, by default
    prefetch_size's), as the request asks."""
    if request.positives or request.negatives:
        return feedback_query(store, request, [vector] if vector is not None else [], using)
    if request.diverse_applies:
        return Diverse(vector, using, diversity=float(request.diversity), candidates=pool or prefetch_size(request))
    return Nearest(vector, using)


def _fused(store, request: SearchRequest, branches, pool: int | None = None) -> Fused:
    """RRF over one list per (vector, space), each `pool` long (by default prefetch_size's); each list follows the
    feedback too."""
    n = pool or prefetch_size(request)
    return Fused(tuple((_ranking(vector, request, store, using, n), n) for vector, using in branches))


def feedback_query(store: ProductStore, request: SearchRequest, extra_positives: list,
                   using: str = "image") -> Recommend:
    """Qdrant's recommend query: toward the query and liked products, away from disliked ones.

    Negatives only (nothing liked, no query) uses Qdrant's best-score strategy as is: it ranks products
    by how far they are from the disliked ones, which is what "not like these" means.
    """
    vectors = product_vectors(store, [*request.positives, *request.negatives], using)
    positives = tuple(extra_positives) + tuple(vectors[p] for p in request.positives)
    negatives = tuple(vectors[p] for p in request.negatives)
    return Recommend(positives, negatives, using)


def request_filters(request: SearchRequest) -> Filters:
    """Request filters plus the excluded query product and already-judged products."""
    extra = [point_id(p) for p in (request.like, *request.selection, *request.positives, *request.negatives) if p]
    if not extra:
        return request.filters
    return request.filters.plus(exclude_ids=extra)


def text_search(store, embedder: QueryEncoder, request: SearchRequest) -> list[Result]:
    """Query text by its words and meaning (_words_and_meaning), or by meaning alone (match "meaning", a query with
    no word to match, an index without a keyword index): CLIP's text vector against product image vectors,
    optionally fused (RRF) with product text vectors."""
    keyword_index = request.by_words and words.has_keyword_index(store)
    if request.match == "keywords" and not keyword_index:
        raise BadQuery(words.keyword_index_note(store))
    vector = text_vector(embedder, request.text)
    filters = request_filters(request)
    if keyword_index:
        return _words_and_meaning(store, request, filters, vector)
    request = replace(request, match="meaning")
    return _run(store, _meaning_query(store, request, vector), request, filters, vector)


def _meaning_query(store, request: SearchRequest, vector: np.ndarray, pool: int | None = None):
    """A text search by meaning alone, as before the keyword index: nearest (or MMR, or feedback) on "image",
    fused by RRF with the product text vectors when asked; `pool` candidates each (by default prefetch_size's)."""
    if request.fused:
        return _fused(store, request, ((vector, "image"), (vector, "text")), pool)
    return _ranking(vector, request, store, pool=pool)


def _words_and_meaning(store, request: SearchRequest, filters: Filters, vector: np.ndarray) -> list[Result]:
    """Exact lookup hits, then the products holding every query word, then the rest (core.search.words says why
    in tiers), each tier the engine's RRF of the keyword list and CLIP's (and the product texts', when asked; only
    the keyword list with match "keywords"), MMR over it with diverse (words.tier_hits: a product without a photo
    keeps its fused place). Each list brings FUSION_POOL candidates on every page, so pages are slices of one list.
    The threshold applies to CLIP's lists only: keyword and lookup matches stay whatever CLIP says.

    When the words add nothing (no lookup hit, no product holding a query word: the fused list is CLIP's own), the
    results are the meaning search's, shown as it shows them (the similarity as the score)."""
    n, prefetch = request.offset + request.limit, FUSION_POOL
    meaning = replace(request, match="meaning")
    branches = [Sparse(*query_weights(list(request.terms)))]
    if request.match == "both":
        branches.append(_branch(store, meaning, vector, "image"))
        if request.use_text_vectors:
            branches.append(_branch(store, meaning, vector, "text"))
    diverse = Diverse(vector, "image", float(request.diversity), prefetch) if request.diverse_applies else None
    tier = words.tier_query(branches, prefetch)
    exact = words.lookup_hits(store, request.text, filters)
    first = words.tier_hits(store, tier, words.every_word(filters, request.terms), n, request.threshold, diverse)
    if request.match == "keywords":
        rest, clip, clip_query = words.tier_hits(store, tier, filters, n), [], None  # no diversity: no meaning
    else:
        clip_query = _meaning_query(store, meaning, vector, prefetch)
        rest = words.tier_hits(store, tier, filters, n, request.threshold, diverse)
        clip = store.query(clip_query, filters, limit=n, threshold=request.threshold)
        if not exact and not first and [h.id for h in rest] == [h.id for h in clip] \
                and not any(words.holds_a_word(h.payload, request.terms) for h in rest):
            return _readable(store, clip_query, clip[request.offset:], meaning, vector)
    found = words.merged(exact, first, rest)[request.offset:n]
    known = {h.id: h.score for h in clip} if isinstance(clip_query, Nearest) else {}
    similarity = {**words.image_similarity(store, [f.hit.id for f in found if f.hit.id not in known], vector), **known}
    results = []
    for position, f in enumerate(found):
        r = Result.from_hit(f.hit)
        r.score = None if f.exact else r.score  # a lookup hit has no score: it is the product the query names
        r.rank, r.exact, r.exact_by = request.offset + position + 1, bool(f.exact), f.exact
        r.matched_words = matched_terms(list(request.terms), r.payload.get(F.TERMS))
        r.similarity = None if similarity.get(f.hit.id) is None else round(float(similarity[f.hit.id]), 6)
        results.append(r)
    return results


def _branch(store, request: SearchRequest, vector: np.ndarray, using: str):
    """One CLIP list of a words-and-meaning tier: nearest, or the feedback (recommend) ranking."""
    if request.positives or request.negatives:
        return feedback_query(store, request, [vector], using)
    return Nearest(vector, using)


def image_search(store, embedder: QueryEncoder, request: SearchRequest, max_pixels: int = MAX_PIXELS) -> list[Result]:
    """Reverse image search from an upload or a catalogue product (which is excluded from its own results).

    A product as the query ("more like this") scores each candidate by their best pair of photos; an upload or a
    selection's mean is one photo, matched against each product's best photo. Feedback and diversity rank around
    the hero photo's vector, as before several photos.
    """
    filters = request_filters(request)
    if request.like and _plain(request):
        rows = product_photo_rows(store, [request.like])[request.like]
        hits = best_pair_hits(store, rows, filters, request.offset + request.limit, request.threshold)
        results = [Result.from_hit(h) for h in hits[request.offset:]]
        for r in results:
            r.similarity = r.score
        return results
    vector = image_vector(store, embedder, request, max_pixels)
    if _plain(request):
        return _best_photo(store, vector, request, filters)
    return _run(store, _ranking(vector, request, store, "image"), request, filters, vector)


def _best_photo(store: ProductStore, vector: np.ndarray, request: SearchRequest, filters: Filters) -> list[Result]:
    """Plain nearest neighbours of one photo vector (best_photo_hits); the score is the cosine similarity. With
    "image" alone (an index before several photos), the engine's own query and order, as before."""
    if len(photo_spaces(store)) == 1:
        return _run(store, Nearest(vector, "image"), request, filters, vector)
    hits = best_photo_hits(store, vector, filters, request.limit, request.offset, request.threshold)
    results = [Result.from_hit(h) for h in hits]
    for r in results:
        r.similarity = r.score
    return results


def _plain(request: SearchRequest) -> bool:
    """Nearest neighbours and nothing else: no feedback, no diversity."""
    return not (request.positives or request.negatives or request.diverse_applies)


def _image_space(store: ProductStore, request: SearchRequest) -> str:
    """Where an image query vector is searched: every photo (photo_space) for plain nearest neighbours; feedback
    and diversity rank around the hero photo's vector, as before several photos."""
    return photo_space(store) if _plain(request) else "image"


def hybrid_search(store, embedder: QueryEncoder, request: SearchRequest, max_pixels: int = MAX_PIXELS) -> list[Result]:
    """Text + image: weighted mix of query vectors, or RRF over one list per modality (filter in each).

    With rrf the weight does not apply: each list counts by rank alone.
    """
    text_vec = text_vector(embedder, request.text)
    image_vec = image_vector(store, embedder, request, max_pixels)
    filters = request_filters(request)
    space = _image_space(store, request)  # the image's list (and a weighted mix) matches each product's best photo
    if request.fused and _plain(request) and len(photo_spaces(store)) > 1:
        return _fused_best_photo(store, text_vec, image_vec, request, filters)
    if request.fused:
        return _run(store, _fused(store, request, ((text_vec, "image"), (image_vec, space))), request, filters)
    vector = weighted_vector(text_vec, image_vec, request.weight)
    if _plain(request):
        return _best_photo(store, vector, request, filters)
    return _run(store, _ranking(vector, request, store, space), request, filters, vector)


def _fused_best_photo(store: ProductStore, text_vec: np.ndarray, image_vec: np.ndarray, request: SearchRequest,
                      filters: Filters) -> list[Result]:
    """Hybrid rrf with every photo: the engine's RRF over the text's list (on "image") and the image's list, where
    the image's list is best_photo_hits' (its "image" and "photos" answers merged by max per product), so it is
    fused here: one batched engine call, then the engine's formula, sum of 1 / (RRF_K + position from 0), over the
    same prefetch sizes and per-list threshold."""
    n = prefetch_size(request)
    text_hits, *image_answers = store.query_batch(
        [Nearest(text_vec, "image"), *(Nearest(image_vec, using) for using in photo_spaces(store))], filters, n,
        threshold=request.threshold)
    best: dict[str, Hit] = {}
    for hits in image_answers:
        for hit in hits:
            if hit.id not in best or hit.score > best[hit.id].score:
                best[hit.id] = hit
    image_hits = sorted(best.values(), key=lambda h: (-h.score, h.id))[:n]
    scores: dict[str, float] = {}
    by_id: dict[str, Hit] = {}
    for hits in (text_hits, image_hits):
        for position, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + position)
            by_id.setdefault(hit.id, hit)
    order = sorted(scores, key=lambda i: (-scores[i], i))[request.offset:request.offset + request.limit]
    results = [Result.from_hit(replace(by_id[i], score=scores[i])) for i in order]
    for position, r in enumerate(results):
        r.rank = request.offset + position + 1
    return results


def search(store: ProductStore, request: SearchRequest, embedder: QueryEncoder | None = None,
           max_pixels: int = MAX_PIXELS) -> list[Result]:
    """Dispatch on the request's mode; the embedder is only needed when a text or an upload must be encoded.

    Sorted by a field, a search keeps its most relevant results (those above the threshold, at most SORT_POOL)
    and orders those: "the cheapest of what matches", not the cheapest product in the catalogue. The sort orders
    every one of them: a text search's exact SKU, handle or id match too (still marked exact), at its value's place.
    """
    request.mode  # a request with nothing to search for fails here, before anything else
    if request.needs_model:
        if embedder is None:
            raise BadQuery("this search needs the embedding model")
        _check_model(store, embedder)
    schema = store.schema()
    # The default view leaves drafts and archived products out; show_hidden or a status filter brings them back.
    request = replace(request, filters=request.filters.check(schema).visible(request.show_hidden))
    if request.sort.by_score:
        return _search(store, request, embedder, max_pixels)
    check_sort(request.sort, schema)
    pool = _search(store, replace(request, limit=SORT_POOL, offset=0, sort=SortKey()), embedder, max_pixels)
    return sort_results(pool, request.sort)[request.offset:request.offset + request.limit]


def search_notes(store: ProductStore, request: SearchRequest) -> list[str]:
    """What a person should know about this search's results: request.notes() (an option that does not apply),
    and the index's side (its keyword index incomplete: keyword matches miss the products it lacks)."""
    out = request.notes()
    note = words.keyword_index_note(store) if request.by_words else ""
    return out + [note] if note else out


def check_sort(sort: SortKey, schema: Schema) -> SortKey:
    """A clear error for a sort field that is not a number field of this index."""
    if not sort.by_score and sort.field not in schema.number:
        raise BadQuery(f"cannot sort by {sort.field!r}: sort by score or a number field "
                       f"({', '.join(schema.number) or 'this index has none'})")
    return sort


def sort_results(results: list[Result], sort: SortKey) -> list[Result]:
    """Results ordered by a number field; products without it go last, in their relevance order."""
    have = [r for r in results if r.number(sort.field) is not None]
    lack = [r for r in results if r.number(sort.field) is None]
    return sorted(have, key=lambda r: r.number(sort.field), reverse=sort.descending) + lack


def _search(store: ProductStore, request: SearchRequest, embedder: QueryEncoder | None,
            max_pixels: int) -> list[Result]:
    mode = request.mode
    if mode == "text":
        return text_search(store, embedder, request)
    if mode == "image":
        return image_search(store, embedder, request, max_pixels)
    if mode == "hybrid":
        return hybrid_search(store, embedder, request, max_pixels)
    return _run(store, feedback_query(store, request, []), request, request_filters(request))  # rank only


def get_products(store: ProductStore, product_ids) -> list[Result]:
    """Stored products by id, in the given order (unknown ids are skipped)."""
    by_id = {h.payload.get(F.PRODUCT_ID): h for h in store.retrieve([point_id(p) for p in product_ids])}
    results = [Result.from_hit(by_id[p]) for p in product_ids if p in by_id]
    for r in results:
        r.score = None  # not a search: there is no similarity to show
    return results


# ---- browsing and facets ------------------------------------------------------------------------

@dataclass
class Page:
    """One page of a listing, with how many products match in all."""

    results: list[Result]
    total: int


def browse(store: ProductStore, filters: Filters | None = None, sort: SortKey | None = None, limit: int = 24,
           offset: int = 0, show_hidden: bool = False) -> Page:
    """Products with no query at all: the filters, then an order (a number field, or the engine's order).

    Sorted by a field, products lacking it come after all that have it, so paging never skips or repeats one.
    Draft and archived products are left out unless show_hidden or the filters name a status.
    """
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if int(offset) < 0:
        raise BadQuery(f"offset must be 0 or more, got {offset}")
    filters, sort = filters or Filters(), sort or SortKey()
    schema = store.schema()
    filters = filters.check(schema).visible(show_hidden)
    total = store.count(filters)
    if sort.by_score:
        hits = store.query(None, filters, limit=limit, offset=offset)
    else:
        check_sort(sort, schema)
        having = store.count(filters.plus(ranges={sort.field: (None, None)}))
        hits = _ordered_page(store, filters, sort, limit, offset) if offset < having else []
        if len(hits) < limit:
            hits += store.query(None, filters.plus(lacking=[sort.field]), limit=limit - len(hits),
                                offset=max(0, offset - having))
    results = [Result.from_hit(h) for h in hits]
    for i, r in enumerate(results):
        r.score, r.rank = None, offset + i + 1
    return Page(results, total)


def _ordered_page(store: ProductStore, filters: Filters, sort: SortKey, limit: int, offset: int) -> list[Hit]:
    """One page of products ordered by a number field, the same on every call.

    The engine breaks ties between equal values arbitrarily, and differently from one call to the next, so
    paging its ordered list by offset repeats some products and skips others. Here everything before the
    page's last value comes from one ordered query (whole groups of values, so its set is fixed), and the
    products that share that last value come in id order, which is stable.
    """
    head = store.query(Ordered(sort.field, sort.descending), filters, limit=offset + limit)
    if not head:
        return []
    last = float(head[-1].payload[sort.field])
    before = [h for h in head if float(h.payload[sort.field]) != last]
    ties = store.query(None, filters.plus(ranges={sort.field: (last, last)}), limit=offset + limit - len(before))
    return (before + ties)[offset:offset + limit]


def facets(store: ProductStore, filters: Filters | None = None, fields=None,
           show_hidden: bool = False) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of each keyword field (the index's filters by default) under the current filters.

    Each field's counts ignore that field's own include-filter (disjunctive faceting), so choosing "Red"
    still shows how many Blue products there are to add; every other filter applies. Draft and archived products
    are left out of the counts (unless show_hidden or a status filter), except status's own: its draft and
    archived counts are there to be chosen, and choosing one brings those products back.
    """
    filters = filters or Filters()
    schema = store.schema()
    filters.check(schema)
    out = {}
    for name in fields or schema.keyword:
        within = filters.without(name)
        counts = store.facet(name, within if name == F.STATUS else within.visible(show_hidden), limit=1000)
        out[name] = sorted(counts, key=lambda vc: (-vc[1], vc[0]))
    return out


def fields_with_choices(store: ProductStore, names) -> tuple[str, ...]:
    """The keyword fields among `names` with two values or more in the whole catalogue: the only ones worth a
    filter. Asks each field for two values, never for all of its counts."""
    return tuple(name for name in names if len(store.facet(name, Filters(), limit=2)) > 1)


def number_ranges(store: ProductStore, filters: Filters | None = None,
                  show_hidden: bool = False) -> dict[str, tuple[float, float]]:
    """(min, max) of each number field under the other filters (a field's own range left out, like facets), over
    the products the default view shows (drafts and archived ones only with show_hidden or a status filter)."""
    filters = filters or Filters()
    schema = store.schema()
    filters = filters.check(schema).visible(show_hidden)
    out = {}
    for name in schema.number:
        bounds = store.number_bounds(name, filters.without(name))
        if bounds is not None:
            out[name] = bounds
    return out
