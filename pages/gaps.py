"""Gaps page: another catalogue (a competitor's, a supplier's) matched against ours: what they have that we lack,
what we match, and our unique range."""

import streamlit as st

from app import board_panel, filter_sidebar, gaps_panel, gaps_table, page, reference_form, references

config, store, meta = page.start_indexed("Gaps", "gaps")
st.caption("Match another catalogue against ours by photo (or text, for products without one). Each of their "
           "products is shown beside our closest product: at or above the threshold it is a match, below it a "
           "gap in our range. “Our unique range” lists ours that they have nothing close to.")
narrowing = filter_sidebar.filter_sidebar(store)
filters = narrowing.filters()
board_id = board_panel.board_picker(config)

found = references.references(config)
reference_form.added_note()
name = references.pick_reference(found)
reference_form.add_form(config, has_any=bool(found))
if name is None:
    st.info("There is no reference catalogue yet: add one above (a CSV, with its photos as a zip or as URLs).")
    st.stop()

request = gaps_panel.options(name)
rows = gaps_panel.match(config, store, meta, references.info_of(found, name), request, filters,
                        narrowing.show_hidden)
if rows is None:
    st.stop()
gaps_panel.summary(rows, request)
gaps_panel.counts(store, rows, request)
gaps_panel.exports(rows, request)
gaps_table.table(config, store, rows, request, board_id)
