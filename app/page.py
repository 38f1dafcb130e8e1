"""Page preamble shared by every page: run through the navigation, settings, store and index check."""

from __future__ import annotations

import streamlit as st

from app import indexing_panel, resources


def require_navigation() -> None:
    """Run every page through streamlit_app.py's st.navigation, even on a server's very first request.

    Streamlit treats a folder named pages/ beside the entry point as its legacy page folder until the first
    st.navigation call: if a new server's first visitor opens /boards, it runs pages/boards.py on its own
    (no page config, file names in the sidebar). We clear that flag and rerun, so the entry point runs.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Only when this session has never been through the entry point: a rerun would drop a widget event.
    if PagesManager.uses_pages_directory and not st.session_state.get("entry_point_ran"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def start(title: str):
    """Every page's first lines: through the navigation, then the settings, the shared store and the title."""
    require_navigation()
    config = resources.settings()
    store = resources.store(config)
    st.title(title)
    return config, store


def start_indexed(title: str, key: str):
    """start(), then the first-run notice instead of the page when there is no index yet; (config, store, meta)."""
    config, store = start(title)
    meta = indexing_panel.require_index(config, store, key)
    if meta is None:
        st.stop()
    return config, store, meta
