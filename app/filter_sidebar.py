"""The sidebar filters shared by every page that shows them: one selection per session, kept in the URL."""

from __future__ import annotations

import streamlit as st

from core.catalog import FILTER_FIELDS
from core.errors import LensError
from core.filters import Filters
from core.safe_text import md
from core.search import facets
from core.store import ProductStore
from core.urlstate import filters_from_params, filters_to_params


FIELD_LABELS = {"gender": "Gender", "category": "Category", "sub_category": "Sub-category",
                "product_type": "Product type", "colour": "Colour", "usage": "Usage"}


SIDEBAR_FIELDS = FILTER_FIELDS
SHOWN_COUNTS = 4  # values named in each filter's count line; the rest are summed up as "+N more"


def shared_filters() -> dict[str, list[str]]:
    """The session's filter selection (raw values); a session's first run takes it from the link."""
    if "filters" not in st.session_state:
        st.session_state["filters"] = filters_from_params(
            {k: st.query_params.get_all(k) for k in st.query_params.keys()})
    return st.session_state["filters"]


def filter_sidebar(store: ProductStore) -> dict[str, list[str]]:
    """Multiselects of raw values, each with a line of live counts under it; returns the selection.

    The options are the raw values and their labels never change: this Streamlit identifies a chosen
    option by its label, so a label carrying a live count ("Women (117)") became a new value as soon as
    the count changed. The counts are shown in a caption instead. persist_state="session" keeps each
    widget's value while another page is shown; the plain "filters" key is what the rest of the app reads.
    """
    persisted = shared_filters()
    for name in SIDEBAR_FIELDS:
        # Assigned on every run, not only when missing: on a page switch this Streamlit keeps the key's value
        # but mounts the widget empty, and only an explicit assignment makes the new page's widget adopt it.
        st.session_state[f"f_{name}"] = list(st.session_state.get(f"f_{name}", persisted.get(name, [])))
    selected = {n: list(st.session_state[f"f_{n}"]) for n in SIDEBAR_FIELDS if st.session_state[f"f_{n}"]}
    st.sidebar.header("Filters")
    st.sidebar.caption("Under each filter: how many products each value has with the other filters applied.")
    try:
        counts = facets(store, Filters.of(selected), SIDEBAR_FIELDS)
    except LensError as exc:
        st.sidebar.error(md(exc))
        st.session_state["filters"] = selected
        return selected
    chosen = {}
    for name in SIDEBAR_FIELDS:
        count_of = dict(counts[name])
        # A chosen value that the other filters leave no products for stays chosen (and shows 0).
        options = [v for v, _ in counts[name]] + [v for v in st.session_state[f"f_{name}"] if v not in count_of]
        chosen[name] = st.sidebar.multiselect(
            FIELD_LABELS[name], options, key=f"f_{name}", persist_state="session")
        line = count_line(counts[name], chosen[name])
        if line:
            st.sidebar.caption(line)
    st.session_state["filters"] = {k: list(v) for k, v in chosen.items() if v}
    return st.session_state["filters"]


def count_line(counts: list[tuple[str, int]], chosen: list[str], shown: int = SHOWN_COUNTS) -> str:
    """"**Women 1** · Men 3 · Girls 1 · +2 more": the chosen values in bold, then the largest others."""
    count_of = dict(counts)
    parts = [f"**{md(v)} {count_of.get(v, 0)}**" for v in chosen]
    others = [(v, c) for v, c in counts if v not in chosen]
    parts += [f"{md(v)} {c}" for v, c in others[:max(0, shown - len(chosen))]]
    rest = len(others) - max(0, shown - len(chosen))
    if rest > 0:
        parts.append(f"+{rest} more")
    return " · ".join(parts)


def write_filters_to_url(filters: dict[str, list[str]]) -> None:
    """For pages whose URL holds only the filters (Explore); Search writes them with the rest of its state."""
    st.query_params.from_dict(filters_to_params(filters))


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
