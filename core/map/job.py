"""The map's UMAP fit in a process of its own: started by the app, followed through files, finished by the app.

numba compiles UMAP's kernels holding the interpreter lock (55 s on 2 cores the first time on a machine), and
UMAP's optimiser holds it too: in a thread of the app's server that would freeze every session. So the app hands
the fit sample's vectors to `python -m core.map.job`, draws a PCA map at once (core.map.build.compute_map with
start_fit), and lays everyone out in the UMAP layout once the worker has written it (finish).

A job lives in LENS_DATA_DIR/maps/jobs/<collection>-<kind>/: the sample (sample.npy, sample.json), the worker's
settings (spec.json), its status (status.json), its result (projector.joblib) and its log. The worker holds
worker.lock for its whole life (the flock is taken by the app and inherited), so a killed or crashed worker is
seen at once, without trusting a pid or a clock; job.lock is held to start a fit and to finish one, never both.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from core.common.errors import LensError, StoreError
from core.common.files import atomic_write
from core.common.locks import FileLock, LockBusy

ROOT = Path(__file__).resolve().parents[2]
RUNNING, DONE, FAILED = "running", "done", "failed"
WORKER_NICENESS = 10
COMPILING_NOTE = "compiling UMAP's kernels: the first time on this machine"
STOPPED = ("the fitting process stopped before it finished (it was killed, or ran out of memory); "
           "the PCA map stays usable: compute the map again to retry")


@dataclass
class FitState:
    """Where a background fit stands, as the page shows it."""

    state: str           # RUNNING, DONE or FAILED
    stage: str           # what the worker is doing, for people
    started: float       # time.time() when the app started it
    compiling: bool      # numba's cache had no UMAP kernels: this fit compiles them
    message: str = ""    # why it failed
    products: int = 0    # products it fits
    pid: int = 0         # the worker's process id (0 until it has started)
    beat: float = 0.0    # time.time() of the worker's last sign of life (0: none yet)
    job: str = ""        # this fit's id: a finish clears only its own job's files

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def stuck(self, now: float | None = None) -> bool:
        """Running, yet no sign of life for STUCK_SECONDS (a hung worker: the page offers to stop it)."""
        now = time.time() if now is None else now
        return self.running and now - max(self.beat, self.started) > STUCK_SECONDS


HEARTBEAT_SECONDS = 5  # the worker stamps its status this often
STUCK_SECONDS = 180  # no stamp for this long: the fit is stuck
GATE_SECONDS = 600  # a test's gate (LENS_MAP_FIT_GATE) not opened by then: the fit fails
JOB_LOCK = "job.lock"  # held to start a fit and to finish one: neither while the other runs
STARTED: dict[Path, subprocess.Popen] = {}  # the workers this process started, by job folder (to stop one)


def job_dir(data_dir: Path, collection: str, kind: str) -> Path:
    return Path(data_dir) / "maps" / "jobs" / f"{collection}-{kind}"


# ---- numba's cache: was UMAP compiled on this machine? ----------------------------------------------------------

def compiled_mark(numba_cache: Path) -> Path:
    """A file that says UMAP's kernels were compiled into this cache, by these versions of UMAP, numba and Python."""
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "none"

    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Path(numba_cache) / f".umap-{version('umap-learn')}-numba-{version('numba')}-py{py}.compiled"


def compiled_before(numba_cache: Path) -> bool:
    return compiled_mark(numba_cache).exists()


def note_compiled(numba_cache: Path) -> None:
    """Leave the compiled mark, best effort: a mark that cannot be written only means the next fit says it compiles."""
    try:
        atomic_write(compiled_mark(numba_cache), b"")
    except OSError:
        pass


# ---- the app's side ---------------------------------------------------------------------------------------------

def starter(data_dir: Path, collection: str, kind: str, numba_cache: Path, gate: str = ""):
    """compute_map's start_fit for this map: start_fit(...) with the rest bound."""
    return lambda sample: start_fit(data_dir, collection, kind, sample, numba_cache, gate)


