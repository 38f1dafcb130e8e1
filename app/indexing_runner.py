"""One indexing run started from the app (our catalogue, or a reference catalogue): one at a time per data dir, its
inputs saved and its photos zip extracted under that lock, a progress bar that says each step, every error shown as
a message (never a traceback), and its summary kept for the page."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from collections.abc import Callable

import streamlit as st

from app import resources
from app.upload_saver import SavedInputs, extract_upload
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md

ALREADY_RUNNING = "Indexing is already running (in this or another browser tab); wait for it to finish."
# What the progress bar says before the first product is embedded (index_catalog's stages, and the steps before it).
STAGE_TEXT = {"zip": "Extracting the photos zip…", "model": "Loading the model…",
              "read": "Reading the catalogue…", "plan": "Comparing the catalogue with the index…",
              "prune": "Deleting products no longer in the catalogue…",
              "keywords": "Adding the keyword index to products indexed before it…", "publish": "Saving the index…"}


@dataclass(frozen=True)
class Tools:
    """What the run hands the indexing itself: the model, the photo fetcher, and the progress bar's callbacks."""

    embedder: object
    fetcher: object
    progress: Callable[[int, int], None]
    stage: Callable[[str], None]


@dataclass
class Job:
    """One run as a page asks for it: what it reads, what it does, and how the page words it."""

    inputs: Callable[[], SavedInputs]  # called under the lock: saves an upload (CatalogError when it cannot)
    index: Callable[[SavedInputs, Tools], object]  # the indexing itself; returns the IndexReport
    keep_as: str  # the session-state key its summary is kept under (replaced by every run, failed ones too)
    embedded: str = "Embedded {done} of {total} changed products"  # the progress bar once products are embedded
    said: Callable[[str], str] = str  # an error's message as the page says it (e.g. "rival was not added: ...")
    note: str | None = None  # put first among the report's warnings when the run succeeds
    extra: dict = field(default_factory=dict)  # added to the summary


def run(config: Settings, job: Job) -> dict | None:
    """Run the job with a progress bar on screen, saying each step (the zip, the model, the indexer's stages) until
    the indexer counts products embedded; the summary, also kept under job.keep_as. None on failure, said.

    Every run replaces the last summary, so a failed run never leaves an older run's counts on the page. A photos
    zip is extracted under the same lock: a run in another tab never reads a photos folder while it is replaced.
    """
    from core.ingest.catalog import check_inputs
    from core.ingest.fetch import fetcher_for

    lock = resources.indexing_lock(str(config.data_dir))
    if not lock.acquire(blocking=False):
        st.warning(ALREADY_RUNNING)
        return None
    st.session_state.pop(job.keep_as, None)
    inputs, bar, fetcher, photos, zip_s = None, None, None, None, 0.0

    def message(exc: Exception) -> str:  # the upload's own name, not where the server saved it
        text = str(exc)
        return text.replace(str(inputs.catalogue), inputs.shown_name) if inputs and inputs.shown_name else text

    try:
        inputs = job.inputs()  # a chosen zip that never arrived stops here, before anything is written
        # At once, before anything slow: each step says what it is doing until the first product is embedded.
        bar = st.progress(0.0, text=STAGE_TEXT["zip" if inputs.photos_zip is not None else "model"])
        if inputs.photos_zip is not None:
            t = time.perf_counter()
            photos = extract_upload(inputs.photos_zip, inputs.images_dir)
            zip_s = time.perf_counter() - t
        check_inputs(inputs.catalogue, inputs.images_dir)  # a wrong path fails at once, before the model loads
        bar.progress(0.0, text=STAGE_TEXT["model"])
        t = time.perf_counter()
        embedder = resources.embedder_for(config)
        model_s = time.perf_counter() - t

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=job.embedded.format(done=done, total=total))

        def stage(name: str) -> None:
            if name in STAGE_TEXT:
                bar.progress(0.0 if name != "publish" else 1.0, text=STAGE_TEXT[name])

        fetcher = fetcher_for(config)  # photos behind http(s) URLs, cached under the data dir
        report = job.index(inputs, Tools(embedder, fetcher, progress, stage))
        report.add_stage_before("model", model_s)  # part of what the user waited for (the first run's most)
        if photos is not None:
            report.add_stage_before("zip", zip_s)
    except LensError as exc:
        if bar is not None:
            bar.empty()
        st.error(md(job.said(message(exc))))
        return None
    except Exception as exc:  # a bug or an engine failure: a message and the server log, never a page traceback
        logging.getLogger(__name__).exception("indexing failed")
        if bar is not None:
            bar.empty()
        st.error(md(job.said(f"Indexing stopped by an unexpected error ({type(exc).__name__}: {message(exc)}). "
                             "Everything embedded before it is saved: run it again to resume. The details are in "
                             "the server's log.")))
        return None
    finally:
        if fetcher is not None:
            fetcher.close()
        lock.release()
    summary = {**report.as_dict(), **job.extra}
    if job.note:
        summary["warnings"] = [job.note, *summary["warnings"]]
    if photos is not None:
        summary["photos"] = {"name": inputs.photos_zip.name, "extracted": photos.extracted,
                             "skipped": [list(s) for s in photos.skipped]}
    st.session_state[job.keep_as] = summary
    return summary
