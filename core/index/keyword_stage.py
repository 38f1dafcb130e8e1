"""The keyword stage: each point's words as its sparse 'keywords' vector and its keyword payload (terms, lookup
keys), made from the payload the point stores, so the words searched are the words shown; and the catch-up of an
index made before the keyword index, from its stored payloads alone (no photo is read or embedded for it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from core.common.fields import LOOKUP_KEYS, TERMS
from core.common.filters import Filters
from core.common.iterables import chunks
from core.index.keywords import KeywordDocument, document_text, keyword_document, lookup_keys
from core.index.store import KEYWORD_VECTORS, Hit, StoredPoint

CATCH_UP_PAGE = 1000  # stored products read, tokenised and written back at a time by the catch-up


def keyword_fields(payload: dict) -> tuple[KeywordDocument, dict]:
    """A product's keyword document (the sparse vector, BM25 weights) and the payload keys beside it: its distinct
    stems (TERMS) and its exact-lookup keys (LOOKUP_KEYS). The one place the indexer tokenises a product, so a
    benchmark can time it and a test can count it."""
    document = keyword_document(payload)
    return document, {TERMS: list(document.terms), LOOKUP_KEYS: lookup_keys(payload)}


def add_keywords(points: Iterable[StoredPoint]) -> None:
    """Give each point to be written its keyword vector and keyword payload, from the payload it will store. The
    payload hash is already in it, made from the catalogue's values: these keys never change it."""
    for point in points:
        document, keys = keyword_fields(point.payload)
        point.vectors[KEYWORD_VECTORS] = document
        point.payload.update(keys)


def keyword_updates(payloads: dict[str, dict], stored: dict[str, dict] | None = None) -> dict[str, dict]:
    """For payloads about to be written in place of stored ones (point id -> payload): the keyword keys added to
    each, and the keyword vector to set beside the point's other vectors (point id -> {name: vector}) where the
    words changed. A point whose `stored` payload already has its keyword keys and the same words (a new price, a
    new stock count) keeps its vector: a price update of a whole catalogue sends no vector at all."""
    stored = stored or {}
    vectors = {}
    for point, payload in payloads.items():
        document, keys = keyword_fields(payload)
        payload.update(keys)
        old = stored.get(point)
        if old is None or TERMS not in old or document_text(old) != document_text(payload):
            vectors[point] = {KEYWORD_VECTORS: document}
    return vectors


def lacking_keywords(store, page: int = CATCH_UP_PAGE) -> Iterator[list[Hit]]:
    """Pages of the stored products written before the keyword index, with their whole payloads: one filtered
    pass over the index, not a lookup per product. Those are the products without keyword payload (terms and lookup
    keys), as the store's lacking_keyword_vectors counts them: every product written since has its lookup keys (its
    id at least), even one without a word, whose keyword vector is left out."""
    return chunks(store.scroll(Filters(lacking=(TERMS, LOOKUP_KEYS)), page=page), page)


def caught_up(hits: list[Hit]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The keyword vectors (point id -> {name: vector}) and keyword payload keys (point id -> keys) of stored
    products, from their stored payloads."""
    vectors, payloads = {}, {}
    for hit in hits:
        document, keys = keyword_fields(hit.payload)
        vectors[hit.id] = {KEYWORD_VECTORS: document}
        payloads[hit.id] = keys
    return vectors, payloads
