"""The indexing panel: first-run notice, indexing with progress, the report, uploads, index status labels."""

from __future__ import annotations

import logging
import time

import pandas as pd
import streamlit as st

from app import resources
from core.insights.audit_decisions import AuditDecisions
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
        if st.button(SAMPLE_BUTTON, key=f"{key}-sample", type="primary"):
            from core.ingest.sample import SAMPLE_IMAGES, ensure_sample

            if run_indexing(ensure_sample(), SAMPLE_IMAGES, config, store) is not None:
                st.rerun()
    return meta


SAMPLE_BUTTON = "Index the sample catalogue"


def run_indexing(csv_path, images_dir, config: Settings, store: ProductStore, recreate=False, prune=False,
                 shown_name: str | None = None, note: str | None = None, *, format: str = "auto",
                 columns: dict[str, str] | None = None, photos_zip=None):
    """Index with a progress bar on screen at once, saying each step (the zip, the model, the indexer's stages)
    until the indexer's callback counts products embedded; keep the summary. None on failure.

    Every run replaces the last report, so a failed run never leaves an older run's counts on the page.
    shown_name stands for csv_path in messages (an upload's own name, not where the server saved it);
    note is added to the report's warnings when the run succeeds. format and columns are the mapping step's
    choice. photos_zip, an uploaded zip of photos, is extracted into images_dir first, under the same lock:
    a run in another tab never reads a photos folder while it is being replaced.
    """
    from core.ingest.fetch import fetcher_for
    from core.index.indexer import index_catalog
    from core.ingest.catalog import check_inputs

    def message(exc: Exception) -> str:
        text = str(exc)
        return text.replace(str(csv_path), shown_name) if shown_name else text

    lock = resources.indexing_lock(str(config.data_dir))
    if not lock.acquire(blocking=False):
        st.warning("Indexing is already running (in this or another browser tab); wait for it to finish.")
        return None
    st.session_state.pop("last_report", None)
    bar, fetcher, photos, zip_s = None, None, None, 0.0
    try:
        # At once, before anything slow: each step says what it is doing until the first product is embedded.
        bar = st.progress(0.0, text=STAGE_TEXT["zip" if photos_zip is not None else "model"])
        if photos_zip is not None:
            t = time.perf_counter()
            photos = extract_upload(photos_zip, images_dir)
            zip_s = time.perf_counter() - t
        check_inputs(csv_path, images_dir)  # a wrong path fails at once, before the model loads
        bar.progress(0.0, text=STAGE_TEXT["model"])
        t = time.perf_counter()
        embedder = resources.embedder_for(config)
        model_s = time.perf_counter() - t

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Embedded {done} of {total} changed products")

        def stage(name: str) -> None:
            if name in STAGE_TEXT:
                bar.progress(0.0 if name != "publish" else 1.0, text=STAGE_TEXT[name])

        fetcher = fetcher_for(config)  # photos behind http(s) URLs, cached under the data dir
        report = index_catalog(csv_path, images_dir, embedder, store, batch_size=config.batch_size,
                               recreate=recreate, prune=prune, max_pixels=config.max_pixels, progress=progress,
                               format=format, columns=columns or None, fetcher=fetcher,
                               relabel=AuditDecisions(config.data_dir).relabeller(), stage=stage)
        report.add_stage_before("model", model_s)  # part of what the user waited for (the first run's most)
        if photos_zip is not None:
            report.add_stage_before("zip", zip_s)
    except LensError as exc:
        if bar is not None:
            bar.empty()
        st.error(md(message(exc)))
        return None
    except Exception as exc:  # a bug or an engine failure: a message and the server log, never a page traceback
        logging.getLogger(__name__).exception("indexing failed")
        if bar is not None:
            bar.empty()
        st.error(md(f"Indexing stopped by an unexpected error ({type(exc).__name__}: {message(exc)}). Everything "
                    "embedded before it is saved: run it again to resume. The details are in the server's log."))
        return None
    finally:
        if fetcher is not None:
            fetcher.close()
        lock.release()
    summary = report.as_dict()
    if note:
        summary["warnings"] = [note, *summary["warnings"]]
    if photos is not None:
        summary["photos"] = {"name": photos_zip.name, "extracted": photos.extracted,
                             "skipped": [list(s) for s in photos.skipped]}
    st.session_state["last_report"] = summary
    return report


# What the progress bar says before the first product is embedded (index_catalog's stages, and the steps before it).
STAGE_TEXT = {"zip": "Extracting the photos zip…", "model": "Loading the model…",
              "read": "Reading the catalogue…", "plan": "Comparing the catalogue with the index…",
              "prune": "Deleting products no longer in the catalogue…", "publish": "Saving the index…"}


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


MAX_UPLOAD_NAME_BYTES = 100  # leaves room for atomic_write's ".<name>.<pid>.<thread>.tmp" under 255 bytes


def upload_name(name: str, default: str = "upload.csv") -> str:
    """A browser-sent file name as a safe name for a file in the uploads folder.

    The name is the client's to choose: it may be empty, ".", "..", a path, or longer than a file system
    allows. Keep the last path part, replace anything but letters, digits, "_", "-", "." and spaces, strip
    leading dots (no hidden files, never "." or ".."), and cut it to MAX_UPLOAD_NAME_BYTES keeping the suffix.
    """
    import re

    base = re.split(r"[/\\]", name or "")[-1]
    safe = re.sub(r"[^\w. -]", "_", base).strip(" .")
    stem, dot, suffix = safe.rpartition(".")
    if not dot or not stem or len(suffix) > 10:
        stem, suffix = safe, ""
    suffix = f".{suffix}" if suffix else ""
    room = MAX_UPLOAD_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{stem}{suffix}" if stem else default


def saved_upload(uploaded, config: Settings, folder=None):
    """Keep an uploaded catalogue under the data dir (or folder) so its rows can be re-read; returns its path.

    Written in chunks from the upload, never copied whole; over the catalogue limit it is a CatalogError and
    nothing is kept.
    """
    from pathlib import Path

    from core.ingest.uploads import CATALOGUE, save_upload

    path = Path(folder or Path(config.data_dir) / "uploads") / upload_name(uploaded.name)
    return save_upload(uploaded, path, CATALOGUE, uploaded.name)


def photos_folder(csv_name: str, config: Settings):
    """Where the photos zip uploaded with a CSV goes: uploads/<the CSV's safe name>-photos/, one per catalogue."""
    from pathlib import Path

    name = upload_name(csv_name)
    return Path(config.data_dir) / "uploads" / f"{Path(name).stem or name}-photos"


def extract_upload(photos_zip, target):
    """Extract a zip's photos (an upload, or a zip's path on the server) into target, replacing what an earlier
    zip put there; the report.

    The zip is streamed into a fresh folder beside target and swapped in only when it is complete: a bomb, a
    broken zip or an upload over the zip limit (CatalogError) leaves the earlier photos as they were and nothing new.
    """
    import shutil
    import uuid
    from pathlib import Path

    from core.common.errors import CatalogError
    from core.ingest.uploads import PHOTOS_ZIP
    from core.ingest.zip_import import extract_photos

    target = Path(target)
    fresh = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.new")
    try:
        if hasattr(photos_zip, "seek"):  # an upload, read again from its start
            PHOTOS_ZIP.check_size(photos_zip.name, photos_zip.size)
            photos_zip.seek(0)
        report = extract_photos(photos_zip, fresh)
    except CatalogError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise CatalogError(f"The photos zip {photos_zip.name} was not imported: {exc}") from None
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return report


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
    from pathlib import Path

    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name
