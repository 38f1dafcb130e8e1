"""Audit page: products whose label disagrees with their photo, most suspect first; confirm or fix each one."""

import streamlit as st

from app import audit_panel, page

config, store, meta = page.start_indexed("Audit", "audit")
st.caption("A wrong label hides a product from every filter: a navy shirt labelled Black never shows under Navy "
           "Blue. Each product's photo is compared with every label the catalogue uses (its dominant colours in "
           "CIELAB and CLIP), and products that another label fits better are listed first. A change applies at "
           "once, stays through every re-index until the source is fixed, and goes into the CSV export.")
audit_panel.errors()
field = audit_panel.pick_field()
found = audit_panel.run(config, store, meta, field)
if found is not None:
    audit_panel.summary(found, field)
    audit_panel.export(config)
    audit_panel.suspect_list(config, store, found, field)
