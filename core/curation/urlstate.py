"""Page state <-> URL query parameters, so a search or a filtered listing can be shared by link and survives a reload.

The URL forms, one home for all of them:
  keyword filters   field=value (repeated), for any keyword field of the index (gender=Women&brand=Nike);
                    a field named like one of the page's own parameters (q, sort...) is written filter.<field>
  yes/no flags      in_stock=yes (only "yes": the sidebar's toggle can show nothing else)
  number ranges     range.price=10:50, either bound may be left out (range.price=:50); field names cannot
                    hold a dot, so range.* never collides with a catalogue field
  sort              sort=price (low to high), sort=-price (high to low); relevance is the default, left out
  drafts shown      hidden=1 ("Show drafts and archived"); off is the default, left out, and any other value is off
  text matched by   match=keywords (words only) or match=meaning (CLIP only); both, the default, is left out, and
                    any other value is both
A link is typed by people and pasted from anywhere: every parser here ignores what it cannot use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from core.common.fields import GROUP_ID, STANDARD_FILTERS, YES, Schema, SortKey
from core.common.filters import Filters
from core.search.query import MAX_LIMIT, SearchRequest
from core.search.words import MATCHES

MODES = ("text", "image", "hybrid")
MAX_FEEDBACK = 100  # liked or disliked product ids a link carries; more than a merchandiser clicks in a session
FUSIONS = ("weighted", "rrf")
MATCH_PARAM = "match"  # how a text query is matched: one of core.search.words.MATCHES (SearchRequest.match)
RANGE_PREFIX = "range."
FILTER_PREFIX = "filter."
SORT_PARAM = "sort"
HIDDEN_PARAM = "hidden"
# The pages' own parameters: a catalogue field with one of these names goes in the link as filter.<name>.
PAGE_PARAMS = ("mode", "q", "like", "w", "fusion", "min", "diverse", "likes", "dislikes", SORT_PARAM, HIDDEN_PARAM,
               MATCH_PARAM)
Bounds = tuple  # (low or None, high or None)


def _first(params: Mapping[str, Sequence[str]], key: str, default: str = "") -> str:
    values = params.get(key) or []
    return str(values[0]) if values else default


def _number(raw: str, default: float, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if low <= value <= high else default


def filter_param(name: str) -> str:
    """The URL parameter that holds a keyword field's values."""
    return FILTER_PREFIX + name if name in PAGE_PARAMS else name


def filter_fields(schema: Schema | None) -> tuple[str, ...]:
    """Keyword fields a link may filter on: the index's (the standard six for an index without a schema).

    item_group_id is left out: one value per product family, thousands of them, is no filter to pick from.
    """
    return tuple(f for f in (schema or Schema()).keyword if f != GROUP_ID)


def filters_from_params(params: Mapping[str, Sequence[str]], schema: Schema | None = None) -> dict[str, list[str]]:
    """Keyword filters of a link (field -> its repeated values), for the index's keyword fields only; other keys,
    empty values and repeats are dropped, and a yes/no flag keeps only "yes"."""
    schema = schema or Schema()
    out: dict[str, list[str]] = {}
    for name in filter_fields(schema):
        values = list(dict.fromkeys(str(v) for v in params.get(filter_param(name), []) if str(v)))
        if name in schema.flags:
            values = [YES] if YES in values else []
        if values:
            out[name] = values
    return out


def filters_to_params(filters: Mapping[str, Sequence[str]], schema: Schema | None = None) -> dict[str, list[str]]:
    """The URL form of a keyword selection, fields in the index's order (the standard six first without a
    schema); the values are raw catalogue values."""
    order = [*filter_fields(schema), *STANDARD_FILTERS]
    names = [*dict.fromkeys(n for n in order if n in filters), *(n for n in filters if n not in order)]
    return {filter_param(name): list(filters[name]) for name in names if filters.get(name)}


