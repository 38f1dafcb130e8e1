"""The indexer's decode pool scales with the cores on a GPU (a fast GPU is not starved), and the report says how
long decoding and the text tower took."""

import pytest

from core.index.embed_stage import decode_workers
from core.index.indexer import index_catalog


@pytest.mark.parametrize("device, cores, expected", [
    ("cpu", 2, 2), ("cpu", 16, 4), ("cpu", 1, 1),        # the model needs the CPU's cores: at most 4 decode
    ("cuda", 16, 16), ("cuda", 64, 64), ("mps", 8, 8),   # a GPU model: every core decodes
    ("cuda", 0, 1),
])
def test_decode_pool_is_capped_on_cpu_and_scales_with_cores_on_a_gpu(device, cores, expected):
    assert decode_workers(device, cores) == expected


def test_index_run_on_a_gpu_decodes_with_one_thread_per_core(catalog, embedder, store, monkeypatch):
    import core.index.embed_stage

    monkeypatch.setattr(core.index.embed_stage.os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    seen = []
    real = embedder.stream_images

    def recording(items, load, batch_size=32, workers=2):
        seen.append(workers)
        return real(items, load, batch_size=batch_size, workers=workers)

    monkeypatch.setattr(embedder, "stream_images", recording)
    monkeypatch.setattr(embedder, "device", "cuda")  # the tiny model still runs on the CPU; only the rule reads it
    index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4)
    assert seen == [12]


def test_report_times_decoding_and_the_text_tower_apart(catalog, embedder, store):
    report = index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=4)
    stages = report.stages
    assert {"read", "plan", "embed", "write", "prune", "publish", "embed_text", "decode_threads"} <= set(stages)
    assert 0 < stages["embed_text"] < stages["embed"]
    assert stages["decode_threads"] > 0
    assert report.as_dict()["stages"].keys() == stages.keys()
