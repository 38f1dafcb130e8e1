"""open_clip models through LENS_MODEL: parity with open_clip itself, the CLI end to end, runtimes, no mixed vectors."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.common.errors import ModelLoadError
from core.ingest.sample import draw_product
from core.models import torchvision_compat
from core.models.backends import open_clip as open_clip_backend
from core.models.embedder import Embedder
from tests.conftest import PRODUCTS, index_from_hub_cache, write_catalog

ROOT = Path(__file__).resolve().parent.parent
DIM = 24  # the tiny sentence-transformers CLIP has 16: an index that mixed the two would show it


@pytest.fixture(scope="session")
def open_clip_folder(tmp_path_factory) -> Path:
    """A tiny random open_clip model saved as a hub repo lays one out (open_clip_config.json + weights)."""
    from tests.helpers.random_clip import save_random_open_clip

    return save_random_open_clip(tmp_path_factory.mktemp("open-clip"), embed_dim=DIM)


@pytest.fixture(scope="session")
def open_clip_name(open_clip_folder) -> str:
    return f"open_clip:{open_clip_folder}"


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _noise(sizes) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def test_vectors_equal_open_clips_own_encoders_on_the_same_inputs(open_clip_name, open_clip_folder):
    import torch

    open_clip = open_clip_backend.import_open_clip()
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{open_clip_folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{open_clip_folder}")
    images = [draw_product("Dresses", "Red", "Solid"), draw_product("Watches", "Black", "Solid"),
              *_noise([(300, 120), (41, 97), (64, 64)])]  # noise: a flipped or shifted photo would not match
    texts = ["red summer dress", "black leather watch for men", "a"]
    with torch.no_grad():
        own_images = model.eval().encode_image(torch.stack([preprocess(image) for image in images])).numpy()
        own_texts = model.encode_text(tokenizer(texts)).numpy()
    embedder = Embedder(open_clip_name, "cpu")
    assert embedder.dim == DIM and embedder.image_size == 32
    ours_images, ours_texts = embedder.vectors_with(images), embedder.encode_texts(texts)
    assert ours_images.shape == (5, DIM) and ours_texts.shape == (3, DIM)
    assert ((ours_images * _unit(own_images)).sum(axis=1)).min() >= 0.9999
    assert ((ours_texts * _unit(own_texts)).sum(axis=1)).min() >= 0.9999
    assert np.allclose(np.linalg.norm(ours_texts, axis=1), 1, atol=1e-6)
    # and the vectors tell inputs apart (a model that returned one vector for everything would pass the above)
    assert ((ours_images @ ours_images.T) < 0.9999).sum() == 5 * 4


@pytest.fixture(scope="session")
def siglip_folder(tmp_path_factory) -> Path:
    """Marqo-FashionSigLIP's layout, tiny and random: timm vision tower, Hugging Face tokenizer, squashed photos."""
    from tests.helpers.random_clip import save_random_open_clip

    return save_random_open_clip(tmp_path_factory.mktemp("siglip"), embed_dim=28, siglip=True)


def test_a_siglip_layout_model_equals_open_clips_own_encoders(siglip_folder):
    import torch

    open_clip = open_clip_backend.import_open_clip()
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{siglip_folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{siglip_folder}")
    assert type(tokenizer).__name__ == "HFTokenizer"  # the tokenizer files in the folder, as on the hub
    images = _noise([(300, 120), (41, 97), (640, 480)])  # squashed, not cropped: every shape must still match
    texts = ["red summer dress", "black leather watch for men", "a"]
    with torch.no_grad():
        own_images = model.eval().encode_image(torch.stack([preprocess(image) for image in images])).numpy()
        own_texts = model.encode_text(tokenizer(texts)).numpy()
    embedder = Embedder(f"open_clip:{siglip_folder}", "cpu")
    assert (embedder.dim, embedder.image_size) == (28, 224)
    assert [embedder.prepare(image).size for image in images] == [(224, 224)] * 3
    assert ((embedder.vectors_with(images) * _unit(own_images)).sum(axis=1)).min() >= 0.9999
    assert ((embedder.encode_texts(texts) * _unit(own_texts)).sum(axis=1)).min() >= 0.9999


@pytest.mark.parametrize("files, weights", [
    ({"open_clip_config.json", "open_clip_pytorch_model.bin", "model.safetensors", "tokenizer.json"},
     "open_clip_pytorch_model.bin"),  # Marqo's repos: the transformers copy of the weights is left on the hub
    ({"open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.bin"},
     "open_clip_model.safetensors"),
    ({"open_clip_config.json"}, None),
])
def test_a_hub_repo_is_fetched_with_the_one_weights_file_open_clip_reads(monkeypatch, tmp_path, files, weights):
    import huggingface_hub

    asked = []
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo: sorted(files))
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo, allow_patterns: asked.append((repo, allow_patterns)) or str(tmp_path))
    assert open_clip_backend.download("org/model") == str(tmp_path)
    assert asked == [("org/model", ["*.json", "*.txt", "*.model", *([weights] if weights else [])])]


