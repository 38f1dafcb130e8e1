"""The compare list: one per session, filled from result and board cards, shown in the sidebar, opened on Compare."""

from __future__ import annotations

import streamlit as st

from core.curation.compare import MAX_COMPARE, toggled

KEY = "compare"
PAGE = "pages/compare.py"
PRODUCT_PAGE = "pages/product.py"


def ids() -> list[str]:
    return list(st.session_state.get(KEY, []))


def set_ids(product_ids: list[str]) -> None:
    st.session_state[KEY] = list(product_ids)


def toggle(product_id: str) -> None:
    """Callback: add the product to the compare list, or take it off; a fifth is refused, and says so."""
    now, done = toggled(ids(), product_id)
    if not done:
        st.toast(f"You can compare up to {MAX_COMPARE} products: remove one first.", icon=":material/block:")
        return
    set_ids(now)
    if product_id in now:
        st.toast(f"Added to compare ({len(now)} of {MAX_COMPARE})")


def compare_checkbox(product_id: str, key: str) -> None:
    """A card's Compare tick: ticked while the product is on the list (set on every run, so a product taken off
    on another page, or a fifth that was refused, shows unticked)."""
    st.session_state[key] = product_id in ids()
    st.checkbox("Compare", key=key, on_change=toggle, args=(product_id,))  # no help icon: it fits a card's row


def view_link(product_id: str, label: str = "View", width="content") -> None:
    """A link to the product's own page (a page switch inside the app: the session goes with it)."""
    st.page_link(PRODUCT_PAGE, label=label, icon=":material/open_in_full:", query_params={"id": product_id},
                 help="Open this product's page", width=width)


def sidebar_tray() -> None:
    """Sidebar: how many products are on the compare list, a link to compare them, and a way to clear it.

    Drawn by the entry point on every page but Compare itself, and only when the list is not empty.
    """
    chosen = ids()
    if not chosen:
        return
    box = st.sidebar.container(border=True)
    box.page_link(PAGE, label=f"Compare {len(chosen)} of {MAX_COMPARE}", icon=":material/compare_arrows:",
                  query_params={"id": chosen}, width="stretch")
    box.button("Clear the compare list", key="compare_clear", on_click=set_ids, args=([],), type="tertiary")