def start_fit(data_dir: Path, collection: str, kind: str, sample, numba_cache: Path, gate: str = "") -> bool:
    """Start a worker fitting UMAP on `sample` (core.map.build.FitSample); False when one is fitting this map
    already (its result is finished as any other: products it lacks are placed by their neighbours). A data dir
    that cannot be written is a StoreError, said on the page."""
    folder = job_dir(data_dir, collection, kind)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "worker.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only or full data dir, or a file where a folder must be
        raise StoreError(f"the UMAP fit could not start: {folder} cannot be written ({exc.strerror or exc})") \
            from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    job_lock = FileLock(folder / JOB_LOCK)
    try:
        job_lock.acquire()  # not while another session finishes this map: its files are being read
    except (LockBusy, OSError):
        os.close(fd)
        return False
    try:
        job = uuid.uuid4().hex
        for name in ("projector.joblib", "status.json"):
            (folder / name).unlink(missing_ok=True)
        atomic_write(folder / "sample.npy", _npy(sample.matrix))
        atomic_write(folder / "sample.json", json.dumps({"points": sample.points, "sources": sample.sources,
                                                         "fingerprints": sample.fingerprints}).encode())
        atomic_write(folder / "spec.json", json.dumps({"numba_cache": str(numba_cache), "gate": gate}).encode())
        write_status(folder, FitState(RUNNING, "starting", time.time(), not compiled_before(numba_cache),
                                      products=len(sample.points), job=job))
        with open(folder / "worker.log", "wb") as log:
            # The worker inherits our descriptor of worker.lock, and with it the lock: closing ours below leaves
            # the lock held (an flock belongs to the open file, which the worker keeps) until the worker exits.
            worker = subprocess.Popen([sys.executable, "-m", "core.map.job", str(folder), str(fd)], cwd=ROOT,
                                      pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      close_fds=True)
        STARTED[folder] = worker
        threading.Thread(target=worker.wait, name="map-worker-reaper", daemon=True).start()  # no zombie left
    except OSError as exc:
        _write_status_quietly(folder, FitState(FAILED, "not started", time.time(), False,
                                               f"the fit could not start: {exc}"))
        raise StoreError(f"the UMAP fit could not start: {folder} cannot be written ({exc.strerror or exc})") \
            from None
    finally:
        job_lock.release()
        os.close(fd)  # never LOCK_UN: that would unlock the worker's copy too
    return True


def fit_state(data_dir: Path, collection: str, kind: str) -> FitState | None:
    """The map's background fit, or None when none was started (or its result was finished)."""
    folder = job_dir(data_dir, collection, kind)
    state = read_status(folder)
    if state is None or not state.running or _worker_alive(folder):
        return state
    # Free lock, yet "running": it died, unless it finished between our two looks (it writes DONE, then exits).
    state = read_status(folder)
    if state is not None and state.running:
        state.state, state.message = FAILED, STOPPED
    return state


def finish(store, data_dir: Path, collection: str, kind: str, progress=None):
    """The UMAP map from a finished background fit (core.map.build.finish_map), stored, and the job cleared;
    None when no fit has finished, or another session is finishing it now."""
    import joblib

    from core.map.build import FitSample, finish_map

    folder = job_dir(data_dir, collection, kind)
    lock = FileLock(folder / JOB_LOCK)
    try:
        lock.acquire()
    except LockBusy:
        return None
    try:
        state = read_status(folder)
        if state is None or state.state != DONE:
            return None
        try:
            meta = json.loads((folder / "sample.json").read_text())
            sample = FitSample(meta["points"], meta["sources"], meta["fingerprints"], np.load(folder / "sample.npy"))
            projector = joblib.load(folder / "projector.joblib")
        except Exception as exc:  # a damaged job folder: said on the page, and the PCA map stays
            state.state, state.message = FAILED, f"its result could not be read ({type(exc).__name__}: {exc})"
            _write_status_quietly(folder, state)
            return None
        try:
            result = finish_map(store, data_dir, collection, kind, projector, sample, progress)
        except Exception as exc:  # never DONE again: a failure here would otherwise repeat on every later run
            reason = str(exc) if isinstance(exc, LensError) else f"{type(exc).__name__}: {exc}"
            state.state, state.message = FAILED, f"its result could not be laid out ({reason})"
            _write_status_quietly(folder, state)
            return None
        clear(folder, state.job)
        return result
    finally:
        lock.release()


def stop(data_dir: Path, collection: str, kind: str) -> bool:
    """Kill this map's worker (a stuck fit), by the Popen this process started or else the pid it wrote; the fit is
    then seen as stopped, and can be started again. False when no worker is alive."""
    folder = job_dir(data_dir, collection, kind)
    state = read_status(folder)
    if not _worker_alive(folder):
        return False
    worker = STARTED.pop(folder, None)
    try:
        if worker is not None:
            worker.kill()
            worker.wait(timeout=30)  # its lock is free once it is gone: the page's rerun sees it stopped
        elif state is not None and state.pid:
            os.kill(state.pid, 9)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return True