def test_auto_runs_torch_and_says_why(open_clip_name, tmp_path):
    embedder = Embedder(open_clip_name, "cpu", "auto", tmp_path)
    assert (embedder.runtime, embedder.runtime_note) == ("torch", open_clip_backend.TORCH_ONLY)
    assert not (tmp_path / "onnx").exists()
    assert Embedder(open_clip_name, "cpu", "torch", tmp_path).runtime_note == ""


@pytest.mark.parametrize("runtime", ["onnx", "onnx-int8"])
def test_an_explicit_onnx_runtime_is_refused_before_the_model_loads(tmp_path, runtime):
    # the folder does not exist: the refusal comes first, so nothing was loaded to find that out
    with pytest.raises(ModelLoadError, match=rf"^LENS_RUNTIME={runtime}: open_clip models run on torch .*"
                                             "use LENS_RUNTIME=torch or auto$"):
        Embedder(f"open_clip:{tmp_path / 'absent'}", "cpu", runtime, tmp_path)


@pytest.mark.parametrize("spec, message", [
    ("/no/such/folder", "no open_clip model folder there"),
    ("ViT-B-32", "name an open_clip model with its weights"),
    ("{tmp}", "no open_clip model folder there"),  # a folder without open_clip_config.json
])
def test_a_name_that_is_not_an_open_clip_model_says_how_to_set_lens_model(tmp_path, spec, message):
    with pytest.raises(ModelLoadError, match=message):
        Embedder("open_clip:" + spec.format(tmp=tmp_path), "cpu")


