"""Catalog Lens core: catalogue reading, CLIP embedding, Qdrant storage, indexing and search (no Streamlit here)."""
