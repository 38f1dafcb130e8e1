"""Catalog page: index status, indexing a catalogue with progress, and near-duplicate groups."""

import streamlit as st

from app import column_mapping_panel, duplicates_panel, indexing_panel, page, upload_panel
from core.common.errors import LensError
from core.common.safe_text import md
from core.models.onnx_runtime import describe_runtime

config, store = page.start("Catalog")

st.subheader("Index status")
meta = indexing_panel.require_index(config, store, "catalog", on_catalog_page=True)
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
               f"vectors written by {md(describe_runtime(meta))} · storage {md(config.backend_label)}")
    if note := indexing_panel.runtime_note(config):
        st.warning(md(f"LENS_RUNTIME={config.runtime}: {note}"))

st.subheader("Index a catalogue")
# Keyed and stateful, so the chosen tab survives the rerun after an indexing run.
from_path, from_upload = st.tabs(["CSV on this machine", "Upload a CSV"], key="idx_source", on_change="rerun")
csv_path = from_path.text_input("Catalogue CSV path", key="idx_csv", placeholder="/data/styles.csv")
uploaded = upload_panel.catalogue_uploader(from_upload, "Catalogue (.csv, .tsv or .txt)", "idx_upload")
photos = upload_panel.photos_picker("idx_photos_from", "idx_images", "idx_photos", "Images folder or .zip on this "
                                    "server (optional; default: the CSV's folder)")
# On the upload tab a path typed earlier on the other tab is not used: a file the browser refused (over its limit)
# must stop the run with an error, never index another catalogue instead.
upload_tab = st.session_state.get("idx_source") == "Upload a CSV"
choice = column_mapping_panel.panel(uploaded, "" if upload_tab else csv_path)  # the mapping step: format and columns
recreate = st.checkbox("Rebuild from scratch (--recreate)", key="idx_recreate")
prune = st.checkbox("Delete products that are no longer in the CSV (--prune)", key="idx_prune")
go, sample = st.columns(2)
if go.button("Index catalogue", type="primary", key="idx_go") and indexing_panel.index_clicked(
        config, store, uploaded, csv_path, upload_tab, photos, choice, recreate, prune):
    st.rerun()
# With no index yet, the first-run notice above already offers the sample: one button, not two.
if meta and sample.button(indexing_panel.SAMPLE_BUTTON, key="idx_sample") and indexing_panel.run_indexing(
        config, store, indexing_panel.sample_inputs, recreate, prune) is not None:
    st.rerun()
if st.session_state.get("last_report"):
    indexing_panel.show_report(st.session_state["last_report"])

st.subheader("Near-duplicates")
duplicates_panel.panel(config, store, meta)
