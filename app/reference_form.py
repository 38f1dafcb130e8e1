"""The Gaps page's form that adds (or updates) a reference catalogue, indexed through the app's one indexing runner
and upload saver, and the report of the last one added."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import column_mapping_panel, indexing_panel, indexing_runner, references, upload_panel
from app.column_mapping_panel import MappingChoice
from app.indexing_runner import Job, Tools
from app.upload_panel import PhotosChoice
from app.upload_saver import SavedInputs, save_inputs
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md

ADDED = "gaps_added"  # the session-state key of the last add's summary, shown once after its rerun


def reference_uploads(config: Settings, name: str) -> Path:
    """One folder per reference, uploads/references/<name>/ (its CSV, and photos/ for its zip): never where our
    own uploaded catalogue or another reference lives (names cannot contain '/', so no two share a folder)."""
    return Path(config.data_dir) / "uploads" / "references" / name


def add_form(config: Settings, has_any: bool) -> None:
    """Add (or update) a reference catalogue: a name, a catalogue file (photos as a zip, a folder or .zip on this
    server, or URLs in the feed)."""
    from core.insights.reference import check_name

    with st.expander("Add a reference catalogue", expanded=not has_any, icon=":material/add:"):
        st.caption("A competitor's or supplier's catalogue, matched against ours with the same model. Adding a "
                   "name that exists updates it.")
        name = st.text_input("Name", key="gaps_new_name", placeholder="e.g. competitor-a",
                             help="Lower-case letters, digits, '-' and '_'")
        uploaded = upload_panel.catalogue_uploader(st, "Their catalogue (.csv, .tsv or .txt)", "gaps_upload")
        photos = upload_panel.photos_picker("gaps_photos_from", "gaps_photos_path", "gaps_photos",
                                            "Their photos' folder or .zip on this server (optional: not needed when "
                                            "the feed's image column holds http(s) URLs)")
        choice = column_mapping_panel.panel(uploaded, "") if uploaded is not None else None
        if not st.button("Add and index", type="primary", key="gaps_add"):
            return
        try:
            name = check_name(name.strip())
        except LensError as exc:
            st.error(md(exc))
            return
        if uploaded is None:
            st.error("Upload the reference catalogue's CSV first.")
            return
        if choice is not None and not choice.ready:
            return  # the mapping step above says what to fix
        if index_reference(config, name, uploaded, photos, choice):
            st.session_state["gaps_reference"] = name
            st.rerun()


def index_reference(config: Settings, name: str, uploaded, photos: PhotosChoice, choice: MappingChoice | None) -> bool:
    """Save the upload (and extract its photos) to the reference's own folder (reference_uploads), then
    add_reference, through the indexing runner; errors shown. A zip chosen but never received (the browser refuses
    one over the limit) is an error before anything is written."""
    folder = reference_uploads(config, name)

    def index(saved: SavedInputs, tools: Tools):
        from core.insights.reference import add_reference

        return add_reference(config, name, saved.catalogue, saved.images_dir, tools.embedder,
                             format=choice.format if choice else "auto",
                             columns=(choice.columns or None) if choice else None, fetcher=tools.fetcher,
                             progress=tools.progress, stage=tools.stage)

    def said(message: str) -> str:  # a path under the data folder is ours, not the user's
        return f"{name} was not added: {message}".replace(str(Path(config.data_dir)), "the data folder")

    job = Job(lambda: save_inputs(config, uploaded, photos, folder=folder, photos_to=folder / "photos"), index, ADDED,
              embedded="Embedded {done} of {total} of their products", said=said, extra={"reference": name})
    added = indexing_runner.run(config, job) is not None
    if added:
        references.forget_listing()
    return added


def added_note() -> None:
    """What the last add indexed, as the Catalog page reports a run: counts, format and columns, the photos zip,
    every failed row (shown once, after its rerun)."""
    report = st.session_state.pop(ADDED, None)
    if report:
        st.success(f"The reference catalogue {md(report['reference'])} is indexed.")
        indexing_panel.show_report(report)
