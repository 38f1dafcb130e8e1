"""Words beside meaning in a text search: the exact SKU/handle/id lookup, the two tiers of the fused keyword + CLIP
query, their merge, and the plain-language reasons a result is there (no Streamlit; query.py dispatches here).

Why tiers, and not one fused list. The keyword list (BM25 over the product's words, IDF from the engine) and CLIP's
list are fused by reciprocal rank inside the engine, so the filters sit in every prefetch as before. But no fusion of
ranked lists guarantees that a product holding every word the merchandiser typed ranks above one holding none: RRF
scores by position alone, so CLIP's first guess (1/60 from its list alone) ties the keyword list's first hit, and a
product both lists place 20th beats a keyword match CLIP never saw; DBSF normalises each list's scores to its
own spread, so a long tail of weak keyword hits or one strong CLIP outlier moves every other product. A weight
large enough to make the keyword list always win would make CLIP's list meaningless. So the guarantee is built
instead of tuned: tier 1 is the same fused query restricted to the products holding every query word (an exact
filter on the payload's stems), tier 2 is the fused query over everything, and the list is the exact lookup hits,
then tier 1, then the rest of tier 2. Inside each tier the order is RRF's.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace

import numpy as np

from core.common import fields as F
from core.common.fields import values_of
from core.common.filters import Filters
from core.common.vectors import normalise
from core.index.keywords import lookup_key, matched_terms
from core.index.store import HAS_KEYWORD_VECTORS, Diverse, Fused, Hit, ProductStore

MATCHES = ("both", "keywords", "meaning")  # words and meaning (default), the keyword index alone, CLIP alone
MAX_LOOKUP = 1_000  # lookup hits shown for one key (an item group id shared by a whole range): the first by product id
TIE_MARGIN = 10  # products asked for past a page, to see whether its last score's tie goes on (settled)
NO_WORDS_NOTE = "No words to match in the query (only punctuation or stop words): searched by meaning."


@dataclass
class Found:
    """One product of a words-and-meaning list: its hit, and whether (and by which key) the exact lookup found it."""

    hit: Hit
    exact: str = ""  # "SKU", "product id" or "item group" for a lookup hit; "" otherwise


def lookup_hits(store: ProductStore, text: str, filters: Filters | None) -> list[Found]:
    """The products whose id (a Shopify handle), SKU or item group id is the whole query (case, accents and runs of
    spaces ignored), the filters applied, in product id order: a SKU two products share puts both first. At most
    MAX_LOOKUP, the first by product id. None for a query too long to be a key (lookup_key gives '')."""
    key = lookup_key(text)
    if not key:
        return []
    within = (filters or Filters()).plus(every={F.LOOKUP_KEYS: [key]})
    # Every match is read (the engine scrolls in its own order, not by product id), keeping the first MAX_LOOKUP by
    # product id: a key naming more products than that shows the same first ones on every search.
    hits = heapq.nsmallest(MAX_LOOKUP, store.scroll(within),
                           key=lambda h: (str(h.payload.get(F.PRODUCT_ID, "")), h.id))
    return [Found(h, exact_label(key, h.payload)) for h in hits]


def exact_label(key: str, payload: dict) -> str:
    """Which of the product's keys the lookup key is: its SKU (a variant's too), its id, or its item group id."""
    skus = [*values_of(payload.get(F.SKU)),
            *(v.get("sku") for v in payload.get(F.VARIANTS) or () if isinstance(v, dict))]
    if any(lookup_key(s) == key for s in skus if s not in (None, "")):
        return "SKU"
    if lookup_key(payload.get(F.PRODUCT_ID, "")) == key:
        return "product id"
    return "item group"


def tier_query(branches, prefetch: int) -> Fused:
    """One tier's engine query: RRF over the branches, each bringing `prefetch` candidates (a fixed pool, the same
    for every page). The threshold the caller passes applies to the dense (CLIP) branches only."""
    return Fused(tuple((query, prefetch) for query in branches))


def tier_hits(store: ProductStore, tier: Fused, filters: Filters, n: int, threshold: float | None = None,
              diverse: Diverse | None = None) -> list[Hit]:
    """The first n products of one tier: its fused list, or with `diverse` that list re-ranked by MMR.

    The same on every page: the pool is fixed, so the fused list is, and ties are broken here (settled).

    MMR compares vectors in one space (diverse.using, "image"): a product without a photo has none there, and the
    engine's MMR leaves it out. Dropping it would lose, say, a text-only product holding every query word. So the
    fused list's products that lack the vector keep their places, and the other places are filled by MMR's list in
    its order (MMR picks greedily from a fixed pool, so its first n are the same whatever the limit); the fused
    products MMR did not return among its first n are looked up, to tell one without the vector from one that MMR
    places later."""
    fused = settled(store, tier, filters, n, threshold)
    if diverse is None:
        return fused
    reranked = store.query(replace(tier, diverse=diverse), filters, limit=n, threshold=threshold)
    placed = {hit.id for hit in reranked}
    unplaced = [hit.id for hit in fused if hit.id not in placed]
    having = {hit.id for hit in store.retrieve(unplaced, with_vectors=True)
              if (hit.vectors or {}).get(diverse.using) is not None} if unplaced else set()
    lacking = set(unplaced) - having
    rest = iter(reranked)
    out = []
    for hit in fused:
        if hit.id in lacking:
            out.append(hit)
        elif (nxt := next(rest, None)) is not None:
            out.append(nxt)
    return out


def settled(store: ProductStore, tier: Fused, filters: Filters, n: int, threshold: float | None) -> list[Hit]:
    """The fused list's first n products by score, then point id, whatever the engine's limit.

    The engine breaks RRF's ties (a product first in one list and second in the other, and one the other way round)
    arbitrarily, and differently for another limit: page 2 could repeat a product of page 1 and skip another. So it
    is asked for TIE_MARGIN more, and for more again while the n-th product's score ties the last one returned (a
    tie that may go on past it); then every product scoring at least the n-th's is there, and the order is exact."""
    whole = sum(size for _, size in tier.branches)
    limit = min(whole, n + TIE_MARGIN)
    while True:
        hits = sorted(store.query(tier, filters, limit=limit, threshold=threshold), key=lambda h: (-h.score, h.id))
        if len(hits) <= n or len(hits) < limit or limit >= whole or hits[n - 1].score > hits[-1].score:
            return hits[:n]
        limit = min(whole, 2 * limit)


