"""Explore page: placeholder until the catalogue map lands."""

import streamlit as st

st.title("Explore")
st.info("The interactive map of the catalogue (clusters, colours, lasso selection) is coming in the next "
        "release. Until then, use **Search** and “More like this” to browse look-alikes.")
