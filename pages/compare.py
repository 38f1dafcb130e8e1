"""Compare page (/compare?id=a&id=b…): up to four products' photos side by side and their attributes in one table.

The link is the state: the ids in it are the compare list (so a shared link shows the same products), and
removing a product rewrites the link.
"""

import streamlit as st

from app import compare_tray, page, product_panel
from core.curation.compare import MAX_COMPARE, compare_ids, compare_rows, differing
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import get_products


def remove(product_id: str) -> None:
    """Button callback: off the compare list and out of the link."""
    ids = [p for p in compare_tray.ids() if p != product_id]
    compare_tray.set_ids(ids)
    st.query_params["id"] = ids


config, store, _meta = page.start_indexed("Compare", "compare")
requested, beyond = compare_ids(st.query_params.get_all("id"))
requested = requested or compare_tray.ids()  # no ids in the link: the session's list
if beyond:
    st.caption(f"The link names {beyond} more product{'s' if beyond > 1 else ''}: up to {MAX_COMPARE} compare "
               f"side by side, so these are the first {MAX_COMPARE}.")
try:
    products = get_products(store, requested)
except LensError as exc:
    st.error(md(exc))
    st.stop()
missing = [p for p in requested if p not in {r.product_id for r in products}]
if missing:
    st.warning(f"Not in the index (removed since, or a mistyped link): {md(', '.join('#' + p for p in missing))}")
compare_tray.set_ids([r.product_id for r in products])
st.query_params["id"] = compare_tray.ids()
if not products:
    st.info(f"Nothing to compare yet. Use “Compare” on up to {MAX_COMPARE} search results or board items, then "
            "“Compare” in the sidebar.")
    st.stop()

for column, result in zip(st.columns(MAX_COMPARE, gap="medium"), products):
    with column.container(border=True, key=f"compare-card-{result.product_id}"):
        product_panel.photo(result, config, px=384)
        st.markdown(f"**{md(result.title) or md('#' + result.product_id)}**")
        st.caption(" · ".join(part for part in (md(result.price), md("#" + result.product_id)) if part))
        compare_tray.view_link(result.product_id, width="stretch")
        st.button("Remove", key=f"compare-remove-{result.product_id}", icon=":material/close:", width="stretch",
                  on_click=remove, args=(result.product_id,), help="Take it off the compare list")

rows = compare_rows(products)
only_diff = st.toggle("Only rows that differ", key="compare_only_diff", disabled=len(products) < 2)
shown = differing(rows) if only_diff and len(products) > 1 else rows
product_panel.plain_table(["Attribute", *("#" + r.product_id for r in products)],
                          [[label, *values] for label, values in shown])
