"""Audit page: products whose label disagrees with their photo, most suspect first; confirm, fix or undo each one."""

import streamlit as st

from app import audit_panel, page

config, store, meta = page.start_indexed("Audit", "audit")
st.caption("A wrong label hides a product from every filter: a navy shirt labelled Black never shows under Navy "
           "Blue. Each colour is compared with the product's photos (a variant's colour with its own photo first; "
           "their dominant colours in CIELAB and CLIP), and products that another label fits better are listed "
           "first. A product is never listed for a colour one of its photos shows. A change replaces only the value "
           "it names, applies at once, stays through every re-index until the source is fixed or you undo it, and "
           "goes into the CSV export.")
audit_panel.errors()
field = audit_panel.pick_field()
hidden_too = audit_panel.show_hidden()
found = audit_panel.run(config, store, meta, field, hidden_too)
audit_panel.decided(config, store)
if found is not None:
    audit_panel.summary(found, field)
    audit_panel.export(config)
    audit_panel.unknown_names(found)
    audit_panel.suspect_list(config, store, found, field)
