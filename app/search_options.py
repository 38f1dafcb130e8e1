"""The Search page's Options: only the controls that apply to the chosen mode, and why an option is off; and the
line that says what the list below shows (how many, out of what, in which order)."""

from __future__ import annotations

import streamlit as st

from core.search.query import SORT_POOL, Result, SearchRequest

MATCH_LABELS = {"both": "Words and meaning", "keywords": "Words only", "meaning": "Meaning only"}
MATCH_HELP = ("Words and meaning: the products that hold every word you typed (or whose SKU, handle or id it is) "
              "first, then the others by meaning. Words only: the keyword index alone (a SKU, a brand, a rare title "
              "word). Meaning only: CLIP alone, as a description of what the product looks like.")
THRESHOLD_HELP = ("Hide products less similar than this to the query. With rrf fusion or product texts it applies "
                  "to each list before they are fused; with 👍/👎 to the closest of the query and the liked products.")


def options_panel(mode: str) -> None:
    """The Options expander; widgets keep their values in the search keys (see app.search_state)."""
    with st.expander("Options"):
        if mode == "text":  # with a photo the text is matched by meaning: the choice waits for a text search
            st.radio("Match the text by", list(MATCH_LABELS), key="match", horizontal=True,
                     format_func=MATCH_LABELS.get, help=MATCH_HELP)
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


def show_notes(notes: list[str]) -> None:
    """Say plainly what a person should know about this search (core.search.query.search_notes): which chosen option
    does not apply, and what would make it apply; a keyword index that is incomplete, and how to complete it."""
    for note in notes:
        st.caption(f":material/info: {note}")


def matched_by(request: SearchRequest, results: list[Result]) -> str:
    """How the list was matched, for search_count: "keywords" (the keyword index alone), "both" (words took part:
    a result holds a query word or is named by it), or "" (by meaning, as before the keyword index)."""
    if request.match == "keywords":
        return "keywords"
    return "both" if any(r.matched_words or r.exact for r in results) else ""


def no_results(request: SearchRequest | None) -> str:
    """What to try when the list is empty (request None: the catalogue listed under the filters)."""
    if request is None:
        return "No products match. Loosen the filters."
    if request.match == "keywords":
        return "No product holds a query word. Loosen the filters, or match by words and meaning."
    return "No products match. Loosen the filters or lower the minimum similarity."


# ---- what the list shows ----------------------------------------------------------------------------------

def products(count: int) -> str:
    """'1 product', '1,204 products'."""
    return f"{count:,} product{'' if count == 1 else 's'}"


def _out_of(matching: int, filtered: bool) -> str:
    if filtered:
        return f"{products(matching)} that match{'es' if matching == 1 else ''} the filters"
    return f"{products(matching)} in the catalogue"


def browse_count(total: int, filtered: bool, order: str = "", lacking: int = 0, thing: str = "") -> str:
    """"1,204 products match the filters · by price, high to low · 3 without a price last"."""
    if filtered:
        line = f"{products(total)} match{'es' if total == 1 else ''} the filters"
    else:
        line = f"{products(total)} in the catalogue"
    if order:
        line += f" · {order}"
        if lacking:
            line += f" · {lacking:,} without a {thing} last"
    return line


def search_count(shown: int, limit: int, matching: int, filtered: bool, threshold: float = 0.0,
                 order: str = "", lacking: int = 0, thing: str = "", words: str = "") -> str:
    """What a semantic search shows, honestly: a vector search ranks every product that passes the filters, so
    the list is "the N most similar" of those, not N matches, unless a minimum similarity cuts it off.

    Sorted by a field, the search orders its SORT_POOL most similar (or those above the minimum), not the
    whole catalogue, and says so. A search by words (`words`: the request's match, "both" or "keywords", when its
    words took part) says that instead: the keyword index alone lists only products holding a query word.
    """
    cut = f" with similarity ≥ {threshold:.2f}" if threshold else ""
    of = _out_of(matching, filtered)
    if words == "keywords" and not order:
        if shown < limit:
            return f"All {products(shown)} holding a query word, of {of}"
        return f"Showing the {shown:,} best keyword matches, of {of}"
    if words == "both" and not order:
        return f"Showing the {shown:,} best matches by words, then meaning, of {of}"
    if order:
        pool = f"Up to the {SORT_POOL} most similar{cut}" if threshold else \
            f"The {min(SORT_POOL, matching):,} most similar"
        line = f"{pool} of {of}, {order}: showing {shown:,}"
        return line + (f" · those without a {thing} last" if lacking else "")
    if threshold and shown < limit:
        return f"All {products(shown)}{cut}, of {of}"
    return f"Showing the {shown:,} most similar{cut}, of {of}"
