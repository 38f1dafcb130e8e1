"""The keyword index: a product's words as a BM25-weighted sparse vector (the engine's IDF modifier supplies the IDF,
so document frequencies stay right as products come and go), its stemmed terms, and the exact keys (SKU, handle,
product id) a whole query may name. One tokeniser for documents, queries and highlights, so they always agree."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass

from core.common import fields as F
from core.common.fields import values_of
from core.common.text import fold, folded  # fold: one home (ingest folds search-log queries too)

# BM25's term-frequency saturation and length normalisation (the usual values), and the document length they
# normalise against. AVG_LEN is fixed, not the corpus mean: a mean would change every product's weights whenever
# one product changed, and an incremental run re-tokenises only the changed ones. 64 words is about a product's
# title, attributes and a short description.
K1, B, AVG_LEN = 1.2, 0.75, 64.0
# The fields a product's words come from (variants add their SKUs, colours and option values).
DOCUMENT_FIELDS = (F.TITLE, F.BRAND, F.PRODUCT_TYPE, F.CATEGORY, F.SUB_CATEGORY, F.COLOUR, F.TAGS, F.SKU,
                   F.PRODUCT_ID, F.DESCRIPTION)
MAX_DOCUMENT_CHARS = 20_000   # a description longer than this is tokenised up to here (memory and time bounded)
MAX_TERMS = 2_000             # distinct terms kept per product (the rest are rarer than any query needs)
MAX_QUERY_TERMS = 32          # distinct terms a query uses: a 10,000-character query costs what a sentence does
MAX_TOKEN_CHARS = 40          # longer runs of letters are not words (a hash, a base64 blob): left out
MAX_KEY_CHARS = 300           # an exact-lookup key longer than this is no SKU or handle (Shopify's handles: <= 255)
# Lucene's English stop words: short function words only. Larger lists drop words a shop needs ("top", "back",
# "front", "bottom" are stop words in scikit-learn's list).
STOP_WORDS = frozenset("a an and are as at be but by for if in into is it no not of on or such that the their "
                       "then there these they this to was will with".split())

# A run of letters or digits, apostrophes inside it joining (Levi's is one word), combining accents inside it
# kept (a CSV saved on a Mac spells "Crème" as e + U+0300: still one word, folded to "creme"). Linear: a letter, a
# combining mark and an apostrophe are three disjoint kinds of character, so each can only be read one way.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_RUN = rf"[^\W_](?:[^\W_]|[{_MARKS}])*"
WORD = re.compile(rf"{_RUN}(?:['\u2019\u02bc`]{_RUN})*")
APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc`")  # Levi's, Levi’s and Levis are one word
_local = threading.local()  # PyStemmer's Stemmer is not thread-safe: one per thread (Streamlit sessions)


@dataclass(frozen=True)
class Term:
    """One word of a text: where it is (start, end in the original text) and its stem."""

    start: int
    end: int
    stem: str


def _stemmer():
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer  # PyStemmer: the Snowball stemmers, maintained, no download

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _normal_word(word: str) -> str:
    return fold(word.translate(APOSTROPHES))


def terms_in(text: str) -> list[Term]:
    """Every word of `text` with its place and stem, stop words and over-long runs left out. The places are in the
    original text (each word is found there first, then folded), so a highlight marks exactly what was typed."""
    text = str(text or "")[:MAX_DOCUMENT_CHARS]
    words = [(m.start(), m.end(), _normal_word(m.group())) for m in WORD.finditer(text)]
    kept = [(s, e, w) for s, e, w in words if w and w not in STOP_WORDS and len(w) <= MAX_TOKEN_CHARS]
    stems = _stemmer().stemWords([w for _s, _e, w in kept])
    return [Term(s, e, stem) for (s, e, _w), stem in zip(kept, stems)]


def tokens(text: str) -> list[str]:
    """The stems of `text`'s words in order (repeats kept): what BM25 counts. The stems terms_in gives; ASCII text
    (most catalogues) takes a shorter way to them, with no places to keep: lower case is its whole fold, so the
    text is folded once and not word by word (the indexer tokenises every product it writes)."""
    text = str(text or "")[:MAX_DOCUMENT_CHARS]
    if not text.isascii():
        return [t.stem for t in terms_in(text)]
    words = [w.translate(APOSTROPHES) for w in WORD.findall(text.lower())]
    return _stemmer().stemWords([w for w in words if w not in STOP_WORDS and len(w) <= MAX_TOKEN_CHARS])


def query_terms(text: str) -> list[str]:
    """A query's distinct stems in order, at most MAX_QUERY_TERMS; [] for a query of punctuation or stop words."""
    return list(dict.fromkeys(tokens(text)))[:MAX_QUERY_TERMS]


