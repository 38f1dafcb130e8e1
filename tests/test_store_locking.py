"""One process owns the embedded index: others are refused before the engine touches a file, and read a published copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.common.errors import StoreError
from core.index.store import EdgeStore, StoredPoint, open_store, point_id

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import sys, time
    from core.index.store import EdgeStore, StoredPoint, point_id
    data_dir, batches, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    store = EdgeStore(data_dir)
    store.ensure("hand-made", 4)
    written = 0
    for b in range(batches):
        store.upsert([StoredPoint(point_id(f"{b}-{i}"), {"image": [1.0, b, i, 1.0], "text": [0.5, 1.0, b, i]},
                                  {"product_id": f"{b}-{i}", "colour": "Red" if i % 2 else "Blue"})
                      for i in range(20)])
        written += 20
        if b == 0:
            store.publish()
            open(ready, "w").write("ready")
        if b % 10 == 9:
            store.publish()
        time.sleep(0.1)
    store.update_meta(last_indexed=time.time())
    store.publish()
    open(ready + ".closing", "w").write("closing")
    store.close()
    print("WROTE", written)
""")

INTRUDER = textwrap.dedent("""
    import sys
    from core.common.errors import StoreError
    from core.index.store import EdgeStore
    try:
        EdgeStore(sys.argv[1]).count()
        print("OPENED")
    except StoreError as exc:
        print("REFUSED", exc)
""")


# `python -m core ...` that appends a line to the file named first after each batch of points the indexer has
# written and flushed: an outside signal that the run is part-way through its writes, for a kill to follow.
SIGNALLING_CLI = textwrap.dedent("""
    import runpy, sys, threading
    from core.index.store import EdgeStore
    written, upsert = sys.argv.pop(1), EdgeStore.upsert
    def signalled(self, points):
        upsert(self, points)
        with open(written, "a") as f:
            f.write(f"{len(points)}\\n")
        threading.Event().wait()  # never set: the run holds after its first batch until the test kills it
    EdgeStore.upsert = signalled
    runpy.run_module("core", run_name="__main__")
""")


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def _points(n: int, prefix: str = "p") -> list[StoredPoint]:
    return [StoredPoint(point_id(f"{prefix}{i}"), {"image": [1.0, i, 0.0, 1.0], "text": [0.0, 1.0, i, 1.0]},
                        {"product_id": f"{prefix}{i}", "colour": "Red"}) for i in range(n)]


def test_second_processes_are_refused_and_the_writer_loses_nothing(tmp_path):
    data_dir, ready = tmp_path / "data", tmp_path / "ready"
    closing = tmp_path / "ready.closing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), "60", str(ready)], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ready.exists() and writer.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    intruders, readers = [], []
    while writer.poll() is None:
        intruder = subprocess.run([sys.executable, "-c", INTRUDER, str(data_dir)], cwd=ROOT, env=_env(),
                                  capture_output=True, text=True).stdout
        if not closing.exists():  # still holding the index when the intruder finished: it must have been refused
            intruders.append(intruder)
        reader = subprocess.run([sys.executable, "-m", "core", "stats", "--json"], cwd=ROOT,
                                env=_env(LENS_DATA_DIR=str(data_dir)), capture_output=True, text=True)
        if not closing.exists():  # still holding the index when the reader finished: it must have read the copy
            readers.append(reader)
    out, err = writer.communicate()
    assert writer.returncode == 0, err
    assert out.split() == ["WROTE", "1200"]
    assert len(intruders) >= 2 and readers, "the writer finished before second processes could try"
    assert all(o.startswith("REFUSED the index at") and "open in another process (pid " in o for o in intruders)
    for r in readers:  # a read-only command during the writes reads a published copy, consistently
        assert r.returncode == 0, r.stderr
        assert "note: the index is open in another process: read its copy published" in r.stderr
        assert json.loads(r.stdout)["count"] % 20 == 0 and json.loads(r.stdout)["count"] >= 20
    store = EdgeStore(data_dir)
    assert store.count() == 1200
    hits = store.retrieve([point_id(f"{b}-{i}") for b in range(60) for i in range(20)])
    assert len(hits) == 1200
    store.close()


