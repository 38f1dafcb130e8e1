"""The near-duplicates panel: find groups on a background thread, then show them a page at a time, largest first,
each with its actions: open a product, compare the group, mark a pair "not duplicates" (undoable), add to a board."""

from __future__ import annotations

import hashlib

import streamlit as st

from app import board_panel, compare_tray, resources, result_grid
from core.curation.compare import MAX_COMPARE
from core.common.config import Settings
from core.curation.duplicate_dismissals import DismissalError, DuplicateDismissals
from core.search.duplicates import DuplicateGroup, DuplicateSearch, page_of
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import get_products
from core.index.store import ProductStore

GROUPS_PER_PAGE = 5
PHOTOS = 6        # photos shown per group before it is opened
MORE_STEP = 48    # photos added per "show more" inside an opened group
POLL_S = 0.5      # only while a search runs: the page checks for the result this often
FIRST_WAIT_S = 1.0  # a few thousand products are done by then: their groups come with the click, not a poll
PAIR_CHOICES = 50  # pairs of one group offered to "Not duplicates", closest first
DISMISSED_SHOWN = 100  # most recent dismissals listed for restoring
_UNDO = "dup_last_dismissed"  # what this session dismissed last, for Undo: {"pairs": [(a, b), ...], "note": plain text}


def panel(config: Settings, store: ProductStore, meta: dict | None) -> None:
    """Threshold, the find button, and the groups of the last search (dropped once the index changes)."""
    threshold = st.slider("Similarity at or above", 0.80, 1.0, 0.95, 0.005, key="dup_threshold")
    job: DuplicateSearch | None = st.session_state.get("dup_job")
    show_hidden = bool(st.session_state.get("show_hidden", False))  # the sidebar's "Show drafts and archived"
    if meta:  # started in the click's callback, so the button is drawn disabled in the very run the search began
        busy = job is not None and not job.done
        st.button("Find near-duplicates", key="dup_go", disabled=busy, on_click=_start,
                  args=(store, threshold, meta.get("last_indexed"), show_hidden),
                  help="A search is running: its groups come when it ends" if busy else None)
        job = st.session_state.get("dup_job")
    if job is None:
        return
    if meta is None or job.stale(meta.get("last_indexed")):
        # Groups of an older index would name deleted products and miss new ones: drop them and say why.
        del st.session_state["dup_job"]
        st.info("The index has changed since near-duplicates were last found: find them again.")
        return
    if job.show_hidden != show_hidden:  # its groups left out (or took in) drafts and archived products
        del st.session_state["dup_job"]
        st.info("“Show drafts and archived” has changed since near-duplicates were last found: find them again.")
        return
    if not job.done:
        _wait(job)
        return
    if job.error is not None:
        st.error(md(job.error))
        return
    show_groups(job, config, store)


def _start(store: ProductStore, threshold: float, index_version: float | None, show_hidden: bool = False) -> None:
    """Button callback: one search per session; a click that reaches the server while one runs starts none."""
    running: DuplicateSearch | None = st.session_state.get("dup_job")
    if running is not None and not running.done:
        return
    threshold = st.session_state.get("dup_threshold", threshold)  # the slider as it is at the click
    job = st.session_state["dup_job"] = DuplicateSearch(store, threshold, index_version, show_hidden=show_hidden)
    st.session_state.pop("dup_page", None)
    job.wait(FIRST_WAIT_S)


@st.fragment(run_every=POLL_S)
def _wait(job: DuplicateSearch) -> None:
    """Polls only while the search runs: once it is done, one full rerun draws the groups and drops this poll."""
    if job.done:
        st.rerun()
    st.caption(f"Finding near-duplicates at {job.threshold:.3f}… {job.elapsed:.0f} s")


def _dismissals(config: Settings) -> DuplicateDismissals:
    return DuplicateDismissals(config.data_dir, config.collection)


