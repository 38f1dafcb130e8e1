"""The near-duplicates panel: find groups on a background thread, then show them a page at a time, largest first."""

from __future__ import annotations

import streamlit as st

from app import result_grid
from core.config import Settings
from core.duplicates import DuplicateGroup, DuplicateSearch, page_of
from core.errors import LensError
from core.safe_text import md
from core.search import get_products
from core.store import ProductStore

GROUPS_PER_PAGE = 5
PHOTOS = 6        # photos shown per group before it is opened
MORE_STEP = 48    # photos added per "show more" inside an opened group
POLL_S = 0.5      # only while a search runs: the page checks for the result this often
FIRST_WAIT_S = 0.3  # a small catalogue is done by then: its groups come with the click, not a poll later


def panel(config: Settings, store: ProductStore, meta: dict | None) -> None:
    """Threshold, the find button, and the groups of the last search (dropped once the index changes)."""
    threshold = st.slider("Similarity at or above", 0.80, 1.0, 0.95, 0.005, key="dup_threshold")
    if meta and st.button("Find near-duplicates", key="dup_go"):
        job = st.session_state["dup_job"] = DuplicateSearch(store, threshold, meta.get("last_indexed"))
        st.session_state.pop("dup_page", None)
        job.wait(FIRST_WAIT_S)
    job: DuplicateSearch | None = st.session_state.get("dup_job")
    if job is None:
        return
    if meta is None or job.stale(meta.get("last_indexed")):
        # Groups of an older index would name deleted products and miss new ones: drop them and say why.
        del st.session_state["dup_job"]
        st.info("The index has changed since near-duplicates were last found: find them again.")
        return
    if not job.done:
        _wait(job)
        return
    if job.error is not None:
        st.error(md(job.error))
        return
    show_groups(job, config, store)


@st.fragment(run_every=POLL_S)
def _wait(job: DuplicateSearch) -> None:
    """Polls only while the search runs: once it is done, one full rerun draws the groups and drops this poll."""
    if job.done:
        st.rerun()
    st.caption(f"Finding near-duplicates at {job.threshold:.3f}… {job.elapsed:.0f} s")


def show_groups(job: DuplicateSearch, config: Settings, store: ProductStore) -> None:
    groups = job.groups or []
    if not groups:
        st.success(f"No near-duplicate photos at {job.threshold:.3f}.")
        return
    products = sum(len(g.product_ids) for g in groups)
    st.caption(f"{len(groups):,} group{'s' if len(groups) != 1 else ''} · {products:,} products at or above "
               f"{job.threshold:.3f} · largest first · found in {job.seconds:.1f} s")
    _, pages = page_of(groups, 1, GROUPS_PER_PAGE)
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", 1, pages, key="dup_page")
    shown, _ = page_of(groups, page, GROUPS_PER_PAGE)
    first = (page - 1) * GROUPS_PER_PAGE
    for number, group in enumerate(shown, start=first + 1):
        try:
            _group(number, group, job, config, store)
        except LensError as exc:
            st.error(md(exc))
            return


def _group(number: int, group: DuplicateGroup, job: DuplicateSearch, config: Settings, store: ProductStore) -> None:
    """A heading with the counts, the few closest photos, and the rest only when opened."""
    members = group.closest_first()
    a, b, score = group.pairs[0]
    with st.container(border=True, key=f"dup-{job.id}-{number}"):
        st.markdown(f"**Group {number}: {len(members):,} products** · {len(group.pairs):,} pairs · "
                    f"closest {md(a)} \\~ {md(b)} at {score:.3f}")
        _photos(members[:PHOTOS], config, store, f"dup-{job.id}-{number}")
        rest = members[PHOTOS:]
        if not rest:
            return
        opened = st.expander(f"{len(rest):,} more products", key=f"dup-{job.id}-{number}-open", on_change="rerun")
        if opened.open:  # drawn on demand: a closed group costs nothing
            with opened:
                more_key = f"dup-{job.id}-{number}-shown"
                count = st.session_state.get(more_key, MORE_STEP)
                _photos(rest[:count], config, store, f"dup-{job.id}-{number}-more")
                if count < len(rest):
                    st.button(f"Show {min(MORE_STEP, len(rest) - count)} more of {len(rest) - count:,}",
                              key=f"{more_key}-btn", on_click=_show_more, args=(more_key, count))


def _show_more(key: str, count: int) -> None:
    st.session_state[key] = count + MORE_STEP


def _photos(ids: list[str], config: Settings, store: ProductStore, key: str) -> None:
    result_grid.product_grid(get_products(store, ids), config, lambda r, k: None, columns=PHOTOS, key=key,
                             show_scores=False)
