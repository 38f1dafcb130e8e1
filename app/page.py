"""Page preamble shared by every page: run through the navigation, settings, store and index check."""

from __future__ import annotations

import streamlit as st


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