def show_groups(job: DuplicateSearch, config: Settings, store: ProductStore) -> None:
    """The groups less the pairs marked "not duplicates" (regrouped from the search's pairs: no new search)."""
    try:
        dismissed = _dismissals(config).pairs()
    except DismissalError as exc:  # shown, and nothing is written over the unreadable file
        st.error(md(exc))
        dismissed = None
    _undo_notice(config)
    groups = job.regroup(dismissed or frozenset())
    if not groups:
        st.success(f"No near-duplicate photos at {job.threshold:.3f}.")
        _dismissed_list(config, dismissed)
        return
    board_id = board_panel.board_picker(config)
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
            _group(number, group, job, config, store, board_id, dismissed is not None)
        except LensError as exc:
            st.error(md(exc))
            return
    _dismissed_list(config, dismissed)


def _group(number: int, group: DuplicateGroup, job: DuplicateSearch, config: Settings, store: ProductStore,
           board_id: str | None, can_dismiss: bool) -> None:
    """A heading with the counts, the group's actions, the few closest photos, and the rest only when opened."""
    members = group.closest_first()
    a, b, score = group.pairs[0]
    with st.container(border=True, key=f"dup-{job.id}-{number}"):
        st.markdown(f"**Group {number}: {len(members):,} products** · {len(group.pairs):,} pairs · "
                    f"closest {md(a)} \\~ {md(b)} at {score:.3f}")
        _actions(group, members, f"dup-{job.id}-{_identity(group)}", config, board_id, can_dismiss)
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


def _identity(group: DuplicateGroup) -> str:
    """A key for the group's own widgets that follows its members, not its place: after a dismissal splits a
    group, the pair chosen in another group stays chosen."""
    return hashlib.sha1("\0".join(group.product_ids).encode()).hexdigest()[:12]


def pair_label(pair: tuple[str, str, float]) -> str:
    """A pair as plain text for the pair picker (its options are text, never Markdown)."""
    a, b, score = pair
    return f"#{a} ~ #{b} · {score:.3f}"


def _actions(group: DuplicateGroup, members: list[str], key: str, config: Settings, board_id: str | None,
             can_dismiss: bool) -> None:
    """Compare the closest (up to four, on the Compare page), add the group to the board, "Not duplicates" for
    one of its pairs (the closest by default; a pair alone needs no choosing) and, in a group of three or more,
    "Not a duplicate of this group" for one of its products (all its pairs in the group)."""
    compared = members[:MAX_COMPARE]
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key=f"{key}-actions"):
        st.page_link(compare_tray.PAGE, label="Compare the group" if len(members) <= MAX_COMPARE
                     else f"Compare the {MAX_COMPARE} closest", icon=":material/compare_arrows:",
                     query_params={"id": compared}, help="Their photos and attributes side by side")
        st.button("Add group to board", key=f"{key}-board", icon=":material/bookmark_add:",
                  disabled=board_id is None, on_click=_add_group, args=(config, board_id, members),
                  help=f"Adds all {len(members):,} products" if board_id else "Create a board in the sidebar first")
        choices = group.pairs[:PAIR_CHOICES]
        if len(choices) > 1:
            st.selectbox("Pair", range(len(choices)), format_func=lambda i: pair_label(choices[i]),
                         key=f"{key}-pair", label_visibility="collapsed", width=260)
        st.button("Not duplicates", key=f"{key}-dismiss", icon=":material/call_split:", disabled=not can_dismiss,
                  on_click=_dismiss, args=(_where(config), f"{key}-pair", [p[:2] for p in choices]),
                  help="These two are different products: they stop grouping (you can undo it)")
    if len(members) < 3:  # in a pair, the product and the pair are the same thing
        return
    offered = members[:PAIR_CHOICES]
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key=f"{key}-leave-row"):
        st.selectbox("Product", range(len(offered)), format_func=lambda i: f"#{offered[i]}", key=f"{key}-member",
                     label_visibility="collapsed", width=260)
        st.button("Not a duplicate of this group", key=f"{key}-leave", icon=":material/person_remove:",
                  disabled=not can_dismiss, on_click=_leave_group,
                  args=(_where(config), f"{key}-member", offered, group.pairs_of),
                  help="This product is different from every other one here: all its pairs in the group are "
                       "marked not duplicates (you can undo it)")


def _where(config: Settings) -> tuple[str, str]:
    """The data dir and collection whose dismissals a callback changes (plain values, as callback args)."""
    return str(config.data_dir), config.collection


