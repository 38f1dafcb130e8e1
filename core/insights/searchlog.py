"""Diagnosing a search log: for each query, whether our keywords already find it (found), only its meaning does
(words: the words to add as tags or synonyms), or neither (gap: something we don't stock), with the CSV lists a
merchandiser acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from core.common import fields as F
from core.common.filters import Filters
from core.curation.export import table_csv
from core.index.compat import model_of, require_same_model
from core.index.keywords import query_terms, query_weights, terms_in
from core.index.store import Hit, Nearest, ProductStore, Sparse
from core.ingest.search_log import LoggedQuery, SearchLog, aggregate
from core.insights.gaps import MATCH_THRESHOLD, check_threshold

FOUND, WORDS, GAP = "found", "words", "gap"
VERDICTS = (GAP, WORDS, FOUND)  # the order the lists come in: what we lack first, what already works last
# The CLIP text-to-photo cosine at which a product counts as what a query means. It is not the Gaps page's
# MATCH_THRESHOLD (0.8): that compares a photo with a photo, and two photos of one product score 0.8 and more,
# while a text and a photo are on another scale altogether. ViT-B/32 gives a query and a photo of what it names
# about 0.25 to 0.35, and an unrelated pair about 0.10 to 0.20, so at 0.8 every query would be a gap. 0.25 is the
# foot of the matching range: a product above it is one CLIP reads as the query. --threshold moves it.
TEXT_MATCH_THRESHOLD = 0.25
# Why the default is not the Gaps page's 0.8, where a user chooses a threshold (--help, the page's slider).
THRESHOLD_WHY = (f"the default, {TEXT_MATCH_THRESHOLD}, is lower than the Gaps page's {MATCH_THRESHOLD} because "
                 "that one compares a photo with a photo; a query's text and a photo of what it names score about "
                 "0.25 to 0.35, an unrelated pair about 0.10 to 0.20")
MAX_PRODUCTS = 5     # products listed per query (ours, and the reference's for a gap)
CHUNK = 256          # queries encoded, and matched in one batched engine call, at a time
MAX_TEXT_CHARS = 1_000  # CLIP reads 77 tokens (a few hundred characters): a longer query is cut before encoding
SHOWN_KEYS = [F.PRODUCT_ID, F.TITLE, F.TERMS]  # what a match brings back from the engine
NO_WORDS = "no words to match (punctuation or stop words only): the verdict is by meaning alone"
Progress = Callable[[int, int], None]


@dataclass
class ProductMatch:
    """One product listed for a query: its similarity to the query (None for a keyword hit, ranked by its words)
    and, for a 'words' query, the query's words it lacks."""

    product_id: str
    title: str
    similarity: float | None = None
    lacks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"product_id": self.product_id, "title": self.title,
                "similarity": None if self.similarity is None else round(self.similarity, 6), "lacks": self.lacks}


@dataclass
class Diagnosis:
    """One query's diagnosis (see diagnose)."""

    query: str
    count: int
    keyword_hits: int
    best_id: str | None
    best_similarity: float | None
    verdict: str
    suggested_words: list[str] = field(default_factory=list)
    products: list[ProductMatch] = field(default_factory=list)
    reference_products: list[ProductMatch] | None = None  # a gap's closest reference products, with a reference
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"query": self.query, "count": self.count, "keyword_hits": self.keyword_hits, "best_id": self.best_id,
               "best_similarity": None if self.best_similarity is None else round(self.best_similarity, 6),
               "verdict": self.verdict, "suggested_words": list(self.suggested_words),
               "products": [p.as_dict() for p in self.products]}
        if self.reference_products is not None:
            out["reference_products"] = [p.as_dict() for p in self.reference_products]
        return out


