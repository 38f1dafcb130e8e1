"""A plain Hugging Face CLIPModel checkpoint (like patrickjohncyh/fashion-clip) through LENS_MODEL: folder or name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main
from core.models.embedder import Embedder
from core.ingest.sample import draw_product
from tests.conftest import PRODUCTS, index_from_hub_cache, write_catalog

ROOT = Path(__file__).resolve().parent.parent
DIM = 20  # the sentence-transformers tiny CLIP has 16 and the tiny open_clip 24


@pytest.fixture(scope="session")
def hf_clip(tmp_path_factory) -> Path:
    """A tiny random CLIPModel and CLIPProcessor saved with save_pretrained: no sentence-transformers files."""
    from tests.helpers.random_clip import save_random_hf_clip

    return save_random_hf_clip(tmp_path_factory.mktemp("hf-clip"), projection_dim=DIM, seed=3)


def _features(output):
    return getattr(output, "pooler_output", output)


def _unit(vectors) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_the_folder_holds_no_sentence_transformers_files(hf_clip):
    names = {p.name for p in hf_clip.iterdir()}
    assert "config.json" in names and "model.safetensors" in names
    assert not names & {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"}


def test_vectors_equal_transformers_own_features_on_the_same_inputs(hf_clip):
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(hf_clip)).eval()
    processor = CLIPProcessor.from_pretrained(str(hf_clip), backend="pil")
    rng = np.random.default_rng(0)
    images = [draw_product("Dresses", "Red", "Solid"),  # and noise, which a shifted or flipped photo would not match
              *[Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in [(300, 120), (41, 97)]]]
    texts = ["red summer dress", "black leather watch for men", "a"]
    with torch.no_grad():
        own_images = _features(model.get_image_features(**processor(images=images, return_tensors="pt"))).numpy()
        own_texts = _features(model.get_text_features(**processor(text=texts, return_tensors="pt",
                                                                  padding=True))).numpy()
    embedder = Embedder(str(hf_clip), "cpu")
    assert (embedder.dim, embedder.image_size) == (DIM, 32)
    # the PIL processor, as before torchvision was installed (the reference above asks for it too)
    assert type(embedder.model[0].processor.image_processor).__name__ == "CLIPImageProcessorPil"
    ours_images, ours_texts = embedder.vectors_with(images), embedder.encode_texts(texts)
    assert ours_images.shape == (3, DIM) and ours_texts.shape == (3, DIM)
    assert (ours_images * _unit(own_images)).sum(axis=1).min() >= 0.9999
    assert (ours_texts * _unit(own_texts)).sum(axis=1).min() >= 0.9999
    assert ((ours_texts @ ours_texts.T) < 0.9999).sum() == 3 * 2  # the texts are told apart


def test_index_and_search_with_the_checkpoint_folder(settings, monkeypatch, hf_clip, tmp_path, capsys):
    monkeypatch.setenv("LENS_MODEL", str(hf_clip))
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 6
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["model"], stats["dim"]) == (str(hf_clip), DIM)
    assert main(["search", "--text", "red dress", "--limit", "10", "--json"]) == 0
    assert sorted(r["product_id"] for r in json.loads(capsys.readouterr().out)) == [p[0] for p in PRODUCTS]


def test_a_cached_hub_checkpoint_loads_by_name_without_the_network(tmp_path, hf_clip):
    # patrickjohncyh/fashion-clip is such a checkpoint: LENS_MODEL names it, the local Hugging Face cache has it
    stats = index_from_hub_cache(tmp_path, hf_clip, "lens-test/fashion-clip", "lens-test/fashion-clip")
    assert (stats["model"], stats["dim"]) == ("lens-test/fashion-clip", DIM)
