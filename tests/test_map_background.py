"""The Explore map's UMAP fit in a background process (issue 19, item 13): a PCA map on the page before the fit
ends, swapped for UMAP when it has; a killed fit said plainly with the PCA map kept; numba's kernels in one cache
per machine. The fit is held by LENS_MAP_FIT_GATE (a file the worker waits for), so the order is by events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.map import job as map_job
from core.common.config import Settings, numba_cache_dir
from core.map.build import compute_map
from core.map.storage import PREVIEW, UMAP, load_map
from core.common.safe_text import md
from tests.conftest import ROOT
from tests.helpers.apptest import start
from tests.helpers.map_jobs import FIT_SECONDS, fit_of, held_at_gate, wait_for

@pytest.fixture
def sample_settings(app_settings, tmp_path, monkeypatch):
    """A 40-product generated catalogue indexed with the tiny model (UMAP needs more than 16), no map yet; the
    background fit held until the test writes the gate file."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.ingest.sample import generate
    from core.index.store import EdgeStore

    catalog = generate(tmp_path / "sample", count=40)
    store = EdgeStore(app_settings.data_dir, app_settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(app_settings.model, "cpu"), store)
    store.close()
    monkeypatch.setenv("LENS_MAP_FIT_GATE", str(tmp_path / "gate"))
    yield app_settings
    stop_workers()


def stop_workers():
    """Kill the workers this test started, by their Popen: one started but not at the gate yet has no pid in its
    status, and would wait for ever (a failed test leaves none behind)."""
    while map_job.STARTED:
        _, worker = map_job.STARTED.popitem()
        worker.kill()
        worker.wait()


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_the_pca_map_is_drawn_before_the_umap_fit_ends_then_umap_replaces_it(sample_settings, tmp_path):
    at = start("pages/explore.py")
    assert [i.value for i in at.info] == ["There is no map for these vectors yet."]
    at.button(key="map_update").click().run()
    assert not at.exception and not at.error
    fit = wait_for(lambda: held_at_gate(sample_settings), what="worker waiting at the gate")
    # The fit has not ended (its process waits for the gate), and the page draws the PCA map, saying so.
    assert load_map(sample_settings.data_dir, sample_settings.collection) is None
    preview = load_map(sample_settings.data_dir, sample_settings.collection, preview=True)
    assert preview.method == PREVIEW and len(preview.product_ids) == 40
    assert [e.key for e in at.get("plotly_chart")] == ["map"]
    assert any(c.startswith("PCA map: a first look") for c in captions(at))
    assert any("UMAP is laying out 40 products in a background process" in c for c in captions(at))
    assert not [b for b in at.button if b.key == "map_update"]  # nothing to start twice
    assert fit.pid and fit.pid != os.getpid()  # fitted in a process of its own, not a thread of the server

    (tmp_path / "gate").write_text("go")
    wait_for(lambda: not fit_of(sample_settings).running, FIT_SECONDS, "end of the fit")
    at.run()  # what the page's one-second poll does once the fit has ended
    assert not at.exception and not at.error
    umap = load_map(sample_settings.data_dir, sample_settings.collection)
    assert umap.method == UMAP and sorted(umap.product_ids) == sorted(preview.product_ids)
    assert not np.allclose(umap.xy, preview.xy)
    assert [e.key for e in at.get("plotly_chart")] == ["map"]
    assert not [c for c in captions(at) if c.startswith("PCA map") or "background process" in c]
    assert fit_of(sample_settings) is None  # finished and cleared: a rerun does not lay it out again
    # numba's kernels went to the machine's cache, not to the data dir.
    assert map_job.compiled_before(sample_settings.numba_cache_dir)
    assert list(Path(sample_settings.numba_cache_dir).glob("umap_*/*.nbi"))
    assert not (sample_settings.data_dir / "numba-cache").exists()


