"""Search page session state: seeded from the URL once, written back to the URL after every run."""

from __future__ import annotations

import streamlit as st

from core.catalog import FILTER_FIELDS
from core.urlstate import SearchState


def seed_from_url() -> None:
    """First run of a session: widgets start from the link's query parameters."""
    if st.session_state.get("search_seeded"):
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    state = SearchState.from_params(params)
    st.session_state.update({
        "search_seeded": True, "mode": state.mode, "q": state.text, "like": state.like, "w": state.weight,
        "fusion": state.fusion, "min": state.threshold, "diverse": state.diverse,
        "likes": [], "dislikes": [], "limit": 12,
        "filters": dict(state.filters),
        **{f"f_{name}": state.filters.get(name, []) for name in FILTER_FIELDS},
    })


def current() -> SearchState:
    s = st.session_state
    return SearchState(mode=s["mode"] or "text", text=s["q"].strip(), like=s["like"], weight=float(s["w"]),
                       fusion=s["fusion"], threshold=float(s["min"]), diverse=bool(s["diverse"]),
                       filters={n: list(s.get(f"f_{n}", [])) for n in FILTER_FIELDS if s.get(f"f_{n}")})


def write_to_url(state: SearchState) -> None:
    st.query_params.from_dict(state.to_params())


def more_like_this(product_id: str) -> None:
    """Button callback: use a catalogue product as the image query."""
    st.session_state["like"] = product_id
    if st.session_state["mode"] == "text":
        st.session_state["mode"] = "image"
    st.session_state["limit"] = 12


def judge(product_id: str, liked: bool) -> None:
    """Button callback: 👍 / 👎 a result; it moves to the chosen list and leaves the other."""
    add, other = ("likes", "dislikes") if liked else ("dislikes", "likes")
    st.session_state[other] = [p for p in st.session_state[other] if p != product_id]
    if product_id not in st.session_state[add]:
        st.session_state[add] = [*st.session_state[add], product_id]


def reset_feedback() -> None:
    st.session_state["likes"], st.session_state["dislikes"] = [], []
