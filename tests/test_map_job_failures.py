"""The background map fit's failure paths (review of issue 19, map items): a finish that cannot lay the result
out, a data dir that cannot be written, a numba cache that cannot be made; each said once, never a traceback and
never repeated on every later run. Fits here are hand-made (PCA only), so no UMAP kernels are compiled."""

from __future__ import annotations

import io
import os
import json
import time
from pathlib import Path

import joblib
import pytest
import numpy as np

from core.map import job as map_job
from core.map.build import FitSample
from core.map.projector import Projector
from tests.helpers.map_points import DIM, typed_points


def done_job(folder, collection: str, kind: str, dim: int, count: int = 40):
    """A job folder as a worker leaves it: DONE, with a projector fitted (PCA only) on `dim`-d vectors."""
    from sklearn.decomposition import PCA

    job = map_job.job_dir(folder, collection, kind)
    job.mkdir(parents=True)
    matrix = np.random.default_rng(0).normal(size=(count, dim)).astype(np.float32)
    projector = Projector()
    projector.pca = PCA(n_components=4).fit(matrix)
    projector.train = projector.pca.transform(matrix).astype(np.float32)
    projector.layout = np.random.default_rng(1).normal(size=(count, 2)).astype(np.float32)
    buf = io.BytesIO()
    joblib.dump(projector, buf)
    (job / "projector.joblib").write_bytes(buf.getvalue())
    ids = [f"p{i}" for i in range(count)]
    (job / "sample.json").write_text(json.dumps({"points": ids, "sources": ["image"] * count,
                                                 "fingerprints": [f"f{i}" for i in range(count)]}))
    np.save(job / "sample.npy", matrix)
    map_job.write_status(job, map_job.FitState(map_job.DONE, "fitted", time.time(), False, products=count))
    return job


def test_a_fit_on_vectors_of_another_size_fails_once_with_the_reason_not_on_every_run(tmp_path):
    """The index was rebuilt with another model (16-d) while the fit ran on 8-d vectors: finish says so and
    marks the job FAILED, so the next run does not lay it out (and crash) again."""
    from core.index.store import EdgeStore

    folder = tmp_path / "data"
    store = EdgeStore(folder)
    try:
        store.ensure("hand-made", DIM)
        store.upsert(typed_points(40))
        done_job(folder, "products", "image", dim=8)
        assert map_job.finish(store, folder, "products", "image") is None
        fit = map_job.fit_state(folder, "products", "image")
        assert fit.state == map_job.FAILED
        assert fit.message == ("its result could not be laid out (the index was rebuilt with other vectors "
                               "(16 numbers each, the fit had 8) while UMAP was fitted: compute the map again)")
        assert map_job.finish(store, folder, "products", "image") is None  # a later run: nothing to repeat
    finally:
        store.close()


def test_a_data_dir_where_the_job_folder_cannot_be_made_says_so_not_a_traceback(tmp_path):
    """Tests run as root (chmod stops nothing): a regular file where the maps folder must be. Starting the fit
    is a LensError the page shows; reading the fit's state answers 'none', whatever the data dir is."""
    from core.common.errors import LensError
    from core.map.build import compute_map
    from core.index.store import EdgeStore

    folder = tmp_path / "data"
    store = EdgeStore(folder)
    try:
        store.ensure("hand-made", DIM)
        store.upsert(typed_points(40))
        (folder / "maps").write_text("not a folder")
        try:
            compute_map(store, folder, "products", start_fit=map_job.starter(folder, "products", "image",
                                                                              tmp_path / "numba"))
        except LensError as exc:
            message = str(exc)
        assert message.startswith("the UMAP fit could not start: ") and message.endswith("(Not a directory)")
        assert map_job.fit_state(folder, "products", "image") is None
    finally:
        store.close()


def test_a_lock_file_that_cannot_be_opened_for_writing_does_not_break_the_fits_status(tmp_path):
    """_worker_alive opened worker.lock read-write: on a read-only mount (EROFS) or where it is not a file, every
    poll of the page raised. A folder in its place stands for both (root may write anywhere)."""
    job = map_job.job_dir(tmp_path, "products", "image")
    (job / "worker.lock").mkdir(parents=True)
    map_job.write_status(job, map_job.FitState(map_job.RUNNING, "waiting", time.time(), False, pid=1))
    fit = map_job.fit_state(tmp_path, "products", "image")
    assert fit.state == map_job.FAILED and fit.message == map_job.STOPPED