def test_an_uncached_hub_model_offline_names_the_open_clip_setting(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as caught:
        Embedder("open_clip:hf-hub:lens-test/never-downloaded", "cpu")
    assert "hf download lens-test/never-downloaded --local-dir ./models/never-downloaded, then " \
           "LENS_MODEL=open_clip:./models/never-downloaded)" in str(caught.value)


def test_a_missing_folder_is_retried_and_a_missing_hub_model_remembered(monkeypatch, tmp_path, open_clip_folder):
    from core.models.embedder import clear_cache, load_embedder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = f"open_clip:{tmp_path / 'model'}"
    try:
        with pytest.raises(ModelLoadError):
            load_embedder(folder, "cpu")
        shutil.copytree(open_clip_folder, tmp_path / "model")  # copying it into place is the fix
        assert load_embedder(folder, "cpu").dim == DIM
        with pytest.raises(ModelLoadError) as first:
            load_embedder("open_clip:hf-hub:lens-test/never-downloaded", "cpu")
        with pytest.raises(ModelLoadError) as again:
            load_embedder("open_clip:hf-hub:lens-test/never-downloaded", "cpu")
        assert again.value is first.value  # not probed again on every click
    finally:
        clear_cache()


def test_a_cached_hub_model_loads_from_the_cache_without_the_network(tmp_path, open_clip_folder):
    stats = index_from_hub_cache(tmp_path, open_clip_folder, "lens-test/tiny-open-clip",
                                 "open_clip:hf-hub:lens-test/tiny-open-clip")
    assert (stats["model"], stats["dim"]) == ("open_clip:hf-hub:lens-test/tiny-open-clip", DIM)


def test_index_and_search_through_the_cli(settings, monkeypatch, open_clip_name, tmp_path, capsys):
    monkeypatch.setenv("LENS_MODEL", open_clip_name)
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["text_only"], report["failed"]) == (6, 0, [])
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["count"], stats["model"], stats["dim"], stats["runtime"]) == (6, open_clip_name, DIM, "torch")
    assert main(["search", "--text", "red dress", "--limit", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["search", "--text", "red dress", "--limit", "10", "--json"]) == 0
    assert sorted(r["product_id"] for r in json.loads(capsys.readouterr().out)) == [p[0] for p in PRODUCTS]
    assert main(["search", "--like", "1", "--limit", "10", "--json"]) == 0
    assert sorted(r["product_id"] for r in json.loads(capsys.readouterr().out)) == ["2", "3", "4", "5", "6"]


def test_switching_to_an_open_clip_model_needs_recreate(settings, monkeypatch, open_clip_name, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0  # the tiny sentence-transformers CLIP
    capsys.readouterr()
    monkeypatch.setenv("LENS_MODEL", open_clip_name)
    assert main(["index", "--catalog", str(catalog), "--json"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: the index was built with model {settings.model!r} (16 dims), not {open_clip_name!r} ({DIM} dims). "
        "Use that model (LENS_MODEL), or re-index with --recreate.")
    assert main(["search", "--text", "red dress", "--json"]) == 2  # searching it with the new model is refused too
    assert "re-index with --recreate" in capsys.readouterr().err
    assert main(["stats", "--json"]) == 0  # and the refused runs left the index as it was
    stats = json.loads(capsys.readouterr().out)
    assert (stats["count"], stats["model"], stats["dim"]) == (6, settings.model, 16)
    assert main(["index", "--catalog", str(catalog), "--recreate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 6
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["count"], stats["model"], stats["dim"]) == (6, open_clip_name, DIM)
    assert main(["search", "--text", "red dress", "--limit", "10", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6


def _fresh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _plain_torchvision_import() -> str:
    out = _fresh("try:\n    import torchvision\n    print('ok')\nexcept RuntimeError as exc:\n    print(exc)\n")
    return out.stdout.strip()


def test_open_clip_imports_and_runs_in_a_fresh_interpreter():
    # Whether torchvision's C++ part loads here or not, open_clip must import and embed. Where it does not load
    # (PyPI's CUDA-linked torchvision beside CPU torch), a plain import fails with exactly the error handled.
    plain = _plain_torchvision_import()
    assert plain in ("ok", "operator torchvision::nms does not exist")
    out = _fresh("from core.models.backends.open_clip import import_open_clip\n"
                 "from tests.helpers.random_clip import tiny_open_clip_config\n"
                 "oc = import_open_clip()\nimport torch, torchvision\nm = oc.CLIP(**tiny_open_clip_config())\n"
                 "img = m.encode_image(torch.zeros(2, 3, 32, 32))\n"
                 "txt = m.encode_text(oc.get_tokenizer('ViT-B-32')(['a']))\n"
                 "print(tuple(img.shape), tuple(txt.shape), torchvision.extension._has_ops(),"
                 " hasattr(torch.ops.torchvision, 'nms'))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"(2, 24) (1, 24) {plain == 'ok'} True"


def test_transformers_clip_imports_in_a_fresh_interpreter_once_torchvision_is_installed():
    # transformers imports torchvision with any CLIPModel once it is installed: the sentence-transformers path too
    out = _fresh("from core.models import torchvision_compat\ntorchvision_compat.ensure_importable()\n"
                 "from transformers import CLIPModel\nprint(CLIPModel.__name__)\n")
    assert (out.returncode, out.stdout.strip()) == (0, "CLIPModel"), out.stderr


class _BrokenTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `import torchvision` raise the given error."""

    def __init__(self, error: Exception):
        self.error = error

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "torchvision" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise self.error


def test_another_torchvision_failure_is_a_load_error_not_patched_over(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchvision(RuntimeError("operator torchvision::roi_align does "
                                                                            "not exist"))] + sys.meta_path)
    monkeypatch.setattr(torchvision_compat, "_define_stand_ins", lambda: pytest.fail("stand-ins defined"))
    with pytest.raises(ModelLoadError, match=r"torchvision failed to import \(operator torchvision::roi_align"):
        open_clip_backend.import_open_clip()


def test_without_open_clip_installed_the_error_says_how_to_install(monkeypatch):
    for name in ("torchvision", "open_clip"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: the import raises ImportError
    with pytest.raises(ModelLoadError, match="pip install -r requirements.txt"):
        open_clip_backend.import_open_clip()
