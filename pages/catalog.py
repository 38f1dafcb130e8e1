"""Catalog page: index status, indexing a catalogue with progress, and near-duplicate listings."""

from pathlib import Path

import streamlit as st

from app import indexing_panel, page, resources, result_grid
from core.errors import LensError
from core.safe_text import md
from core.sample import SAMPLE_IMAGES, ensure_sample
from core.duplicates import near_duplicates
from core.search import get_products

page.require_navigation()

config = resources.settings()
store = resources.store(config)
st.title("Catalog")

st.subheader("Index status")
meta = indexing_panel.require_index(config, store, "catalog")
if meta:
    a, b, c, d = st.columns(4)
    try:
        a.metric("Products", store.count())
    except LensError as exc:
        st.error(md(exc))
        st.stop()
    b.metric("Model", md(indexing_panel.short_model_name(meta["model"])))  # a metric value is Markdown too
    c.metric("Backend", "embedded" if store.backend == "embedded" else "server")
    d.metric("Last indexed", indexing_panel.when(meta.get("last_indexed")))
    st.caption(f"Model {md(meta['model'])} ({meta['dim']} dims) · device {md(indexing_panel.device_label(config))} · "
               f"storage {md(config.backend_label)}")

st.subheader("Index a catalogue")
from_path, from_upload = st.tabs(["CSV on this machine", "Upload a CSV"])
csv_path = from_path.text_input("Catalogue CSV path", key="idx_csv", placeholder="/data/styles.csv")
uploaded = from_upload.file_uploader("Catalogue CSV", type=["csv"], key="idx_upload")
images_dir = st.text_input("Images folder (searched recursively; default: the CSV's folder)", key="idx_images")
recreate = st.checkbox("Rebuild from scratch (--recreate)", key="idx_recreate")
prune = st.checkbox("Delete products that are no longer in the CSV (--prune)", key="idx_prune")
go, sample = st.columns(2)
target = None
if go.button("Index catalogue", type="primary", key="idx_go"):
    try:
        target = indexing_panel.saved_upload(uploaded, config) if uploaded is not None else (Path(csv_path) if csv_path else None)
    except OSError as exc:  # a full or read-only disk
        st.error(f"The uploaded CSV cannot be saved under the data folder: {md(exc.strerror or exc)}")
        st.stop()
    if target is None:
        st.error("Give the path of a catalogue CSV on this machine, or upload one.")
    elif uploaded is not None and not images_dir:
        st.warning("No images folder given for the uploaded CSV: its products are indexed from their text only.")
if sample.button("Index the bundled sample catalogue", key="idx_sample"):
    target, images_dir = ensure_sample(), str(SAMPLE_IMAGES)
if target is not None and indexing_panel.run_indexing(target, Path(images_dir) if images_dir else None, config, store,
                                          recreate, prune) is not None:
    st.rerun()
if st.session_state.get("last_report"):
    indexing_panel.show_report(st.session_state["last_report"])

st.subheader("Near-duplicates")
threshold = st.slider("Similarity at or above", 0.80, 1.0, 0.95, 0.005, key="dup_threshold")
if meta and st.button("Find near-duplicates", key="dup_go"):
    try:
        st.session_state["dup_groups"] = near_duplicates(store, threshold)
    except LensError as exc:
        st.error(md(exc))
groups = st.session_state.get("dup_groups")
if groups is not None and not groups:
    st.success(f"No near-duplicate photos at {threshold:.3f}.")
for group in groups or []:
    with st.expander(f"{len(group.product_ids)} products: {md(', '.join(group.product_ids))}", expanded=True):
        st.caption(" · ".join(f"{md(a)} \\~ {md(b)}: {s:.3f}" for a, b, s in group.pairs))
        try:
            members = get_products(store, group.product_ids)
        except LensError as exc:
            st.error(md(exc))
            break
        result_grid.product_grid(members, config, lambda r, k: None, columns=6, key="dup", show_scores=False)