def test_a_numba_cache_that_cannot_be_made_falls_back_to_a_temporary_one_with_a_note(tmp_path):
    """No home or a read-only one: the fit still runs, its kernels in a temporary folder (said on stderr)."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tests.conftest import ROOT

    (tmp_path / "home").write_text("a file where the cache's parent must be")
    wanted = tmp_path / "home" / "numba"
    code = ("import sys; from pathlib import Path; from core.map.projector import use_numba_cache; "
            "import os; print(use_numba_cache(Path(sys.argv[1]))); print(os.environ['NUMBA_CACHE_DIR'])")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-c", code, str(wanted)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    fallback = str(Path(tempfile.gettempdir()) / f"catalog-lens-numba-{os.getuid()}")
    assert done.stdout.splitlines() == [fallback, fallback]
    assert done.stderr == (f"note: numba's cache {wanted} cannot be made (Not a directory); UMAP's kernels are "
                           f"cached in {fallback} instead (set LENS_NUMBA_CACHE_DIR to a writable folder)\n")


def test_a_compiled_mark_that_cannot_be_written_is_no_failure(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder must be")
    map_job.note_compiled(tmp_path / "cache")
    assert not map_job.compiled_before(tmp_path / "cache")


def test_a_users_own_numba_cache_dir_is_kept_unless_lens_names_one(tmp_path):
    from core.common.config import Settings, numba_cache_dir

    own, lens = tmp_path / "own", tmp_path / "lens"
    assert numba_cache_dir({"NUMBA_CACHE_DIR": str(own)}) == own
    assert Settings.from_env({"NUMBA_CACHE_DIR": str(own)}).numba_cache_dir == own
    assert Settings.from_env({"NUMBA_CACHE_DIR": str(own), "LENS_NUMBA_CACHE_DIR": str(lens)}).numba_cache_dir == lens


def test_a_refit_cannot_start_while_another_session_finishes_and_a_finish_clears_only_its_own_job(tmp_path):
    """Session A finishes the fit (its progress is the moment it is reading the job); session B's refit then must
    not start: it would unlink the result and rewrite the sample mid-read, and A's clear would delete B's job."""
    from core.index.store import EdgeStore

    folder = tmp_path / "data"
    store = EdgeStore(folder)
    try:
        store.ensure("hand-made", DIM)
        store.upsert(typed_points(40))
        job = done_job(folder, "products", "image", dim=DIM)
        sample = FitSample([f"p{i}" for i in range(40)], ["image"] * 40, [f"f{i}" for i in range(40)],
                           np.load(job / "sample.npy"))
        refits = []

        def while_finishing(stage, fraction):
            if not refits:
                refits.append(map_job.start_fit(folder, "products", "image", sample, tmp_path / "numba",
                                                str(tmp_path / "gate")))

        try:
            assert map_job.finish(store, folder, "products", "image", progress=while_finishing).method == "umap"
        finally:
            while map_job.STARTED:  # a refit started (without the fix) waits at the gate: stop it
                map_job.STARTED.popitem()[1].kill()
        assert refits == [False]
        assert map_job.fit_state(folder, "products", "image") is None  # A's job cleared, nothing else started
    finally:
        store.close()


def test_clearing_an_older_job_leaves_a_newer_one(tmp_path):
    job = map_job.job_dir(tmp_path, "products", "image")
    job.mkdir(parents=True)
    map_job.write_status(job, map_job.FitState(map_job.RUNNING, "starting", time.time(), False, job="new"))
    (job / "sample.npy").write_bytes(b"the new job's sample")
    map_job.clear(job, "old")
    assert map_job.read_status(job).job == "new" and (job / "sample.npy").exists()


def started_at_gate(tmp_path, folder):
    """A real worker started by this process on a hand-made job, held at its gate; returns its FitState."""
    from core.index.store import EdgeStore
    from tests.helpers.map_jobs import wait_for

    store = EdgeStore(folder)
    try:
        store.ensure("hand-made", DIM)
        store.upsert(typed_points(40))
        from core.map.build import compute_map

        compute_map(store, folder, "products", start_fit=map_job.starter(folder, "products", "image",
                                                                          tmp_path / "numba", str(tmp_path / "gate")))
    finally:
        store.close()
    return wait_for(lambda: (lambda f: f if f is not None and f.stage == "waiting" else None)(
        map_job.fit_state(folder, "products", "image")), what="worker waiting at the gate")


def test_a_stuck_fit_is_seen_and_stopped_then_can_start_again(tmp_path):
    import os
    import signal

    from tests.helpers.map_jobs import wait_for

    folder = tmp_path / "data"
    fit = started_at_gate(tmp_path, folder)
    worker = map_job.STARTED[map_job.job_dir(folder, "products", "image")]
    try:
        os.kill(fit.pid, signal.SIGSTOP)  # hung: no more heartbeats, its lock still held
        assert not fit.stuck(fit.beat + map_job.STUCK_SECONDS - 1)
        assert fit.stuck(fit.beat + map_job.STUCK_SECONDS + 1)
        assert map_job.stop(folder, "products", "image") is True
        wait_for(lambda: worker.returncode is not None, what="the reaper to collect the killed worker")
        stopped = map_job.fit_state(folder, "products", "image")
        assert stopped.state == map_job.FAILED and stopped.message == map_job.STOPPED
        assert map_job.stop(folder, "products", "image") is False
    finally:
        worker.kill()


def test_a_worker_whose_app_died_exits_instead_of_waiting_for_ever(tmp_path):
    """The app (here a python process) starts a worker held at its gate, then dies: the worker exits too."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.helpers.map_jobs import wait_for

    folder = tmp_path / "data"
    code = ("import sys; from pathlib import Path; sys.path.insert(0, '.'); "
            "from tests.test_map_job_failures import started_at_gate; "
            "print(started_at_gate(Path(sys.argv[1]), Path(sys.argv[2])).pid)")
    app = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(folder)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True)
    pid = int(app.stdout.split()[-1])
    try:
        fit = wait_for(lambda: (lambda f: f if not f.running else None)(
            map_job.fit_state(folder, "products", "image")), what="the orphaned worker's exit")
        assert fit.state == map_job.FAILED and fit.message == map_job.STOPPED
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_a_worker_that_ends_is_reaped_without_anyone_asking(tmp_path):
    """No zombie until the next Popen: a waiting thread collects the worker as soon as it ends."""
    import signal

    from tests.helpers.map_jobs import wait_for

    folder = tmp_path / "data"
    fit = started_at_gate(tmp_path, folder)
    worker = map_job.STARTED.pop(map_job.job_dir(folder, "products", "image"))
    os.kill(fit.pid, signal.SIGKILL)  # not through the Popen: only the reaper can see it end
    wait_for(lambda: worker.returncode is not None, what="the worker reaped")
    assert worker.returncode == -signal.SIGKILL


def test_the_numba_cache_is_read_in_one_place_and_core_map_uses_the_settings(indexed_settings, tmp_path,
                                                                               monkeypatch):
    """The default is written once (config.OPTIONS); `core map` hands UMAP the Settings' folder (a flag or a
    secret may differ from os.environ), not whatever the environment says."""
    import argparse
    import dataclasses

    import core.map.build
    from core.cli import map as cli
    from core.common.config import OPTIONS, Settings, numba_cache_dir

    default = Path(OPTIONS["LENS_NUMBA_CACHE_DIR"][0]).expanduser()
    assert numba_cache_dir({}) == default
    field = next(f for f in dataclasses.fields(Settings) if f.name == "numba_cache_dir")
    assert field.default_factory() == default and Settings.from_env({}).numba_cache_dir == default
    chosen = tmp_path / "from-settings"
    seen = {}

    class Stop(Exception):
        pass

    def compute_map(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(core.map.build, "compute_map", compute_map)
    with pytest.raises(Stop):
        cli.cmd_map(argparse.Namespace(vectors="image", refit=False),
                    indexed_settings.with_overrides(numba_cache_dir=chosen))
    assert seen["numba_cache"] == chosen
