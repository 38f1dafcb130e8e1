"""`python -m core index` while another process owns the embedded index is refused before any model loads; a run
whose model fails to load gives the lock back at once, in the same process; its progress bar is the CLI's one."""

from __future__ import annotations

import os
import subprocess
import sys

from core.cli import main
from core.common.locks import FileLock
from tests.conftest import ROOT, write_catalog


def test_index_is_refused_before_the_model_loader_is_called(settings, tmp_path, monkeypatch, capsys):
    import core.models.embedder

    loads = []

    def loader(*args, **kwargs):
        loads.append(args)
        raise core.models.embedder.ModelLoadError("the model loader was called")

    monkeypatch.setattr(core.models.embedder, "load_embedder", loader)
    catalog = write_catalog(tmp_path / "cat", images=False)
    owner = FileLock(settings.data_dir / f".{settings.collection}.lock")
    owner.acquire()  # flock conflicts between two open files even in one process: this is "the app"
    try:
        assert main(["index", "--catalog", str(catalog)]) == 2
    finally:
        owner.release()
    err = capsys.readouterr().err
    assert loads == []
    assert "is open in another process" in err and f"pid {os.getpid()}" in err


def test_a_running_owner_process_makes_index_refuse_before_a_missing_model_is_noticed(settings, tmp_path):
    """LENS_MODEL names a folder that does not exist: loading it first would say so instead of naming the owner."""
    catalog = write_catalog(tmp_path / "cat", images=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT), LENS_DATA_DIR=str(settings.data_dir),
               LENS_MODEL=str(tmp_path / "no-such-model"), LENS_DEVICE="cpu")
    lock = settings.data_dir / f".{settings.collection}.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from core.common.locks import FileLock; "
                               f"lock = FileLock({str(lock)!r}); lock.acquire(); print('held', flush=True); sys.stdin.read()"],
                              cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    index = [sys.executable, "-m", "core", "index", "--catalog", str(catalog)]
    try:
        assert holder.stdout.readline() == "held\n"  # the owner holds the lock from here on
        refused = subprocess.run(index, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: the index at ") and f"pid {holder.pid}" in refused.stderr
    assert "no-such-model" not in refused.stderr and "Traceback" not in refused.stderr

    # with the owner gone, the same command gets as far as the model, which is what would have failed first
    after = subprocess.run(index, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert after.returncode == 2 and "no-such-model" in after.stderr and "another process" not in after.stderr


def _failing_loader(monkeypatch) -> None:
    import core.models.embedder

    def loader(*args, **kwargs):
        raise core.models.embedder.ModelLoadError("no such model")

    monkeypatch.setattr(core.models.embedder, "load_embedder", loader)


def test_a_model_that_fails_to_load_gives_the_lock_back_in_the_same_process(settings, tmp_path, monkeypatch, capsys):
    """The store is kept alive here, so its lock cannot be given back by garbage collection: only by the run."""
    import core.index.store

    _failing_loader(monkeypatch)
    opened = []
    real_open = core.index.store.open_store
    monkeypatch.setattr(core.index.store, "open_store", lambda *a, **k: opened.append(real_open(*a, **k)) or opened[-1])
    catalog = write_catalog(tmp_path / "cat", images=False)
    assert main(["index", "--catalog", str(catalog)]) == 2
    assert "no such model" in capsys.readouterr().err
    [store] = opened
    again = FileLock(settings.data_dir / f".{settings.collection}.lock")
    again.acquire()  # LockBusy if the failed run still held it
    again.release()
    assert main(["index", "--catalog", str(catalog)]) == 2  # and a second run is not refused as 'in use'
    assert "another process" not in capsys.readouterr().err and len(opened) == 2 and store is opened[0]


def test_index_moves_the_clis_progress_bar(settings, tmp_path, monkeypatch, capsys):
    import core.cli.index

    bars = []
    real_bar = core.cli.index.progress_bar

    def recording(desc: str, unit: str = "product"):
        bar, progress = real_bar(desc, unit)
        bars.append((desc, bar))
        return bar, progress

    monkeypatch.setattr(core.cli.index, "progress_bar", recording)
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog), "--images", str(catalog.parent / "images")]) == 0
    assert [(desc, bar.n, bar.total) for desc, bar in bars] == [("indexing", 6, 6)]
