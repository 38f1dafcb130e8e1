"""Health page: every problem of the catalogue in one ranked view, the score that sums it up, a category x kind
table whose cells open their products, and a link from each product to where it is fixed."""

import streamlit as st

from app import health_panel as panel, page

config, store, meta = page.start_indexed("Health", "health")
st.caption("What is wrong with the catalogue, where, and what to fix first: photos (missing, unreadable, too small, "
           "duplicated), labels the photo contradicts, attributes Merchant Center requires, titles, prices and "
           "stock, from what the index already knows. Each product links to where it is fixed.")
found = panel.report(config, store, meta)
if found is None:
    st.stop()
panel.score(found)
panel.history(store)
panel.kinds(found)
chosen = panel.categories(found)
panel.products(config, store, meta, found, chosen)
