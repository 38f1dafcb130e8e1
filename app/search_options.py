"""The Search page's Options: only the controls that apply to the chosen mode, and why an option is off."""

from __future__ import annotations

import streamlit as st

from core.search import SearchRequest

THRESHOLD_HELP = ("Hide products less similar than this to the query. With rrf fusion or product texts it applies "
                  "to each list before they are fused; with 👍/👎 to the closest of the query and the liked products.")


def options_panel(mode: str) -> None:
    """The Options expander; widgets keep their values in the search keys (see app.search_state)."""
    with st.expander("Options"):
        if mode == "hybrid":
            st.radio("Fusion", ["weighted", "rrf"], key="fusion", horizontal=True,
                     help="weighted mixes the two query vectors; rrf fuses the two ranked lists (reciprocal rank)")
            if st.session_state.get("fusion") != "rrf":  # rrf counts each list by rank alone: no weight to set
                st.slider("Text weight (1 = text only, 0 = photo only)", 0.0, 1.0, key="w", step=0.05)
        st.slider("Minimum similarity", 0.0, 1.0, key="min", step=0.01, help=THRESHOLD_HELP)
        if mode == "text":
            st.toggle("Also match product texts (finds products without photos)", key="text_vectors")
        if st.toggle("Diverse results (MMR)", key="diverse"):
            # Streamlit forgets a hidden widget's value: keep it in a plain key for when the slider comes back.
            st.session_state.setdefault("diversity", st.session_state.get("diversity_saved", 0.5))
            st.slider("Diversity (0 = closest first, 1 = as varied as possible)", 0.0, 1.0, key="diversity",
                      step=0.05)
            st.session_state["diversity_saved"] = st.session_state["diversity"]


def diversity() -> float:
    """The MMR diversity the slider shows (its last value while the slider is hidden)."""
    return float(st.session_state.get("diversity", st.session_state.get("diversity_saved", 0.5)))


def show_notes(request: SearchRequest) -> None:
    """Say plainly which chosen option does not apply to this search, and what would make it apply."""
    for note in request.notes():
        st.caption(f":material/info: {note}")
