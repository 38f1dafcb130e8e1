"""Search log page: a search-terms export (the shop's searches with no results) diagnosed query by query: what we
don't stock (gap), what we stock under other words (words: the synonyms to add), and what our words already find."""

import streamlit as st

from app import page, searchlog_panel as panel
from core.insights.searchlog import VERDICTS

config, store, meta = page.start_indexed("Search log", "searchlog")
st.caption("Upload the shop's search terms: Shopify's “Searches with no results” report, Google Analytics' site "
           "search, or any CSV with a query column and an optional count. Each query is searched here by its words "
           "and by its meaning: what we don't stock, what we stock under other words, and what is already found.")
upload, columns = panel.upload()
threshold, reference = panel.options(config)
if upload is None:
    st.info("Upload a search-terms export (CSV) to see its queries diagnosed.")
    st.stop()
log = panel.read(upload, columns)
if log is None:
    st.stop()
diagnoses = panel.diagnose(config, store, meta, upload, columns, log, threshold, reference)
if diagnoses is None:
    st.stop()
panel.counts(diagnoses)
panel.exports(diagnoses)
for verdict in VERDICTS:
    panel.section(config, store, diagnoses, verdict, reference)