def diagnose(store: ProductStore, embedder, log_or_queries, threshold: float = TEXT_MATCH_THRESHOLD,
             reference: ProductStore | None = None, show_hidden: bool = False,
             progress: Progress | None = None) -> list[Diagnosis]:
    """Every query of the log, diagnosed under the default view (drafts and archived left out unless show_hidden):

    - keyword_hits: our products holding every word of the query (stemmed; 0 for a query without words);
    - best_id, best_similarity: CLIP's closest product to the query text (its photo);
    - verdict: found (keyword hits), else words (a product at or above `threshold` by meaning), else gap;
    - suggested_words (words): the query's words, as typed, that the products above the threshold lack, the most
      lacked first; products: the top keyword hits (found), the products above the threshold with the words each
      lacks (words), the closest by meaning (gap); up to MAX_PRODUCTS each;
    - reference_products (a gap, with a reference catalogue's store): its closest products to the query.

    Ordered gap, words, found; within each the most searched first, then by query. The queries are encoded
    CHUNK at a time and matched with one engine call per chunk; the keyword counts are one count per query.
    """
    check_threshold(threshold)
    meta = store.require_meta()
    require_same_model(meta, embedder.name, embedder.dim)
    if reference is not None:
        require_same_model(reference.require_meta(), *model_of(meta), index="the reference catalogue",
                           other="our catalogue's model", advice="add the reference again with our model")
    queries = logged_queries(log_or_queries)
    view = default_view(store, show_hidden)
    reference_view = None if reference is None else default_view(reference, show_hidden)
    out: list[Diagnosis] = []
    if progress:
        progress(0, len(queries))
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start:start + CHUNK]
        out += _diagnose_chunk(store, embedder, chunk, threshold, reference, view, reference_view)
        if progress:
            progress(start + len(chunk), len(queries))
    return ordered(out)


def default_view(store: ProductStore, show_hidden: bool = False) -> Filters:
    """The default view's filters on this store: drafts and archived left out, unless show_hidden; and no filter
    at all when the index has no status field. No product then has a status, so the condition keeps every product,
    yet without a payload index on status the engine checks it product by product: about 28 ms a query at 20,000
    products, against 1 ms without the condition (or with a status index)."""
    if show_hidden or F.STATUS not in store.schema().keyword:
        return Filters()
    return Filters().visible()


def logged_queries(log_or_queries) -> list[LoggedQuery]:
    """The distinct queries of a SearchLog, or of LoggedQuery items, (query, count) pairs or bare query texts
    (each one search): folded alike, counts summed (core.ingest.search_log.aggregate)."""
    if isinstance(log_or_queries, SearchLog):
        return list(log_or_queries.queries)
    if isinstance(log_or_queries, str):
        log_or_queries = [log_or_queries]
    pairs = []
    for item in log_or_queries:
        if isinstance(item, LoggedQuery):
            pairs.append((item.query, item.count))
        elif isinstance(item, str):
            pairs.append((item, 1))
        else:
            query, count = item
            pairs.append((query, int(count)))
    return aggregate(pairs)


def ordered(diagnoses: Iterable[Diagnosis]) -> list[Diagnosis]:
    """Gap, then words, then found; the most searched first within each, then by query."""
    return sorted(diagnoses, key=lambda d: (VERDICTS.index(d.verdict), -d.count, d.query))


def _diagnose_chunk(store: ProductStore, embedder, chunk: Sequence[LoggedQuery], threshold: float,
                    reference: ProductStore | None, view: Filters, reference_view: Filters | None) -> list[Diagnosis]:
    vectors = _encode(embedder, [q.query[:MAX_TEXT_CHARS] for q in chunk])
    nearest = [Nearest(v, using="image") for v in vectors]
    closest = store.query_batch(nearest, view, limit=MAX_PRODUCTS, payload_keys=SHOWN_KEYS)
    out = []
    for logged, hits in zip(chunk, closest):
        words = typed_words(logged.query)
        stems = list(words)
        keyword_hits = store.count(view.plus(every={F.TERMS: stems})) if stems else 0
        best = hits[0] if hits else None
        diagnosis = Diagnosis(logged.query, logged.count, keyword_hits, _id(best),
                              None if best is None else float(best.score), GAP)
        if not stems:
            diagnosis.notes.append(NO_WORDS)
        above = [h for h in hits if h.score >= threshold]
        if keyword_hits:
            diagnosis.verdict = FOUND
            top = store.query(Sparse(*query_weights(stems)), view.plus(every={F.TERMS: stems}), limit=MAX_PRODUCTS)
            diagnosis.products = [ProductMatch(_id(h), _title(h)) for h in top]
        elif above:
            diagnosis.verdict = WORDS
            diagnosis.products = [ProductMatch(_id(h), _title(h), float(h.score), lacking(words, h)) for h in above]
            diagnosis.suggested_words = suggested(words, diagnosis.products)
        else:
            diagnosis.products = [ProductMatch(_id(h), _title(h), float(h.score)) for h in hits]
        out.append(diagnosis)
    if reference is not None:
        gaps = [i for i, d in enumerate(out) if d.verdict == GAP]
        if gaps:
            theirs = reference.query_batch([nearest[i] for i in gaps], reference_view, limit=MAX_PRODUCTS,
                                           payload_keys=SHOWN_KEYS)
            for i, hits in zip(gaps, theirs):
                out[i].reference_products = [ProductMatch(_id(h), _title(h), float(h.score)) for h in hits]
        for d in out:
            if d.reference_products is None and d.verdict == GAP:
                d.reference_products = []
    return out


