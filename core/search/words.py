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

from dataclasses import dataclass

import numpy as np

from core.common import fields as F
from core.common.fields import values_of
from core.common.filters import Filters
from core.common.vectors import normalise
from core.index.keywords import lookup_key, matched_terms
from core.index.store import HAS_KEYWORD_VECTORS, Diverse, Fused, Hit, ProductStore

MATCHES = ("both", "keywords", "meaning")  # words and meaning (default), the keyword index alone, CLIP alone
MAX_LOOKUP = 1_000  # products one exact key may name (an item group id shared by a whole range); more are left out
NO_WORDS_NOTE = "No words to match in the query (only punctuation or stop words): searched by meaning."


@dataclass
class Found:
    """One product of a words-and-meaning list: its hit, and whether (and by which key) the exact lookup found it."""

    hit: Hit
    exact: str = ""  # "SKU", "product id" or "item group" for a lookup hit; "" otherwise


def lookup_hits(store: ProductStore, text: str, filters: Filters | None) -> list[Found]:
    """The products whose id (a Shopify handle), SKU or item group id is the whole query (case, accents and runs of
    spaces ignored), the filters applied, in product id order: a SKU two products share puts both first. None for a
    query too long to be a key (lookup_key gives '')."""
    key = lookup_key(text)
    if not key:
        return []
    within = (filters or Filters()).plus(every={F.LOOKUP_KEYS: [key]})
    hits = []
    for hit in store.scroll(within):
        hits.append(hit)
        if len(hits) >= MAX_LOOKUP:
            break
    hits.sort(key=lambda h: (str(h.payload.get(F.PRODUCT_ID, "")), h.id))
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


def tier_query(branches, prefetch: int, diverse: Diverse | None) -> Fused:
    """One tier's engine query: RRF over the branches (each brings `prefetch` candidates), MMR over the fused list
    when `diverse` is set. The threshold the caller passes applies to the dense (CLIP) branches only."""
    return Fused(tuple((query, prefetch) for query in branches), diverse=diverse)


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