def test_a_killed_fit_is_said_plainly_and_the_pca_map_stays(sample_settings, tmp_path):
    at = start("pages/explore.py")
    at.button(key="map_update").click().run()
    fit = wait_for(lambda: held_at_gate(sample_settings), what="worker waiting at the gate")
    os.kill(fit.pid, signal.SIGKILL)
    wait_for(lambda: not fit_of(sample_settings).running, what="the killed worker seen as stopped")
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [md(f"The UMAP map could not be fitted: {map_job.STOPPED}")]
    assert [e.key for e in at.get("plotly_chart")] == ["map"]  # the PCA map, still usable
    assert any(c.startswith("PCA map: a first look") for c in captions(at))
    at.button(key="map_update").click().run()  # tried again: a new worker, at the gate again
    again = wait_for(lambda: held_at_gate(sample_settings), what="a new worker at the gate")
    assert again.pid != fit.pid and not at.error
    os.kill(again.pid, signal.SIGKILL)


def test_a_second_catalogue_reuses_the_machines_compiled_kernels(tmp_path):
    """Two data dirs, one numba cache: the first fit may compile (first time on this machine), the second says it
    does not and adds nothing to the cache."""
    from core.index.store import EdgeStore
    from tests.helpers.map_points import DIM, typed_points

    cache = numba_cache_dir()

    def fit_in(folder: Path):
        store = EdgeStore(folder)
        try:
            store.ensure("hand-made", DIM)
            store.upsert(typed_points(60))
            m = compute_map(store, folder, "products", numba_cache=cache,
                            start_fit=map_job.starter(folder, "products", "image", cache))
            assert m.method == PREVIEW
            started = map_job.fit_state(folder, "products", "image")
            wait_for(lambda: not map_job.fit_state(folder, "products", "image").running, FIT_SECONDS, "end of fit")
            assert map_job.fit_state(folder, "products", "image").state == map_job.DONE
            assert map_job.finish(store, folder, "products", "image").method == UMAP
            return started
        finally:
            store.close()

    def umap_kernels():
        return {p: p.stat().st_mtime_ns for p in cache.glob("umap_*/*") if p.is_file()}

    fit_in(tmp_path / "first")
    files = umap_kernels()
    assert files
    second = fit_in(tmp_path / "second")
    assert second.compiling is False
    assert umap_kernels() == files


def test_the_suite_keeps_numbas_kernels_out_of_the_real_home_cache(numba_cache_for_tests):
    """Every test, server and map worker of this session compiles into one session folder, never ~/.cache."""
    assert numba_cache_dir() == numba_cache_for_tests
    assert Settings.from_env().numba_cache_dir == numba_cache_for_tests
    assert not numba_cache_for_tests.is_relative_to(Path("~/.cache").expanduser())


def test_the_numba_cache_is_one_folder_per_machine_whatever_the_data_dir(tmp_path):
    default = Path("~/.cache/catalog-lens/numba").expanduser()
    assert numba_cache_dir({}) == default
    assert Settings.from_env({"LENS_DATA_DIR": str(tmp_path / "a")}).numba_cache_dir == default
    assert Settings.from_env({"LENS_DATA_DIR": str(tmp_path / "b")}).numba_cache_dir == default
    chosen = tmp_path / "kernels"
    assert Settings.from_env({"LENS_NUMBA_CACHE_DIR": str(chosen)}).numba_cache_dir == chosen
    assert numba_cache_dir({"LENS_NUMBA_CACHE_DIR": str(chosen)}) == chosen