def test_a_refused_open_in_the_same_process_leaves_the_holder_working(tmp_path):
    holder = EdgeStore(tmp_path)
    holder.ensure("hand-made", 4)
    holder.upsert(_points(10))
    for _ in range(3):
        with pytest.raises(StoreError, match="open in another process"):
            EdgeStore(tmp_path).count()
    holder.upsert(_points(10, "q"))  # failed here with "Tracker journal ... is shorter than expected"
    assert holder.count() == 20
    holder.close()
    reopened = EdgeStore(tmp_path)
    assert reopened.count() == 20
    reopened.close()


def test_two_first_runs_on_a_fresh_data_dir_one_creates_the_other_is_told_why(tmp_path):
    first, second = EdgeStore(tmp_path), EdgeStore(tmp_path)
    first.ensure("hand-made", 4)
    with pytest.raises(StoreError, match="open in another process"):
        second.ensure("hand-made", 4, recreate=True)
    first.upsert(_points(5))
    first.close()
    assert second.count() == 5  # once the first has gone, the second may open it
    second.close()


def test_read_only_open_uses_the_live_index_when_free_and_the_snapshot_when_held(tmp_path, settings):
    holder = EdgeStore(settings.data_dir, settings.collection)
    holder.ensure("hand-made", 4)
    holder.upsert(_points(7))
    holder.update_meta(last_indexed=1.0)
    holder.publish()
    holder.upsert(_points(3, "late"))  # not yet published
    reader = open_store(settings, read_only=True)
    assert reader.read_only and reader.count() == 7 and "read its copy published" in reader.note
    with pytest.raises(StoreError, match="read-only copy"):
        reader.upsert(_points(1, "x"))
    reader.close()
    holder.close()
    live = open_store(settings, read_only=True)
    assert not live.read_only and live.count() == 10 and live.note == ""
    live.close()


def test_a_lock_file_that_cannot_be_made_is_reported_as_itself_not_as_a_busy_index(settings, monkeypatch):
    holder = EdgeStore(settings.data_dir, settings.collection)
    holder.ensure("hand-made", 4)
    holder.upsert(_points(3))
    holder.publish()  # a published copy to fall back on, were the failure mistaken for a busy index
    holder.close()
    lock = settings.data_dir / f".{settings.collection}.lock"
    lock.unlink()
    if os.geteuid() == 0:  # root creates files in a read-only folder: refuse the lock file's creation instead
        real_open = os.open

        def refusing_open(path, flags, *args):
            if Path(path) == lock:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr("core.common.locks.os.open", refusing_open)
    settings.data_dir.chmod(0o555)
    try:
        with pytest.raises(StoreError) as refused:
            open_store(settings, read_only=True)
    finally:
        settings.data_dir.chmod(0o755)
    assert "Permission denied" in str(refused.value) and "open in another process" not in str(refused.value)


def _published(tmp_path, n: int) -> EdgeStore:
    """A holder of a fresh index with n points, its copy published."""
    holder = EdgeStore(tmp_path)
    holder.ensure("hand-made", 4)
    holder.upsert(_points(n))
    holder.publish()
    return holder


def test_publishing_keeps_a_snapshot_that_is_being_read_and_removes_the_others(tmp_path):
    holder = _published(tmp_path, 2)
    reader = EdgeStore.snapshot_reader(tmp_path)
    first = reader.root.name
    holder.upsert(_points(4))
    holder.publish()
    holder.upsert(_points(6))
    holder.publish()
    names = sorted(p.name for p in holder.snapshots.iterdir() if p.is_dir())
    assert first in names and len(names) == 2  # the one being read, and the newest
    assert reader.count() == 2
    reader.close()
    holder.publish()
    assert len([p for p in holder.snapshots.iterdir() if p.is_dir()]) == 1
    holder.close()


def test_a_snapshot_copy_is_sparse_not_a_full_copy_of_preallocated_files(tmp_path):
    holder = _published(tmp_path, 50)
    snapshot = holder.snapshots / (holder.snapshots / "current").read_text()
    allocated = sum(f.stat().st_blocks * 512 for f in snapshot.rglob("*") if f.is_file())
    apparent = sum(f.stat().st_size for f in snapshot.rglob("*") if f.is_file())
    assert apparent > 50_000_000 and allocated < apparent / 10
    holder.close()