def _encode(embedder, texts: list[str]):
    """The texts' vectors, encoded shortest first (a batch pads to its longest text), in the texts' order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = embedder.encode_texts([texts[i] for i in order])
    out = [None] * len(texts)
    for row, i in enumerate(order):
        out[i] = [float(x) for x in vectors[row]]
    return out


def typed_words(query: str) -> dict[str, str]:
    """{stem: the word as typed (its first spelling)} for the query's distinct stems, in query order: the same
    stems, and as many, as core.index.keywords.query_terms."""
    stems = query_terms(query)
    wanted, out = set(stems), {}
    for term in terms_in(query):
        if term.stem in wanted and term.stem not in out:
            out[term.stem] = query[term.start:term.end]
    return {stem: out[stem] for stem in stems}


def lacking(words: dict[str, str], hit: Hit) -> list[str]:
    """The query's words (as typed) whose stems the product's words lack, in query order."""
    held = set(hit.payload.get(F.TERMS) or ())
    return [typed for stem, typed in words.items() if stem not in held]


def suggested(words: dict[str, str], products: list[ProductMatch]) -> list[str]:
    """The words the listed products lack, the most lacked first (then in query order); words none lacks are left
    out."""
    lacked = {typed: sum(typed in p.lacks for p in products) for typed in words.values()}
    order = list(words.values())
    return sorted((w for w, n in lacked.items() if n), key=lambda w: (-lacked[w], order.index(w)))


def _id(hit: Hit | None) -> str | None:
    return None if hit is None else str(hit.payload.get(F.PRODUCT_ID, ""))


def _title(hit: Hit) -> str:
    return str(hit.payload.get(F.TITLE, ""))


def keyword_notes(store: ProductStore) -> list[str]:
    """What a reader of the diagnosis should know about the index: keyword hits count only products with their
    words indexed."""
    if getattr(store, "keywords_complete", True):
        return []
    return ["the keyword index is incomplete (an index built before keyword search): keyword hits count only the "
            "products indexed since; run `python -m core index` again to complete it"]


# ---- summaries and exports ----------------------------------------------------------------------

def summary(diagnoses: Iterable[Diagnosis]) -> dict:
    """{verdict: {"queries": distinct queries, "searches": their counts summed}} for gap, words and found: the
    searches lost to each."""
    out = {v: {"queries": 0, "searches": 0} for v in VERDICTS}
    for d in diagnoses:
        out[d.verdict]["queries"] += 1
        out[d.verdict]["searches"] += d.count
    return out


SYNONYMS_HEADER = ("query", "count", "suggested_words", "products")
GAPS_HEADER = ("query", "count", "best_similarity", "closest_ours", "reference_products")


def synonyms_csv(diagnoses: Iterable[Diagnosis]) -> str:
    """The 'words' queries as a CSV (UTF-8 with a BOM, every cell safe: a query '=HYPERLINK(...)' stays text):
    query, count, the suggested words ('; '-separated), and the products found by meaning, each with the words
    it lacks."""
    rows = [(d.query, d.count, "; ".join(d.suggested_words),
             "; ".join(f"{p.product_id} {p.title} (lacks: {', '.join(p.lacks) or '-'})" for p in d.products))
            for d in diagnoses if d.verdict == WORDS]
    return table_csv(SYNONYMS_HEADER, rows)


def gaps_csv(diagnoses: Iterable[Diagnosis]) -> str:
    """The 'gap' queries as a CSV (as synonyms_csv, safe cells): query, count, the best similarity of ours, our
    closest products, and the closest reference products (empty without a reference)."""
    rows = [(d.query, d.count, _similarity(d.best_similarity), _products(d.products),
             _products(d.reference_products or ())) for d in diagnoses if d.verdict == GAP]
    return table_csv(GAPS_HEADER, rows)


def _similarity(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _products(products) -> str:
    return "; ".join(f"{p.product_id} {p.title} ({_similarity(p.similarity) or '-'})" for p in products)
