"""Health page: every problem of the catalogue in one ranked view (being built: issue 23)."""

import streamlit as st

from app import page

config, store, meta = page.start_indexed("Health", "health")
st.info("The catalogue's health check is being built.")
