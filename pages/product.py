"""Product page (/product?id=…): one product's photos, status, price, variants, attributes, page link, actions and
look-alikes."""

import streamlit as st

from app import board_panel, page, photo_gallery, product_panel, variants_table
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import get_products

config, store, _meta = page.start_indexed("Product", "product")
product_id = (st.query_params.get("id") or "").strip()[:200]
if not product_id:
    st.info("This link names no product. Open one with “View” on a search result or a board item.")
    st.page_link("pages/search.py", label="Go to Search", icon=":material/search:")
    st.stop()
try:
    found = get_products(store, [product_id])
except LensError as exc:
    st.error(md(exc))
    st.stop()
if not found:
    st.warning(f"Product {md('#' + product_id)} is not in the index (removed since, or a mistyped link).")
    st.page_link("pages/search.py", label="Go to Search", icon=":material/search:")
    st.stop()
result = found[0]
# A page link to this same page with another id runs it with that id but may leave the old one in the address
# bar; writing it back keeps the address (and so a shared or reloaded link) on the product shown.
st.query_params["id"] = result.product_id
board_id = board_panel.board_picker(config)

photo_col, facts_col = st.columns([5, 6], gap="large")
with photo_col:
    product_panel.photo(result, config)
with facts_col:
    product_panel.facts(result)
    product_panel.actions(result, config, board_id)
    product_panel.attribute_table(result)
photo_gallery.gallery(result, config)
variants_table.variants_table(result.payload)
product_panel.lookalikes(store, config, result)
