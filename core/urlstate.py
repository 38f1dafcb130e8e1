"""Search state <-> URL query parameters, so a search can be shared by link and survives a reload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from core.catalog import FILTER_FIELDS
from core.filters import Filters
from core.search import MAX_LIMIT, SearchRequest

MODES = ("text", "image", "hybrid")
MAX_FEEDBACK = 100  # liked or disliked product ids a link carries; more than a merchandiser clicks in a session
FUSIONS = ("weighted", "rrf")


def _first(params: Mapping[str, Sequence[str]], key: str, default: str = "") -> str:
    values = params.get(key) or []
    return str(values[0]) if values else default


def _number(raw: str, default: float, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if low <= value <= high else default


def filters_from_params(params: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Filter fields of a link (field -> its repeated values); other keys and empty values are ignored."""
    return {f: [str(v) for v in params.get(f, []) if str(v)] for f in FILTER_FIELDS
            if any(str(v) for v in params.get(f, []))}


def _ids(params: Mapping[str, Sequence[str]], key: str) -> list[str]:
    """Product ids from repeated parameters: non-empty, at most 200 characters, first occurrence kept."""
    ids = [str(v)[:200] for v in params.get(key, []) if str(v)]
    return list(dict.fromkeys(ids))[:MAX_FEEDBACK]


def filters_to_params(filters: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The URL form of a filter selection, fields in catalogue order; the values are raw catalogue values."""
    return {name: list(filters[name]) for name in FILTER_FIELDS if filters.get(name)}


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
    filters: dict[str, list[str]] = field(default_factory=dict)
    likes: list[str] = field(default_factory=list)  # 👍 and 👎 product ids: feedback is part of the search
    dislikes: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> "SearchState":
        """Parse query params (key -> list of values); invalid values fall back to defaults, never raise."""
        mode = _first(params, "mode", "text")
        fusion = _first(params, "fusion", "weighted")
        return cls(
            mode=mode if mode in MODES else "text",
            text=_first(params, "q")[:500],
            like=_first(params, "like")[:200],
            weight=_number(_first(params, "w", "0.5"), 0.5, 0.0, 1.0),
            fusion=fusion if fusion in FUSIONS else "weighted",
            threshold=_number(_first(params, "min", "0"), 0.0, 0.0, 1.0),
            diverse=_first(params, "diverse") == "1",
            filters=filters_from_params(params),
            likes=(likes := _ids(params, "likes")),
            dislikes=[p for p in _ids(params, "dislikes") if p not in likes],  # liked wins, as on the page
        )

    def to_params(self) -> dict[str, str | list[str]]:
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
        out.update(filters_to_params(self.filters))
        if self.likes:
            out["likes"] = list(self.likes)
        if self.dislikes:
            out["dislikes"] = list(self.dislikes)
        return out


def build_request(state: SearchState, image: bytes | None = None, selection: Sequence[str] = (),
                  likes: Sequence[str] = (), dislikes: Sequence[str] = (), limit: int = 12,
                  text_vectors: bool = False, diversity: float = 0.5) -> SearchRequest:
    """The engine request for what the Search page shows: the mode decides which inputs take part."""
    uses_text, uses_image = state.mode in ("text", "hybrid"), state.mode in ("image", "hybrid")
    like = state.like if uses_image else ""
    return SearchRequest(
        text=state.text if uses_text else "", image=image if uses_image and not like else None, like=like,
        selection=tuple(selection) if uses_image and not like and image is None else (),
        weight=state.weight, fusion=state.fusion, use_text_vectors=text_vectors and state.mode == "text",
        filters=Filters.of(state.filters), limit=max(1, min(int(limit), MAX_LIMIT)),
        threshold=state.threshold or None, diverse=state.diverse, positives=tuple(likes), negatives=tuple(dislikes),
        diversity=max(0.0, min(float(diversity), 1.0)))
