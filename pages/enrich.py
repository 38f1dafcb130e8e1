"""Enrich page: missing attributes proposed from the photos, and their review queue (being built: issue 23)."""

import streamlit as st

from app import page

config, store, meta = page.start_indexed("Enrich", "enrich")
st.info("Attribute enrichment is being built.")