def parse_bounds(raw: str) -> Bounds | None:
    """'10:50' -> (10.0, 50.0), ':50' -> (None, 50.0), '10:' -> (10.0, None); None for anything else
    (no colon, not numbers, not finite, no bound at all, low above high)."""
    low, colon, high = str(raw)[:100].partition(":")
    if not colon:
        return None
    try:
        bounds = tuple(float(v) if v.strip() else None for v in (low, high))
    except ValueError:
        return None
    if bounds == (None, None) or any(v is not None and not math.isfinite(v) for v in bounds):
        return None
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        return None
    return bounds


def _bound_text(value: float | None) -> str:
    return "" if value is None else f"{value:.12g}"


def ranges_from_params(params: Mapping[str, Sequence[str]], schema: Schema | None = None) -> dict[str, Bounds]:
    """Number ranges of a link, for the index's number fields only; unparseable ones are ignored."""
    out = {}
    for name in (schema or Schema()).number:
        bounds = parse_bounds(_first(params, RANGE_PREFIX + name))
        if bounds is not None:
            out[name] = bounds
    return out


def ranges_to_params(ranges: Mapping[str, Bounds]) -> dict[str, str]:
    return {RANGE_PREFIX + name: f"{_bound_text(low)}:{_bound_text(high)}" for name, (low, high) in ranges.items()
            if low is not None or high is not None}


def sort_from_params(params: Mapping[str, Sequence[str]], schema: Schema | None = None) -> str:
    """'price' or '-price' when the link sorts by a number field of the index, else '' (relevance)."""
    key = SortKey.parse(_first(params, SORT_PARAM)[:100])
    return "" if key.by_score or key.field not in (schema or Schema()).number else str(key)


def hidden_from_params(params: Mapping[str, Sequence[str]]) -> bool:
    """True only for hidden=1: drafts and archived products are shown on purpose, never by a stray value."""
    return _first(params, HIDDEN_PARAM) == "1"


@dataclass
class FilterState:
    """What the sidebar narrows and orders by, on every page: keyword filters, number ranges, the sort, and whether
    draft and archived products are shown."""

    keywords: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, Bounds] = field(default_factory=dict)
    sort: str = ""  # '' (relevance), 'price' or '-price'
    show_hidden: bool = False  # "Show drafts and archived"; a status filter in keywords shows them as well

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], schema: Schema | None = None) -> "FilterState":
        return cls(filters_from_params(params, schema), ranges_from_params(params, schema),
                   sort_from_params(params, schema), hidden_from_params(params))

    def to_params(self, schema: Schema | None = None) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {**filters_to_params(self.keywords, schema), **ranges_to_params(self.ranges)}
        if self.sort:
            out[SORT_PARAM] = self.sort
        if self.show_hidden:
            out[HIDDEN_PARAM] = "1"
        return out

    def filters(self) -> Filters:
        """The chosen filters as they are; core's views add the default visibility (Filters.visible) themselves,
        or call visible(self.show_hidden) where they count with the store directly."""
        return Filters.of(self.keywords, ranges=self.ranges)

    def sort_key(self) -> SortKey:
        return SortKey.parse(self.sort)

    def __bool__(self) -> bool:
        """True when something narrows the catalogue (the sort alone does not)."""
        return bool(self.keywords or self.ranges)


def _ids(params: Mapping[str, Sequence[str]], key: str) -> list[str]:
    """Product ids from repeated parameters: non-empty, at most 200 characters, first occurrence kept."""
    ids = [str(v)[:200] for v in params.get(key, []) if str(v)]
    return list(dict.fromkeys(ids))[:MAX_FEEDBACK]


