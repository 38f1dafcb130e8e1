"""The indexing panel: the first-run notice, our catalogue indexed (through app.indexing_runner), the report, and the
index status labels."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from app import indexing_runner, resources, upload_panel
from app.column_mapping_panel import MappingChoice
from app.indexing_runner import Job, Tools
from app.upload_panel import PhotosChoice
from app.upload_saver import SavedInputs, save_inputs
from core.ingest import uploads
from core.insights.fixes import catalogue_fixes
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.index.store import ProductStore


def require_index(config: Settings, store: ProductStore, key: str, on_catalog_page: bool = False) -> dict | None:
    """Index metadata, or a first-run notice with the one-click sample index (then None)."""
    try:
        meta = store.meta()
    except LensError as exc:
        st.error(f"The index cannot be opened: {md(exc)}")
        return None
    if meta is None:
        own = "below" if on_catalog_page else "on the **Catalog** page"
        st.info("There is no index yet. Index the bundled sample catalogue (320 products) to try Catalog Lens, "
                f"or index your own catalogue {own}.")
        if st.button(SAMPLE_BUTTON, key=f"{key}-sample", type="primary") and \
                run_indexing(config, store, sample_inputs) is not None:
            st.rerun()
    return meta


SAMPLE_BUTTON = "Index the sample catalogue"


def run_indexing(config: Settings, store: ProductStore, inputs: Callable[[], SavedInputs], recreate: bool = False,
                 prune: bool = False, note: str | None = None, *, format: str = "auto",
                 columns: dict[str, str] | None = None) -> dict | None:
    """Index our catalogue through the app's one indexing runner (the progress bar, the lock, every error said);
    the summary, kept as "last_report", or None on failure.

    inputs saves what the run reads (called under the run's lock); note is added to the report's warnings when the
    run succeeds; format and columns are the mapping step's choice.
    """
    def index(saved: SavedInputs, tools: Tools):
        from core.index.indexer import index_catalog
        from core.insights.health import check_after_index

        fixes = catalogue_fixes(config.data_dir)  # the decisions as they stand when the run starts
        report = index_catalog(saved.catalogue, saved.images_dir, tools.embedder, store, batch_size=config.batch_size,
                               recreate=recreate, prune=prune, max_pixels=config.max_pixels, progress=tools.progress,
                               format=format, columns=columns or None, fetcher=tools.fetcher,
                               relabel=fixes, stage=tools.stage,
                               max_photos=config.max_photos, shared_photo_min=config.shared_photo_min)
        fixes.after_run(store)  # accepted enrichments the source settled retired; their filters kept
        # The run ends with the catalogue's health, the model already loaded; a failed check is a warning only.
        checked, line = check_after_index(store, config.data_dir, lambda: tools.embedder, "the Health page")
        (report.notes if checked is not None else report.warnings).append(line)
        return report

    return indexing_runner.run(config, Job(inputs, index, "last_report", note=note))


def index_clicked(config: Settings, store: ProductStore, uploaded, csv_path: str, upload_tab: bool,
                  photos: PhotosChoice, choice: MappingChoice | None, recreate: bool, prune: bool) -> bool:
    """The "Index catalogue" button: the upload (or the CSV path) and its photos indexed as the mapping step chose;
    True when it indexed. Nothing is chosen, or the mapping is not ready: said, and False."""
    st.session_state.pop("last_report", None)
    if choice is None and upload_tab:
        st.error(f"No catalogue file arrived, so nothing was indexed. Choose a .csv, .tsv or .txt above and wait until "
                 f"its name shows without an error: a file over {upload_panel.limit_mb(uploads.CATALOGUE):,} MB is "
                 f"refused by the browser.")
        return False
    if choice is None:
        st.error("Give the path of a catalogue CSV on this machine, or upload one.")
        return False
    if not choice.ready:  # the mapping step above already says what to fix
        return False
    note = None
    if uploaded is not None and not photos.given and not choice.photos_behind_urls:
        note = "No images folder was given for the uploaded CSV: its products are indexed from their text only."
    catalogue = uploaded if uploaded is not None else Path(csv_path)
    return run_indexing(config, store, lambda: save_inputs(config, catalogue, photos), recreate, prune, note,
                        format=choice.format, columns=choice.columns) is not None


def sample_inputs() -> SavedInputs:
    """The bundled sample catalogue (written on first use) and its photos."""
    from core.ingest.sample import SAMPLE_IMAGES, ensure_sample

    return SavedInputs(ensure_sample(), Path(SAMPLE_IMAGES))


def show_report(report: dict) -> None:
    """Counts; the format, mapping and column kinds used, with their notes; the photos zip; every failed row."""
    cols = st.columns(7)
    for col, (label, value) in zip(cols, [("Rows", report["total"]), ("Indexed", report["indexed"]),
                                          ("Updated", report["updated"]), ("Unchanged", report["unchanged"]),
                                          ("Text only", report["text_only"]), ("Failed", report["failed_rows"]),
                                          ("Duration", duration(report.get("seconds", 0.0)))]):
        col.metric(label, value)
    if report.get("stages"):
        st.caption(stages_line(report["stages"]))
    show_reasons(report)
    for line in catalog_lines(report.get("catalog") or {}):
        st.markdown(line)
    notes = (report.get("catalog") or {}).get("notes", [])
    if notes:  # they quote CSV values; a feed with a bad value in every row has up to fifty of them
        with st.expander(f"{len(notes)} note{'' if len(notes) == 1 else 's'} on the catalogue's columns",
                         expanded=len(notes) <= 3):
            for n in notes:
                st.caption(md(n))
    photos = report.get("photos")
    if photos:
        st.markdown(photos_line(photos))
        if photos["skipped"]:
            st.warning(f"{len(photos['skipped'])} file{'' if len(photos['skipped']) == 1 else 's'} in the zip "
                       "{} skipped: only photos (.jpg, .jpeg, .png, .webp, .gif) inside the zip's own folder are "
                       "imported.".format("was" if len(photos["skipped"]) == 1 else "were"))
            lines = skipped_lines(photos["skipped"])
            st.code("\n".join(lines), language=None, wrap_lines=True, height=300 if len(lines) > 12 else "content")
    for note in report.get("notes", []):  # shared photos (their file names), an older index given every photo
        st.caption(md(note))
    for warning in report["warnings"]:  # they quote CSV values (headers, ids)
        st.warning(md(warning))
    if report["failed"]:
        st.dataframe(pd.DataFrame(report["failed"]), hide_index=True, width="stretch")
    if report.get("failed_not_listed"):
        st.caption(f"… and {report['failed_not_listed']:,} more rows with a problem, counted above but not listed "
                   f"(the first {len(report['failed']):,} are).")


def duration(seconds: float) -> str:
    """'4.2 s', '3 min 05 s'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def stages_line(stages: dict) -> str:
    """'Where the time went: model 2.1 s · read 0.1 s · …', in the order they ran."""
    from core.index.indexer import WALL_STAGES

    parts = [f"{name} {duration(stages[name])}" for name in stages if name in WALL_STAGES]
    return "Where the time went: " + " · ".join(parts)


def show_reasons(report: dict) -> None:
    """Why products were embedded (new, photo or text changed, a setting changed): counts, then the products named.

    Product ids are catalogue data: shown in a table, never as Markdown.
    """
    reasons, listed = report.get("reasons") or {}, report.get("reembedded") or []
    if not reasons:
        return
    st.markdown("**Embedded because** " + " · ".join(f"{md(reason)}: {count:,}" for reason, count in reasons.items()))
    more = report.get("reembedded_not_listed", 0)
    label = f"Which products ({len(listed):,}{f' of {len(listed) + more:,}' if more else ''})"
    with st.expander(label, expanded=len(listed) <= 10):
        st.dataframe(pd.DataFrame({"product_id": [r["product_id"] for r in listed],
                                   "why": [", ".join(r["reasons"]) for r in listed]}), hide_index=True,
                     width="stretch")
        if more:
            st.caption(f"… and {more:,} more, counted by reason above (the first {len(listed):,} are named).")


def catalog_lines(catalog: dict) -> list[str]:
    """The report's format, column mapping and field kinds as Markdown lines, every catalogue value escaped.

    The mapping's columns are the catalogue's headers, hostile data like any other cell.
    """
    if not catalog:
        return []
    mapping = " · ".join(f"{md(role)} = {md(header)}" for role, header in catalog.get("mapping", {}).items())
    kinds = [f"**{label}** {md(', '.join(catalog.get(key, []))) or '–'}"
             for label, key in (("Filters", "filters"), ("Numbers", "numbers"), ("Text", "text"))]
    return [f"**Format** {md(catalog.get('format', '?'))} · **Columns** {mapping or '–'}", " · ".join(kinds)]


MAX_SKIPPED_SHOWN = 200


def skipped_lines(skipped: list) -> list[str]:
    """'name: reason' per skipped zip member, as plain text (a code block: a member's name is never markup);
    control characters in a name (a newline would fake a line) show as '?'."""
    import re

    lines = [re.sub(r"[\x00-\x1f\x7f]", "?", f"{name}: {reason}") for name, reason in skipped[:MAX_SKIPPED_SHOWN]]
    if len(skipped) > MAX_SKIPPED_SHOWN:
        lines.append(f"... and {len(skipped) - MAX_SKIPPED_SHOWN:,} more")
    return lines


def photos_line(photos: dict) -> str:
    n = photos["extracted"]
    return f"**Photos** {n} photo{'' if n == 1 else 's'} extracted from {md(photos['name'])}"


def device_label(config: Settings) -> str:
    """Where and how the model runs, e.g. 'cpu, onnx-int8' (loads it if needed); 'unavailable' when it cannot load."""
    try:
        embedder = resources.embedder_for(config)
    except LensError:
        return "unavailable"
    return f"{embedder.device}{' (fp16)' if embedder.device.startswith('cuda') else ''}, {embedder.runtime}"


def runtime_note(config: Settings) -> str:
    """Why the model does not run as LENS_RUNTIME asks (int8 failed its self-check...); '' when it does."""
    try:
        return resources.embedder_for(config).runtime_note
    except LensError:
        return ""


def when(timestamp: float | None) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(timestamp)) if timestamp else "never"


def short_model_name(name: str) -> str:
    """'clip-ViT-B-32' stays; a local folder shows its last two parts."""
    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name