def _kill_then_resume(catalog, data, tiny_clip, written: Path) -> dict:
    """Kill -9 an `index` run held after its first batch of points is written, then rerun it; the rerun's report."""
    # torch, like the reference run it is compared with (auto would pick ONNX int8 on a CPU: other vectors)
    env = _env(LENS_DATA_DIR=str(data), LENS_MODEL=tiny_clip, LENS_DEVICE="cpu", LENS_BATCH_SIZE="2",
               LENS_RUNTIME="torch")
    args = ["index", "--catalog", str(catalog)]
    run = subprocess.Popen([sys.executable, "-c", SIGNALLING_CLI, str(written), *args], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and run.poll() is None:  # wait for the first batch to be written
        if written.exists() and written.read_text().endswith("\n"):
            break
        time.sleep(0.01)
    run.kill()  # the run is held inside its first signal: killed after batch 1, before any other is written
    run.wait()
    assert written.exists(), "the run wrote nothing before the deadline"
    assert run.returncode == -9, "the run finished before it could be killed"
    cmd = [sys.executable, "-m", "core", *args]
    resumed = subprocess.run(cmd + ["--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    return json.loads(resumed.stdout)


def test_kill_9_mid_index_frees_the_lock_and_the_rerun_matches_an_uninterrupted_run(tmp_path, tiny_clip, embedder):
    import numpy as np

    from core.index.indexer import index_catalog
    from tests.conftest import write_catalog

    rows = [(str(i), "Women", "Apparel", "Dress", "Dresses", c, "Party", f"Dress {i} in {c}")
            for i, c in enumerate(["Red", "Blue", "Brown", "Black", "Yellow", "White"] * 5)]
    catalog = write_catalog(tmp_path / "c", rows=rows)
    # The run signals its first written batch and then holds until killed: the kill always lands between the first
    # and the last batch, so the rerun finds some products written and writes the rest.
    data = tmp_path / "data"
    report = _kill_then_resume(catalog, data, tiny_clip, tmp_path / "written")
    assert report["indexed"] + report["unchanged"] == 30
    assert 0 < report["unchanged"] < 30, "the kill did not land between the first and the last batch"
    killed_and_resumed = EdgeStore(data)
    reference = EdgeStore(tmp_path / "reference")
    index_catalog(catalog, catalog.parent / "images", embedder, reference, batch_size=2)
    ids = [point_id(r[0]) for r in rows]
    got = {h.id: h for h in killed_and_resumed.retrieve(ids, with_vectors=True)}
    want = {h.id: h for h in reference.retrieve(ids, with_vectors=True)}
    assert set(got) == set(want) == set(ids)
    for pid in ids:
        for name in ("image", "text"):
            assert np.allclose(got[pid].vectors[name], want[pid].vectors[name], atol=1e-5)
        assert got[pid].payload["fingerprint"] == want[pid].payload["fingerprint"]
    killed_and_resumed.close()
    reference.close()


def test_writes_after_a_publish_or_a_recreate_mark_the_copy_out_of_date_again(tmp_path):
    holder = _published(tmp_path, 3)
    assert holder._snapshot_current()
    holder.overwrite_payload(point_id("p0"), {"product_id": "p0", "colour": "Blue"})
    holder.overwrite_payload(point_id("p1"), {"product_id": "p1", "colour": "Blue"})
    assert holder.meta()["dirty"] is True and not holder._snapshot_current()
    holder.publish()
    assert holder.meta()["dirty"] is False and holder._snapshot_current()
    holder.delete([point_id("p2")])
    assert holder.meta()["dirty"] is True
    holder.ensure("hand-made", 4, recreate=True)
    holder.upsert(_points(1))
    assert holder.meta()["dirty"] is True
    holder.close()


def test_publishing_with_nothing_written_refreshes_the_metadata_without_copying(tmp_path):
    holder = _published(tmp_path, 3)
    name = (holder.snapshots / "current").read_text()
    holder.update_meta(last_indexed=123.0)
    holder.publish()
    assert (holder.snapshots / "current").read_text() == name  # no new copy
    assert [p.name for p in holder.snapshots.iterdir() if p.is_dir()] == [name]
    holder.close()
    reader = EdgeStore.snapshot_reader(tmp_path)
    assert reader.meta()["last_indexed"] == 123.0 and reader.count() == 3
    reader.close()