@dataclass
class SearchState:
    """What the Search page shows; every field has a URL form and a safe default for garbage input."""

    mode: str = "text"
    text: str = ""
    like: str = ""
    weight: float = 0.5
    fusion: str = "weighted"
    threshold: float = 0.0
    diverse: bool = False
    match: str = "both"  # words and meaning; "keywords" or "meaning" for one of them
    filters: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, Bounds] = field(default_factory=dict)
    sort: str = ""
    likes: list[str] = field(default_factory=list)  # 👍 and 👎 product ids: feedback is part of the search
    dislikes: list[str] = field(default_factory=list)
    show_hidden: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], schema: Schema | None = None) -> "SearchState":
        """Parse query params (key -> list of values); invalid values fall back to defaults, never raise.

        Filters, ranges and the sort are read for the index's fields (the standard six without a schema).
        """
        mode = _first(params, "mode", "text")
        narrowing = FilterState.from_params(params, schema)
        fusion = _first(params, "fusion", "weighted")
        match = _first(params, MATCH_PARAM, "both")
        return cls(
            mode=mode if mode in MODES else "text",
            text=_first(params, "q")[:500],
            like=_first(params, "like")[:200],
            weight=_number(_first(params, "w", "0.5"), 0.5, 0.0, 1.0),
            fusion=fusion if fusion in FUSIONS else "weighted",
            threshold=_number(_first(params, "min", "0"), 0.0, 0.0, 1.0),
            diverse=_first(params, "diverse") == "1",
            match=match if match in MATCHES else "both",
            filters=narrowing.keywords, ranges=narrowing.ranges, sort=narrowing.sort,
            likes=(likes := _ids(params, "likes")),
            dislikes=[p for p in _ids(params, "dislikes") if p not in likes],  # liked wins, as on the page
            show_hidden=narrowing.show_hidden,
        )

    def to_params(self, schema: Schema | None = None) -> dict[str, str | list[str]]:
        """Only non-default values, so links stay short."""
        out: dict[str, str | list[str]] = {}
        if self.mode != "text":
            out["mode"] = self.mode
        if self.text:
            out["q"] = self.text
        if self.like:
            out["like"] = self.like
        if self.weight != 0.5:
            out["w"] = f"{self.weight:g}"
        if self.fusion != "weighted":
            out["fusion"] = self.fusion
        if self.threshold:
            out["min"] = f"{self.threshold:g}"
        if self.diverse:
            out["diverse"] = "1"
        if self.match != "both":
            out[MATCH_PARAM] = self.match
        out.update(self.narrowing.to_params(schema))
        if self.likes:
            out["likes"] = list(self.likes)
        if self.dislikes:
            out["dislikes"] = list(self.dislikes)
        return out

    @property
    def narrowing(self) -> FilterState:
        return FilterState(self.filters, self.ranges, self.sort, self.show_hidden)

    def lookalike(self, selection: Sequence[str] = ()) -> bool:
        """True when the page searches for look-alikes of catalogue products ("More like this", a map
        selection) and nothing else: such a list is always closest first, never sorted by a field."""
        return (self.mode == "image" or (self.mode == "hybrid" and not self.text)) and bool(self.like or selection)


def build_request(state: SearchState, image: bytes | None = None, selection: Sequence[str] = (),
                  likes: Sequence[str] = (), dislikes: Sequence[str] = (), limit: int = 12,
                  text_vectors: bool = False, diversity: float = 0.5) -> SearchRequest:
    """The engine request for what the Search page shows: the mode decides which inputs take part."""
    uses_text, uses_image = state.mode in ("text", "hybrid"), state.mode in ("image", "hybrid")
    like = state.like if uses_image else ""
    sort = SortKey() if state.lookalike(selection) else state.narrowing.sort_key()
    return SearchRequest(
        text=state.text if uses_text else "", image=image if uses_image and not like else None, like=like,
        selection=tuple(selection) if uses_image and not like and image is None else (),
        weight=state.weight, fusion=state.fusion, use_text_vectors=text_vectors and state.mode == "text",
        filters=state.narrowing.filters(), sort=sort, limit=max(1, min(int(limit), MAX_LIMIT)),
        threshold=state.threshold or None, diverse=state.diverse, positives=tuple(likes), negatives=tuple(dislikes),
        diversity=max(0.0, min(float(diversity), 1.0)), show_hidden=state.show_hidden,
        match=state.match if state.mode == "text" else "both")  # with a photo, the text is matched by meaning
