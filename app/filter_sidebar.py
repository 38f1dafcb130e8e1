"""The sidebar filters shared by Search and Explore: multiselects of raw values with live facet counts."""

from __future__ import annotations

import streamlit as st

from core.catalog import FILTER_FIELDS
from core.errors import LensError
from core.filters import Filters
from core.safe_text import md
from core.search import facets
from core.store import ProductStore


FIELD_LABELS = {"gender": "Gender", "category": "Category", "sub_category": "Sub-category",
                "product_type": "Product type", "colour": "Colour", "usage": "Usage"}


SIDEBAR_FIELDS = FILTER_FIELDS


def filter_sidebar(store: ProductStore) -> dict[str, list[str]]:
    """Multiselects with live facet counts ("Red (41)"), shared by Search and Explore; returns the selection.

    Streamlit forgets a widget's state on pages that do not draw it, so the selection also lives in a plain
    session key ("filters") that each page seeds its widgets from.
    """
    persisted = st.session_state.setdefault("filters", {})
    for name in SIDEBAR_FIELDS:
        st.session_state.setdefault(f"f_{name}", list(persisted.get(name, [])))
    selected = {n: list(st.session_state[f"f_{n}"]) for n in SIDEBAR_FIELDS if st.session_state[f"f_{n}"]}
    st.sidebar.header("Filters")
    try:
        counts = facets(store, Filters.of(selected), SIDEBAR_FIELDS)
    except LensError as exc:
        st.sidebar.error(md(exc))
        return selected
    chosen = {}
    for name in SIDEBAR_FIELDS:
        count_of = dict(counts[name])
        options = [v for v, _ in counts[name]] + [v for v in st.session_state[f"f_{name}"] if v not in count_of]
        chosen[name] = st.sidebar.multiselect(
            FIELD_LABELS[name], options, key=f"f_{name}",
            format_func=lambda v, c=count_of: f"{v} ({c.get(v, 0)})")
    st.session_state["filters"] = {k: v for k, v in chosen.items() if v}
    return st.session_state["filters"]


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