def clear(folder: Path, job: str) -> None:
    """Forget the files of job `job` (none of a newer job's; the lock files stay: another process may hold them)."""
    state = read_status(folder)
    if state is None or state.job != job:
        return
    for name in ("status.json", "projector.joblib", "sample.npy", "sample.json", "spec.json"):
        (folder / name).unlink(missing_ok=True)


def _worker_alive(folder: Path) -> bool:
    try:
        fd = os.open(folder / "worker.lock", os.O_RDONLY)  # read-only: a read-only data dir still answers
    except OSError:  # no lock file (no worker ever started), or none that can be opened
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # our own open file: closing it drops only the lock we may just have taken
    return False


def _npy(matrix: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def write_status(folder: Path, state: FitState) -> None:
    atomic_write(folder / "status.json", json.dumps(state.__dict__).encode())


def _write_status_quietly(folder: Path, state: FitState) -> None:
    """write_status where the failure being reported may be the disk's own: nothing more to say then."""
    try:
        write_status(folder, state)
    except OSError:
        pass


def read_status(folder: Path) -> FitState | None:
    try:
        return FitState(**json.loads((folder / "status.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


# ---- the worker ------------------------------------------------------------------------------------------------

def work(folder: Path) -> int:
    """Fit UMAP on the job's sample and write the fitted projector; every stage in status.json."""
    spec = json.loads((folder / "spec.json").read_text())
    state = read_status(folder) or FitState(RUNNING, "starting", time.time(), False)
    state.pid, state.beat = os.getpid(), time.time()
    writing = threading.Lock()

    def save() -> None:
        with writing:
            write_status(folder, state)

    def stage(name: str) -> None:
        state.stage = f"{name} ({COMPILING_NOTE})" if state.compiling and name != "waiting" else name
        save()

    _watch_parent_and_beat(state, save)

    try:
        os.nice(WORKER_NICENESS)  # a background job: the server's sessions (and the map's own page) come first
    except OSError:
        pass
    try:
        from core.map.projector import use_numba_cache

        cache = use_numba_cache(Path(spec["numba_cache"]))  # before anything imports numba
        state.compiling = not compiled_before(cache)
        if spec.get("gate"):
            stage("waiting")
            deadline = time.monotonic() + GATE_SECONDS
            while not Path(spec["gate"]).exists():  # a test holds the fit here (LENS_MAP_FIT_GATE)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"LENS_MAP_FIT_GATE ({spec['gate']}) was not opened within {GATE_SECONDS} s")
                time.sleep(0.05)
        from core.map.projector import Projector

        matrix = np.load(folder / "sample.npy")
        projector = Projector(cache)
        projector.fit(matrix, stage)
        import io

        import joblib

        buf = io.BytesIO()
        joblib.dump(projector, buf)
        atomic_write(folder / "projector.joblib", buf.getvalue())
        if state.compiling:
            note_compiled(cache)
        state.state, state.stage = DONE, "fitted"
        save()
        return 0
    except Exception as exc:  # said on the page; the PCA map stays
        state.state, state.message = FAILED, f"{type(exc).__name__}: {exc}"
        save()
        return 1


def _watch_parent_and_beat(state: FitState, save) -> None:
    """A daemon thread: the worker exits when the app that started it has died (nobody is left to finish the fit),
    and stamps a heartbeat in its status every HEARTBEAT_SECONDS, so the page can tell a stuck fit from a slow one."""
    parent = os.getppid()

    def watch() -> None:
        wake = threading.Event()
        while True:
            for _ in range(HEARTBEAT_SECONDS):
                wake.wait(1.0)
                if os.getppid() != parent:
                    os._exit(3)  # its status stays "running" with its lock free: the page says it stopped
            if state.running:
                state.beat = time.time()
                try:
                    save()
                except OSError:
                    pass

    threading.Thread(target=watch, name="map-worker-watch", daemon=True).start()


if __name__ == "__main__":
    # argv: the job folder, then the inherited descriptor of worker.lock (kept open, untouched, until exit).
    sys.exit(work(Path(sys.argv[1])))