def every_word(filters: Filters | None, terms) -> Filters:
    """Tier 1's filters: the request's, and every query stem held by the product (its keyword payload)."""
    return (filters or Filters()).plus(every={F.TERMS: list(terms)})


def merged(exact: list[Found], *tiers: list[Hit]) -> list[Found]:
    """Lookup hits, then each tier in order, each product once (where it first appears)."""
    seen = {f.hit.id for f in exact}
    out = list(exact)
    for hits in tiers:
        for hit in hits:
            if hit.id not in seen:
                seen.add(hit.id)
                out.append(Found(hit))
    return out


def holds_a_word(payload: dict, terms) -> bool:
    return bool(matched_terms(list(terms), payload.get(F.TERMS)))


def image_similarity(store: ProductStore, point_ids: list[str], vector) -> dict[str, float]:
    """The cosine of `vector` with each point's stored "image" vector (points without one are left out): a result's
    similarity when CLIP's list did not bring it (below the threshold, or past its page)."""
    if not point_ids:
        return {}
    query = normalise(np.asarray(vector, dtype=np.float32))
    out = {}
    for hit in store.retrieve(point_ids, with_vectors=True):
        image = (hit.vectors or {}).get("image")
        if image is not None:
            out[hit.id] = float(normalise(np.asarray(image, dtype=np.float32)) @ query)
    return out


def has_keyword_index(store: ProductStore) -> bool:
    """True when the collection has the sparse keyword vector (an index made before issue 22 gets it on its next
    run; until then a keyword query would name a vector the engine does not know)."""
    return store.keywords_complete or bool((store.meta() or {}).get(HAS_KEYWORD_VECTORS))


def keyword_index_note(store: ProductStore) -> str:
    """'' when every product has its words in the keyword index; else what is missing and how to add it."""
    if store.keywords_complete:
        return ""
    fix = "run `python -m core index --catalog <csv>` again"
    if not has_keyword_index(store):
        return (f"This index has no keyword index yet: {fix} to add every product's words (no photo is embedded "
                "again). Until then, text searches match by meaning only.")
    lacking = store.lacking_keyword_vectors()
    what = f"the words of {lacking:,} product{'' if lacking == 1 else 's'}" if lacking else "the missing words"
    return (f"The keyword index is incomplete: {fix} to add {what} (no photo is embedded again). Until then, "
            "keyword matches miss those products.")


def why(exact: str, matched_words, similarity: float | None) -> str:
    """A result's reasons as plain text: 'SKU match · matched: levi, jean · similarity 0.31' ('' for none)."""
    parts = [f"{exact} match"] if exact else []
    if matched_words:
        parts.append("matched: " + ", ".join(matched_words))
    if similarity is not None:
        parts.append(f"similarity {similarity:.2f}")
    return " · ".join(parts)
