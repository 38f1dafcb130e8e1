"""Streamlit glue: cached resources and the widgets pages share. Logic stays in core/."""
