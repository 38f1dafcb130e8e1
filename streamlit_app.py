"""Catalog Lens: the entry point; sets up the page and the navigation between pages."""

from pathlib import Path

import streamlit as st

from app import compare_tray

# A local file, served by this server: a material-icon favicon is fetched from the internet, which fails offline.
st.set_page_config(page_title="Catalog Lens", page_icon=str(Path(__file__).parent / "app" / "favicon.png"),
                   layout="wide")

pages = [
    st.Page("pages/search.py", title="Search", icon=":material/search:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/map:"),
    st.Page("pages/boards.py", title="Boards", icon=":material/bookmarks:"),
    st.Page("pages/catalog.py", title="Catalog", icon=":material/inventory_2:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/fact_check:"),
    st.Page("pages/gaps.py", title="Gaps", icon=":material/difference:"),
    st.Page("pages/searchlog.py", title="Search log", icon=":material/manage_search:"),
    st.Page("pages/health.py", title="Health", icon=":material/health_and_safety:"),
    st.Page("pages/enrich.py", title="Enrich", icon=":material/auto_fix_high:"),
    # Reached by links (/product?id=…, /compare?id=…&id=…), not from the menu: each needs products to show.
    st.Page("pages/product.py", title="Product", icon=":material/sell:", visibility="hidden"),
    st.Page(compare_tray.PAGE, title="Compare", icon=":material/compare_arrows:", visibility="hidden"),
]
st.session_state["entry_point_ran"] = True  # see app.ui.require_navigation
current = st.navigation(pages)
if current.url_path != "compare":  # the compare list's sidebar tray, on every page but Compare itself
    compare_tray.sidebar_tray()
current.run()