@pytest.mark.parametrize("numba_first", [False, True])
def test_use_numba_cache_points_numba_at_the_folder_imported_before_or_after(tmp_path, numba_first):
    """numba reads NUMBA_CACHE_DIR when imported: the worker sets it before; where numba is loaded already (the
    CLI, a test), its setting is changed too."""
    folder = tmp_path / "kernels"
    code = ("import sys; from pathlib import Path; " + ("import numba; " if numba_first else "") +
            "from core.map.projector import use_numba_cache; use_numba_cache(Path(sys.argv[1])); "
            "import numba; from numba.core.caching import UserProvidedCacheLocator as L; "
            "print(numba.config.CACHE_DIR); print(L(lambda: 0, 'core/map/projector.py')._cache_path)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    assert out[0] == str(folder) and out[1].startswith(str(folder) + os.sep)
    assert folder.is_dir()


def test_a_fit_that_fails_says_why_and_leaves_the_pca_map(tmp_path):
    """A worker that cannot read its sample (a damaged job folder) ends FAILED with the reason, not 'running'."""
    from core.index.store import EdgeStore
    from tests.helpers.map_points import DIM, typed_points

    folder = tmp_path / "data"
    store = EdgeStore(folder)
    try:
        store.ensure("hand-made", DIM)
        store.upsert(typed_points(40))
        gate = tmp_path / "gate"
        compute_map(store, folder, "products", start_fit=map_job.starter(folder, "products", "image",
                                                                          numba_cache_dir(), str(gate)))
        job = map_job.job_dir(folder, "products", "image")
        wait_for(lambda: (map_job.fit_state(folder, "products", "image") or map_job.FitState("", "", 0, False)).stage
                 == "waiting", what="worker waiting at the gate")
        (job / "sample.npy").write_bytes(b"not an array")
        gate.write_text("go")
        fit = wait_for(lambda: (lambda f: f if not f.running else None)(map_job.fit_state(folder, "products", "image")),
                       what="the fit's end")
        assert fit.state == map_job.FAILED and fit.message.startswith("ValueError: ")
        assert load_map(folder, "products", preview=True).method == PREVIEW
        assert map_job.finish(store, folder, "products", "image") is None and load_map(folder, "products") is None
    finally:
        store.close()


def test_a_stuck_fit_is_said_and_stopped_from_the_page_then_can_start_again(sample_settings, tmp_path):
    """A worker with no sign of life for STUCK_SECONDS (here: SIGSTOPped, its status stamped that long ago): the
    page says it is stuck and offers Stop, which kills it; the PCA map stays and Compute comes back."""
    at = start("pages/explore.py")
    at.button(key="map_update").click().run()
    fit = wait_for(lambda: held_at_gate(sample_settings), what="worker waiting at the gate")
    os.kill(fit.pid, signal.SIGSTOP)
    job = map_job.job_dir(sample_settings.data_dir, sample_settings.collection, "image")
    fit.started = fit.beat = time.time() - map_job.STUCK_SECONDS - 60
    map_job.write_status(job, fit)
    at.run()
    assert not at.exception
    assert len(at.warning) == 1 and at.warning[0].value.startswith("The UMAP fit looks stuck: its process has "
                                                                   "given no sign of life for ")
    at.button(key="map_fit_stop").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [md(f"The UMAP map could not be fitted: {map_job.STOPPED}")]
    assert [e.key for e in at.get("plotly_chart")] == ["map"]
    assert [b.key for b in at.button if b.key == "map_update"] == ["map_update"]


def test_a_session_that_computes_while_another_finishes_the_fit_is_told_so(sample_settings):
    """Another session holds the map's job lock (it is finishing a fit): Compute starts no second fit, and says
    why instead of leaving the PCA map with no word about UMAP."""
    from app.map_panel import ALREADY_FITTING
    from core.common.locks import FileLock

    at = start("pages/explore.py")
    job = map_job.job_dir(sample_settings.data_dir, sample_settings.collection, "image")
    job.mkdir(parents=True)
    with FileLock(job / map_job.JOB_LOCK):
        at.button(key="map_update").click().run()
    assert not at.exception and not at.error
    assert [i.value for i in at.info] == [ALREADY_FITTING]
    assert not map_job.STARTED and fit_of(sample_settings) is None
    assert [e.key for e in at.get("plotly_chart")] == ["map"]  # the PCA map, drawn all the same
