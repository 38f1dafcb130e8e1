"""The Gaps page's matching: its options, the matching itself (cached per index state), the summary, gap counts
and the CSV exports. The reference catalogues are app.references', the add form app.reference_form's, and the
table of rows app.gaps_table's."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from app import product_panel, references, resources
from app.references import SAME_FIELDS, SAVED_SAME, SAVED_THRESHOLD
from core.common.config import Settings
from core.common.errors import LensError
from core.common.fields import display_value
from core.common.filters import Filters
from core.common.safe_text import md
from core.curation.export import table_csv
from core.index.store import ProductStore
from core.insights.gaps import MATCH_THRESHOLD

THEIRS, OURS = "theirs", "ours"
DIRECTIONS = {THEIRS: "Their products", OURS: "Our unique range"}
COUNT_FIELDS = {"category": "Category", "colour": "Colour"}
PLURAL = {"category": "categories", "colour": "colours"}
CSV_HEADER = ("their_id", "their_title", "our_id", "our_title", "similarity", "verdict", "their_category",
              "their_colour", "our_category", "our_colour")


@dataclass(frozen=True)
class GapRequest:
    """The matching options the page's widgets chose."""

    name: str
    threshold: float
    same: str | None
    direction: str
    ascending: bool


# ---- matching ----------------------------------------------------------------------------------------------

def options(name: str) -> GapRequest:
    """Threshold, 'match within the same', direction and order."""
    threshold_col, same_col, direction_col, order_col = st.columns([3, 2, 3, 2], vertical_alignment="bottom")
    threshold = threshold_col.slider("Match at a similarity of at least", 0.0, 1.0, MATCH_THRESHOLD, 0.01,
                                     key="gaps_threshold")
    same = same_col.selectbox("Match within the same", ("", *SAME_FIELDS), key="gaps_same",
                              format_func=lambda f: "(anything)" if not f else f.replace("_", " "))
    direction = direction_col.segmented_control("List", list(DIRECTIONS), format_func=DIRECTIONS.get,
                                                key="gaps_direction", default=THEIRS) or THEIRS
    order = order_col.selectbox("Similarity", ("ascending", "descending"), key="gaps_order",
                                format_func=lambda o: "lowest first" if o == "ascending" else "highest first")
    st.session_state[SAVED_THRESHOLD] = float(threshold)  # widget state goes with the page; this stays
    st.session_state[SAVED_SAME] = same or ""
    return GapRequest(name, float(threshold), same or None, direction, order == "ascending")


@st.cache_data(max_entries=32, show_spinner="Matching their catalogue against ours…")
def _match(store_key: str, name: str, their_stamp, our_stamp, threshold: float, same: str | None, filters_key: str,
           direction: str, _config: Settings, _ours: ProductStore, _filters: Filters | None,
           show_hidden: bool = False) -> list:
    """Every row of one matching, recomputed when either index changes (the stamps) or an option does."""
    from core.insights.gaps import filters_within, find_gaps, our_unique

    with references.opened(_config, name) as theirs:
        run = find_gaps if direction == THEIRS else our_unique
        filters, dropped = filters_within(_filters, theirs if direction == THEIRS else _ours)
        return run(_ours, theirs, threshold, filters=filters, same=same, show_hidden=show_hidden), dropped


def match(config: Settings, store: ProductStore, meta: dict, info, request: GapRequest,
          filters: Filters | None, show_hidden: bool = False) -> list | None:
    """The matching's rows (GapRow), gaps first; None, with the error shown, when it cannot run. Draft and archived
    products, on either side, are left out unless show_hidden (the sidebar's toggle) or the filters name a status."""
    try:
        rows, dropped = _match(resources.store_key(config), request.name,
                               info.last_indexed if info else None, meta.get("last_indexed"), request.threshold,
                               request.same, repr(filters), request.direction, config, store, filters or None,
                               bool(show_hidden))
    except LensError as exc:
        st.error(md(exc))
        return None
    if dropped:
        st.caption(f"Not applied here: {md(', '.join(dropped))} (the reference catalogue has no such field).")
    return rows


def summary(rows: list, request: GapRequest) -> None:
    gaps = sum(r.verdict == "gap" for r in rows)
    if request.direction == THEIRS:
        st.markdown(f"**{gaps:,}** of their **{len(rows):,}** products have no match of ours at "
                    f"{request.threshold:.2f} or above; **{len(rows) - gaps:,}** match.")
    else:
        st.markdown(f"**{len(rows):,}** of our products have no match in {md(request.name)} at "
                    f"{request.threshold:.2f} or above.")


def counts(store: ProductStore, rows: list, request: GapRequest) -> None:
    """Gaps per category and per colour, as plain tables; the categories they cover and we do not, said."""
    from core.insights.gaps import gap_counts

    side = rows if request.direction == THEIRS else [replace(r, their_payload=r.our_payload) for r in rows]
    whose = "Their products" if request.direction == THEIRS else "Our products"
    for column, (field, label) in zip(st.columns(len(COUNT_FIELDS)), COUNT_FIELDS.items()):
        found = gap_counts(side, field)
        with column:
            st.markdown(f"**Gaps by {label.lower()}**")
            product_panel.plain_table([label, "Gaps", whose], [[v or "(none)", str(g), str(n)] for v, g, n in found])
            if request.direction == THEIRS:
                ours = {value for value, _ in store.facet(field, limit=10_000)}
                only = [v for v, g, n in found if v and g == n and v not in ours]
                if only:
                    st.caption(f"They have {PLURAL[field]} we lack entirely: {md(', '.join(only))}")


def rows_csv(rows: list) -> str:
    """The rows as CSV: ids, titles, similarity, verdict, and both products' category and colour."""
    return table_csv(CSV_HEADER, ([
        r.their_id, r.their_title, r.our_id, r.our_title, "" if r.similarity is None else f"{r.similarity:.4f}",
        r.verdict, display_value(r.their_payload.get("category")), display_value(r.their_payload.get("colour")),
        display_value(r.our_payload.get("category")), display_value(r.our_payload.get("colour"))] for r in rows))


def exports(rows: list, request: GapRequest) -> None:
    """The gap list and the match list as CSV downloads."""
    gaps = [r for r in rows if r.verdict == "gap"]
    matches = [r for r in rows if r.verdict == "match"]
    stem = f"{request.name}-{'gaps' if request.direction == THEIRS else 'our-unique'}"
    left, right = st.columns(2)
    left.download_button(f"Export {len(gaps)} gaps (CSV)", rows_csv(gaps), file_name=f"{stem}.csv",
                         mime="text/csv", key="gaps_export", icon=":material/download:", disabled=not gaps)
    if request.direction == THEIRS:
        right.download_button(f"Export {len(matches)} matches (CSV)", rows_csv(matches),
                              file_name=f"{request.name}-matches.csv", mime="text/csv", key="gaps_export_matches",
                              icon=":material/download:", disabled=not matches)
