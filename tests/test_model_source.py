"""A model that is not on this machine fails in seconds with the setting that fixes it; a cached one loads offline."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.models import embedder as embedder_module
from core.models import model_source
from core.common.errors import ModelLoadError
from tests.conftest import write_catalog

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: connecting is refused


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "LENS_MODEL")}
    return dict(env, PYTHONPATH=str(ROOT), HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"),
                HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", LENS_DATA_DIR=str(tmp_path / "data"),
                LENS_DEVICE="cpu", **extra)


def test_an_uncached_model_with_no_hub_fails_in_seconds_with_the_whole_message(tmp_path):
    catalog = write_catalog(tmp_path / "c")
    env = _env(tmp_path, LENS_MODEL="lens-test/never-downloaded")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("error: The embedding model 'lens-test/never-downloaded' is not on this machine, and "
                           f"the Hugging Face hub ({env['HF_ENDPOINT']}) cannot be reached (")
    assert "Set LENS_MODEL to a sentence-transformers CLIP model folder" in line and line.endswith("internet.")
    assert seconds < 10  # it took 75-110 s of hub retries before


def test_a_cached_hub_model_loads_without_the_network(tmp_path, tiny_clip):
    snapshot = tmp_path / "hf" / "hub" / "models--lens-test--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_clip, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    catalog = write_catalog(tmp_path / "c")
    out = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog), "--json"], cwd=ROOT,
                         env=_env(tmp_path, LENS_MODEL="lens-test/tiny"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"indexed": 6' in out.stdout


def test_a_failed_hub_model_is_remembered_until_the_setting_changes(monkeypatch):
    probes = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(model_source, "cached_snapshot", lambda name: None)
    monkeypatch.setattr(model_source, "hub_unreachable_reason", lambda: probes.append(1) or "no route to host")
    embedder_module.clear_cache()
    try:
        for _ in range(3):  # three clicks in the app
            with pytest.raises(ModelLoadError, match="no route to host"):
                embedder_module.load_embedder("lens-test/unreachable", "cpu")
        assert len(probes) == 1
        with pytest.raises(ModelLoadError):
            embedder_module.load_embedder("lens-test/another", "cpu")  # a new LENS_MODEL is tried afresh
        assert len(probes) == 2
    finally:
        embedder_module.clear_cache()


def test_hf_hub_offline_fails_without_probing(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(model_source, "cached_snapshot", lambda name: None)
    monkeypatch.setattr(model_source, "hub_unreachable_reason", lambda: pytest.fail("probed the hub"))
    with pytest.raises(ModelLoadError, match=r"cannot be reached \(HF_HUB_OFFLINE is set\)"):
        model_source.resolve("clip-ViT-B-32")
    assert model_source.hub_repo("clip-ViT-B-32") == "sentence-transformers/clip-ViT-B-32"