@functools.lru_cache(maxsize=1 << 16)  # a catalogue's words repeat: each common stem is hashed once
def term_index(stem: str) -> int:
    """A stem's dimension in the sparse vector: a stable 31-bit hash (no vocabulary to keep in step)."""
    return int.from_bytes(hashlib.blake2b(stem.encode("utf-8"), digest_size=4).digest(), "big") & 0x7FFFFFFF


def document_text(payload: dict) -> str:
    """A product's searchable words: title, brand, type, category, colours, tags, SKUs, handle, each variant's SKU,
    colour and option values, and the description last (a description past MAX_DOCUMENT_CHARS is cut; nothing
    after it is)."""
    parts = [" ".join(values_of(payload.get(key))) for key in DOCUMENT_FIELDS if key != F.DESCRIPTION]
    for variant in payload.get(F.VARIANTS) or ():
        if isinstance(variant, dict):
            parts += [str(variant.get("sku") or ""), str(variant.get("colour") or "")]
            parts += [str(v) for v in (variant.get("options") or {}).values()]
    parts.append(" ".join(values_of(payload.get(F.DESCRIPTION))))
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class KeywordDocument:
    """What the index stores for a product's words: the sparse vector (indices, BM25 term weights) and its
    distinct stems (a keyword payload list, so "has every query word" is an exact engine filter)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]
    terms: tuple[str, ...]


def keyword_document(payload: dict) -> KeywordDocument:
    """BM25's document side for a product: each distinct stem weighted tf*(K1+1) / (tf + K1*(1-B+B*len/AVG_LEN)).
    The IDF is the engine's (Modifier.IDF), computed over the products stored now."""
    counts = Counter(tokens(document_text(payload)))
    length = sum(counts.values())
    # the MAX_TERMS most frequent (ties by stem) when there are more; every stem otherwise, with no ranking to make
    kept = sorted(counts, key=lambda s: (-counts[s], s))[:MAX_TERMS] if len(counts) > MAX_TERMS else sorted(counts)
    norm = K1 * (1.0 - B + B * length / AVG_LEN)
    weights: dict[int, float] = {}
    for stem in kept:
        index = term_index(stem)  # two stems on one dimension (a hash collision) add up, as in fastembed
        weights[index] = weights.get(index, 0.0) + counts[stem] * (K1 + 1.0) / (counts[stem] + norm)
    indices = tuple(sorted(weights))
    return KeywordDocument(indices, tuple(round(weights[i], 6) for i in indices), tuple(sorted(kept)))


def query_weights(terms: list[str]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """BM25's query side: weight 1 per distinct stem (the engine multiplies by each term's IDF)."""
    weights: dict[int, float] = {}
    for stem in terms:
        weights[term_index(stem)] = 1.0
    indices = tuple(sorted(weights))
    return indices, tuple(weights[i] for i in indices)


def lookup_key(text: str) -> str:
    """An exact-lookup key: case, accents, outer space and inner runs of space ignored ('ts-0042-red ' = 'TS-0042-RED');
    '' when it is too long to be a SKU or handle."""
    key = folded(text)
    return key if len(key) <= MAX_KEY_CHARS else ""


def lookup_keys(payload: dict) -> list[str]:
    """A product's exact keys: its id (a Shopify handle), every SKU (its variants' too) and its item group id."""
    raw = [payload.get(F.PRODUCT_ID), *values_of(payload.get(F.SKU)), payload.get(F.GROUP_ID)]
    raw += [v.get("sku") for v in payload.get(F.VARIANTS) or () if isinstance(v, dict)]
    return [k for k in dict.fromkeys(lookup_key(r) for r in raw if r not in (None, "")) if k]


def matched_terms(query: list[str], product_terms) -> list[str]:
    """The query's stems a product holds, in query order."""
    held = set(product_terms or ())
    return [t for t in query if t in held]


def highlight(text: str, terms) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is a matched word) for a card: the words whose stem is in `terms` are marked. The
    pieces are the original text, to be shown as plain text (never Markdown or HTML)."""
    wanted, text = set(terms or ()), str(text or "")
    out, at = [], 0
    for term in terms_in(text) if wanted else ():
        if term.stem in wanted:
            if term.start > at:
                out.append((text[at:term.start], False))
            out.append((text[term.start:term.end], True))
            at = term.end
    if at < len(text):
        out.append((text[at:], False))
    return out
