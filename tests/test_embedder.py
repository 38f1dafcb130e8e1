"""Embedder: parity with transformers, normalisation, streaming and clear load errors."""

import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from core.common.errors import ImageRejected, ModelLoadError
from core.ingest.sample import draw_product
from core.models.embedder import TEXT_BULK_CHUNK, EmbeddingModel, QueryEncoder, load_embedder, pick_device


def _features(output):
    return getattr(output, "pooler_output", output)


def test_vectors_match_transformers_clip_on_the_same_weights(embedder, tiny_clip):
    from transformers import CLIPModel, CLIPProcessor

    hf_dir = str(tiny_clip).replace("/st", "/hf")
    model = CLIPModel.from_pretrained(hf_dir).eval()
    processor = CLIPProcessor.from_pretrained(hf_dir, backend="pil")  # the PIL processor, as the embedder pins it
    images = [draw_product("Dresses", "Red", "Solid"), draw_product("Watches", "Black", "Solid"),
              Image.new("RGB", (300, 120), (10, 200, 30))]
    texts = ["red summer dress", "black leather watch for men", "a"]
    with torch.no_grad():
        img = _features(model.get_image_features(**processor(images=images, return_tensors="pt")))
        txt = _features(model.get_text_features(**processor(text=texts, return_tensors="pt", padding=True)))
    img = torch.nn.functional.normalize(img, dim=-1).numpy()
    txt = torch.nn.functional.normalize(txt, dim=-1).numpy()
    assert np.abs(embedder.encode_images(images) - img).max() <= 1e-5
    assert np.abs(embedder.encode_texts(texts) - txt).max() <= 1e-5


def test_vectors_are_unit_length_float32(embedder):
    vectors = embedder.encode_texts(["a", "b c d"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, embedder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_text_longer_than_77_tokens_is_truncated_not_an_error(embedder):
    long_text = "very long product description " * 60
    vector = embedder.encode_texts([long_text])
    assert np.allclose(vector, embedder.encode_texts([long_text + " extra words at the end"]))


def test_stream_images_reads_lazily_and_reports_rejections(embedder):
    consumed = []

    def items():
        for i in range(10_000):
            consumed.append(i)
            yield i

    def load(i):
        if i % 5 == 0:
            raise ImageRejected(f"bad {i}")
        return Image.new("RGB", (40, 40), (i % 255, 0, 0))

    stream = embedder.stream_images(items(), load, batch_size=8, workers=2)
    first = next(stream)
    # Bounded look-ahead: at most two batches are decoded before the first is returned.
    assert len(consumed) <= 16
    assert first.items == [1, 2, 3, 4, 6, 7] and [i for i, _ in first.rejected] == [0, 5]
    assert first.vectors.shape == (6, embedder.dim)
    stream.close()


def test_a_loaded_model_is_what_the_product_uses_of_a_model(embedder):
    assert isinstance(embedder, EmbeddingModel) and isinstance(embedder, QueryEncoder)
    assert (embedder.device, embedder.runtime, embedder.runtime_note) == ("cpu", "torch", "")


def test_model_loaded_once_per_process(tiny_clip):
    assert load_embedder(tiny_clip, "cpu") is load_embedder(tiny_clip, "cpu")


def test_missing_model_folder_says_how_to_set_lens_model(tmp_path):
    with pytest.raises(ModelLoadError, match="LENS_MODEL"):
        load_embedder(str(tmp_path / "no-such-model"), "cpu")


def test_folder_that_is_not_a_model_says_how_to_set_lens_model(tmp_path):
    with pytest.raises(ModelLoadError, match="Set LENS_MODEL to a sentence-transformers CLIP model folder"):
        load_embedder(str(tmp_path), "cpu")


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto") == expected
    assert pick_device("cpu") == "cpu"


def test_unknown_or_missing_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match="LENS_DEVICE"):
        pick_device("tpu")
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        pick_device("cuda")


DEADLINE_S = 30.0  # what a wait below allows on a loaded machine; reaching it fails the test


def _wait_for(condition, deadline_s: float = DEADLINE_S) -> bool:
    """Whether condition() came true within the deadline (checked every few milliseconds)."""
    give_up = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.002)
    return True


def _held_model(embedder, monkeypatch, calls: list, hold):
    """The model, recording each forward pass ('query' or 'bulk', inputs), with hold() run inside the first pass when
    it is an indexing one: that pass keeps its turn at the model until hold() returns."""
    real = embedder.model.encode

    def encode(inputs, **kw):
        kind = "query" if kw["batch_size"] == 1 and len(inputs) == 1 and inputs[0].startswith("q") else "bulk"
        calls.append((kind, len(inputs)))
        if calls == [("bulk", len(inputs))]:  # the first pass, an indexing one
            hold()
        return real(inputs, **kw)

    monkeypatch.setattr(embedder.model, "encode", encode)


def test_a_search_goes_before_the_next_indexing_chunk(embedder, monkeypatch):
    calls: list = []
    running, search_waited = threading.Event(), []

    def hold():  # the first chunk keeps the model until the search below waits for its turn
        running.set()
        search_waited.append(_wait_for(lambda: embedder.turns.queries_waiting == 1))

    _held_model(embedder, monkeypatch, calls, hold)
    bulk = threading.Thread(target=embedder.encode_texts, args=([f"product {i}" for i in range(80)],),
                            kwargs={"batch_size": 64})
    bulk.start()
    assert running.wait(DEADLINE_S)
    embedder.encode_texts(["q uncached query"])  # arrives while the first 32-text chunk holds the model
    bulk.join(DEADLINE_S)
    assert not bulk.is_alive() and search_waited == [True]
    assert calls.index(("query", 1)) == 1  # right after the chunk that was running, not after all three
    assert [c for c in calls if c[0] == "bulk"] == [("bulk", TEXT_BULK_CHUNK)] * 2 + [("bulk", 16)]


def test_a_cached_search_does_not_wait_for_indexing(embedder, monkeypatch):
    embedder.encode_texts(["q cached query"])
    calls: list = []
    running, answered, released_in_time = threading.Event(), threading.Event(), []

    def hold():  # the indexing pass keeps the model until the cached search has been answered
        running.set()
        released_in_time.append(answered.wait(DEADLINE_S))

    _held_model(embedder, monkeypatch, calls, hold)
    bulk = threading.Thread(target=embedder.encode_texts, args=([f"item {i}" for i in range(16)],))
    bulk.start()
    try:
        assert running.wait(DEADLINE_S)
        embedder.encode_texts(["q cached query"])
    finally:
        answered.set()
        bulk.join(DEADLINE_S)
    # Answered while the indexing pass still held the model: had the search waited for a turn, the pass would have
    # held it until its deadline, and only then let the search through.
    assert released_in_time == [True] and not bulk.is_alive()
    assert ("query", 1) not in calls
