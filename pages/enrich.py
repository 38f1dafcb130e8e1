"""Enrich page: missing attributes proposed from the photos, and their review queue (accept, reject, undo)."""

import streamlit as st

from app import enrich_panel, filter_sidebar, page

config, store, meta = page.start_indexed("Enrich", "enrich")
narrowing = filter_sidebar.filter_sidebar(store)
st.caption("Fill a missing attribute (pattern, neckline, sleeve length…) from what the products' photos show. Name "
           "the attribute and its values: every product gets the value its photos fit best, or none (not "
           "applicable) when no value fits well enough. Nothing changes until you accept a proposal; an accepted "
           "value applies at once, becomes a filter, stays through every re-index until the source has a value of "
           "its own, and goes into python -m core export-fixes. Zero-shot tagging is approximate: check the "
           "accuracy on products whose value is already known before accepting many at once.")
if narrowing:
    st.caption("Only the products the sidebar's filters leave are looked at.")
enrich_panel.errors()
enrich_panel.run_form(config, store, narrowing.filters().visible(narrowing.show_hidden))
enrich_panel.decided(config, store)
enrich_panel.review(config, store, enrich_panel.pick_saved(config))