def _picked(pick_key: str, options: list):
    return options[min(int(st.session_state.get(pick_key) or 0), len(options) - 1)]


def _dismiss(where: tuple[str, str], pick_key: str, pairs: list[tuple[str, str]]) -> None:
    """Button callback: remember the chosen pair as not duplicates, and keep it for Undo."""
    a, b = _picked(pick_key, pairs)
    _mark(where, [(a, b)], f"Marked {md('#' + a)} and {md('#' + b)} as not duplicates: they no longer group.")


def _leave_group(where: tuple[str, str], pick_key: str, members: list[str], pairs_of) -> None:
    """Button callback: the chosen product is not a duplicate of its group: every pair it has there is marked."""
    product = _picked(pick_key, members)
    pairs = pairs_of(product)
    _mark(where, pairs, f"Marked {md('#' + product)} as not a duplicate of its group ({len(pairs):,} "
                        f"pair{'s' if len(pairs) != 1 else ''}): it no longer groups with them.")


def _mark(where: tuple[str, str], pairs: list[tuple[str, str]], note: str) -> None:
    try:
        DuplicateDismissals(*where).dismiss_all(pairs)
    except DismissalError as exc:
        st.toast(f"Could not mark them: {md(exc)}", icon=":material/error:")
        return
    st.session_state[_UNDO] = {"pairs": [tuple(p) for p in pairs], "note": note}


def _restore(where: tuple[str, str], pairs: list[tuple[str, str]]) -> None:
    """Button callback (Undo, Restore): the pairs count again, and their products group again when close."""
    try:
        DuplicateDismissals(*where).restore_all(pairs)
    except DismissalError as exc:
        st.toast(f"Could not restore them: {md(exc)}", icon=":material/error:")
        return
    last = st.session_state.get(_UNDO)
    if last and {tuple(sorted(p)) for p in last["pairs"]} & {tuple(sorted(p)) for p in pairs}:
        st.session_state.pop(_UNDO, None)


def _undo_notice(config: Settings) -> None:
    """After a dismissal: what was marked, with an Undo for all of it."""
    last = st.session_state.get(_UNDO)
    if not last:
        return
    with st.container(horizontal=True, vertical_alignment="center", key="dup_undo_row"):
        st.caption(last["note"])
        st.button("Undo", key="dup_undo", icon=":material/undo:", on_click=_restore,
                  args=(_where(config), last["pairs"]))


def _dismissed_list(config: Settings, dismissed) -> None:
    """Every pair marked not duplicates (the latest first), each with Restore; drawn only when opened."""
    if not dismissed:
        return
    listed = st.expander(f"Marked not duplicates ({len(dismissed):,})", key="dup_dismissed_open", on_change="rerun")
    if not listed.open:
        return
    every = _dismissals(config).all()[::-1][:DISMISSED_SHOWN]
    with listed:
        for n, d in enumerate(every):
            with st.container(horizontal=True, vertical_alignment="center", key=f"dup-dismissed-{n}"):
                st.text(f"#{d.a} ~ #{d.b}")
                st.button("Restore", key=f"dup-restore-{n}", on_click=_restore, args=(_where(config), [d.pair]))


def _add_group(config: Settings, board_id: str, product_ids: list[str]) -> None:
    """Button callback: every product of the group onto the board (those already there stay as they are)."""
    try:
        results = get_products(resources.store(config), product_ids)
        added = board_panel.add_products_to_board(config, board_id, results)
        name = resources.boards(str(config.data_dir)).get(board_id).name
    except LensError as exc:
        st.toast(f"Could not add: {md(exc)}", icon=":material/error:")
        return
    already = f" ({len(added) - sum(added)} already there)" if sum(added) < len(added) else ""
    st.toast(f"Added {board_panel.products(sum(added))} to {md(name)}{already}")


def _show_more(key: str, count: int) -> None:
    st.session_state[key] = count + MORE_STEP


def _photos(ids: list[str], config: Settings, store: ProductStore, key: str) -> None:
    result_grid.product_grid(get_products(store, ids), config, result_grid.view_and_compare, columns=PHOTOS,
                             key=key, show_scores=False)
