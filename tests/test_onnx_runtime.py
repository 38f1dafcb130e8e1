"""ONNX Runtime towers: parity with torch fp32, int8 only after its self-check, the export cached, the CLI says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.common.errors import ConfigError, ModelLoadError
from core.ingest.sample import SAMPLE_IMAGES
from core.models import onnx_runtime
from core.models.calibration import SAMPLE_SOURCE, Calibration
from core.models.embedder import Embedder
from core.models.onnx_runtime import SelfCheck, compare, describe_runtime, has_vnni
from tests.conftest import PRODUCTS, write_catalog

TEXTS = ["Mango Women Red Dress", "a", "Nike Men Blue T-shirt with a small white logo on the chest",
         "Bata Women Brown Sandal", "abcd", "wxyz",  # the last two: one length, so a batch of them has no padding
         "striped " * 60]  # past CLIP's 77 tokens: truncated the same way by both runtimes


def photos(count: int) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sorted(SAMPLE_IMAGES.rglob("*.jpg"))[:count]]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def corrupting_quantiser(source: Path, target: Path, reduce_range: bool) -> None:
    """Stands in for quantize_dynamic: every weight matrix gets noise twice its own spread."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    rng = np.random.default_rng(0)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim == 2:
            noisy = (w + rng.normal(0, 2 * w.std(), w.shape)).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    onnx.save(model, str(target))


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-data")


@pytest.fixture(scope="module")
def int8(tiny_clip, onnx_dir) -> Embedder:
    """The tiny model as onnx-int8, calibrated on the bundled sample (the default)."""
    return Embedder(tiny_clip, "cpu", "onnx-int8", onnx_dir)


@pytest.fixture(scope="module")
def fp32_towers(int8, onnx_dir):
    folder, inputs = onnx_runtime.ensure_export(int8.model, onnx_dir)
    return onnx_runtime.OnnxTowers(folder, inputs)


@pytest.mark.parametrize("count", [1, 2, 9])
def test_onnx_fp32_image_vectors_match_torch_fp32(int8, fp32_towers, count):
    images = photos(count)
    assert cosines(int8.vectors_with(images), int8.vectors_with(images, fp32_towers)).min() >= 0.9999


@pytest.mark.parametrize("texts", [TEXTS, TEXTS[4:6], TEXTS[:1], TEXTS[-1:]], ids=["mixed", "unpadded", "one", "long"])
def test_onnx_fp32_text_vectors_match_torch_fp32(int8, fp32_towers, texts):
    assert cosines(int8.vectors_with(texts), int8.vectors_with(texts, fp32_towers)).min() >= 0.9999


def test_encode_paths_of_the_onnx_runtime_match_the_torch_embedder(embedder, tiny_clip, onnx_dir):
    """The app's calls (bulk, cached single query, streamed photos) through ORT fp32 give torch's vectors."""
    onnx = Embedder(tiny_clip, "cpu", "onnx", onnx_dir)
    assert (onnx.runtime, onnx.runtime_note, onnx.self_check) == ("onnx", "", None)
    images = photos(20)
    assert cosines(onnx.encode_images(images), embedder.encode_images(images)).min() >= 0.9999
    assert cosines(onnx.encode_texts(TEXTS), embedder.encode_texts(TEXTS)).min() >= 0.9999
    assert cosines(onnx.encode_texts(["red dress"]), embedder.encode_texts(["red dress"])).min() >= 0.9999
    streamed = np.concatenate([b.vectors for b in onnx.stream_images(images, lambda image: image, batch_size=8)])
    assert streamed.shape == (20, embedder.dim) and cosines(streamed, embedder.encode_images(images)).min() >= 0.9999


def test_int8_passes_its_self_check_on_the_sample_and_is_used(int8, onnx_dir):
    check = int8.self_check
    assert (int8.runtime, int8.runtime_note, check.passed) == ("onnx-int8", "", True)
    assert (check.images, check.texts, check.source) == (64, 64, "the bundled sample")
    assert check.image_cosine >= 0.99 and check.text_cosine >= 0.99
    [stored] = (onnx_dir / "onnx").glob("*/check.int8*.json")
    assert json.loads(stored.read_text()) == {**check.as_dict(), "passed": True}
    texts = TEXTS[:4]
    assert cosines(int8.encode_texts(texts), int8.vectors_with(texts)).min() >= 0.99


def test_the_export_and_the_check_are_made_once_per_model(tiny_clip, int8, onnx_dir, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "export", lambda *a: pytest.fail("exported again"))
    monkeypatch.setattr(onnx_runtime, "quantise", lambda *a: pytest.fail("quantised again"))
    monkeypatch.setattr(onnx_runtime, "self_check", lambda *a: pytest.fail("checked again"))
    again = Embedder(tiny_clip, "cpu", "onnx-int8", onnx_dir)
    assert (again.runtime, again.self_check) == ("onnx-int8", int8.self_check)
    assert len(list((onnx_dir / "onnx").iterdir())) == 1


def test_a_check_on_the_sample_alone_is_made_again_on_the_first_catalogue_then_kept(tiny_clip, tmp_path,
                                                                                    monkeypatch):
    """The app may start before any catalogue and check int8 on the bundled sample; the first index run with a
    catalogue's own photos checks it again on them (int8 is only trusted on the data it will embed)."""
    first = Embedder(tiny_clip, "cpu", "onnx-int8", tmp_path)
    assert first.self_check.source == SAMPLE_SOURCE
    catalogue = Calibration(photos(16), TEXTS * 2, "products.csv")
    calls = []
    again = Embedder(tiny_clip, "cpu", "onnx-int8", tmp_path, calibration=lambda: calls.append(1) or catalogue)
    assert calls == [1] and again.self_check.source == "products.csv" and again.self_check.images == 16
    [stored] = tmp_path.glob("onnx/*/check.int8*.json")
    assert json.loads(stored.read_text())["source"] == "products.csv"
    third = Embedder(tiny_clip, "cpu", "onnx-int8", tmp_path, calibration=lambda: pytest.fail("checked again"))
    assert third.self_check == again.self_check


def test_a_missing_tower_file_is_exported_again(tiny_clip, tmp_path):
    first = Embedder(tiny_clip, "cpu", "onnx", tmp_path)
    [folder] = (tmp_path / "onnx").iterdir()
    (folder / "text.onnx").unlink()
    again = Embedder(tiny_clip, "cpu", "onnx", tmp_path)
    assert again.runtime == "onnx" and (folder / "text.onnx").stat().st_size > 0
    assert cosines(again.encode_texts(TEXTS), first.encode_texts(TEXTS)).min() >= 0.9999


def test_an_onnx_runtime_on_a_gpu_is_refused_before_the_model_loads(tiny_clip, tmp_path, monkeypatch):
    import core.models.embedder as embedder_module

    monkeypatch.setattr(embedder_module, "pick_device", lambda requested: "cuda")
    monkeypatch.setattr(embedder_module, "load_backend", lambda *a: pytest.fail("the model started loading"))
    with pytest.raises(ConfigError, match="runs on the CPU"):
        Embedder(tiny_clip, "cuda", "onnx-int8", tmp_path)


def test_a_corrupting_quantiser_fails_the_check_and_falls_back_to_onnx_fp32(tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "quantise", corrupting_quantiser)
    calibration = Calibration(photos(16), TEXTS * 2, "sixteen photos")
    embedder = Embedder(tiny_clip, "cpu", "onnx-int8", tmp_path, calibration=lambda: calibration)
    check = embedder.self_check
    assert (embedder.runtime, check.passed, check.images, check.texts) == ("onnx", False, 16, 14)
    assert check.image_cosine < 0.99 and check.text_cosine < 0.99
    assert embedder.runtime_note.startswith("int8 failed its self-check on sixteen photos (image cosine ")
    assert embedder.runtime_note.endswith("): running onnx fp32")
    [stored] = tmp_path.glob("onnx/*/check.int8*.json")
    assert json.loads(stored.read_text())["passed"] is False
    # what runs is the fp32 export, not the corrupted one
    assert cosines(embedder.encode_texts(TEXTS), embedder.vectors_with(TEXTS)).min() >= 0.9999
    auto = Embedder(tiny_clip, "cpu", "auto", tmp_path)  # the stored failure holds for auto too
    assert (auto.runtime, auto.runtime_note) == ("onnx", embedder.runtime_note)


def test_auto_falls_back_to_torch_when_the_export_fails_and_an_explicit_onnx_is_an_error(tiny_clip, tmp_path,
                                                                                          monkeypatch):
    def broken(model, folder):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(onnx_runtime, "export", broken)
    auto = Embedder(tiny_clip, "cpu", "auto", tmp_path)
    assert (auto.runtime, auto.runtime_note) == ("torch", "the ONNX export or ONNX Runtime failed (RuntimeError: "
                                                          "cannot trace this): running torch")
    with pytest.raises(ModelLoadError, match=r"LENS_RUNTIME=onnx: the ONNX export or ONNX Runtime failed "
                                             r"\(RuntimeError: cannot trace this\); use LENS_RUNTIME=torch"):
        Embedder(tiny_clip, "cpu", "onnx", tmp_path)
    assert not list(tmp_path.glob("onnx/*/*.onnx"))  # nothing half-written is left to be reused


def test_auto_runs_onnx_fp32_when_quantisation_fails_and_an_explicit_int8_is_an_error(tiny_clip, tmp_path,
                                                                                      monkeypatch):
    def broken(source, target, reduce_range):
        raise RuntimeError("no int8 kernels")

    monkeypatch.setattr(onnx_runtime, "quantise", broken)
    auto = Embedder(tiny_clip, "cpu", "auto", tmp_path)
    assert (auto.runtime, auto.runtime_note, auto.self_check) == (
        "onnx", "int8 quantisation failed (RuntimeError: no int8 kernels): running onnx fp32", None)
    with pytest.raises(ModelLoadError, match=r"LENS_RUNTIME=onnx-int8: int8 quantisation failed \(RuntimeError: no "
                                             r"int8 kernels\); use LENS_RUNTIME=onnx"):
        Embedder(tiny_clip, "cpu", "onnx-int8", tmp_path)


def test_choose_runs_torch_on_a_gpu_and_refuses_onnx_there():
    def never(*args):
        raise AssertionError("nothing is exported for torch")

    assert onnx_runtime.choose(None, "cuda", "auto", None, never, never) == onnx_runtime.Runtime("torch")
    assert onnx_runtime.choose(None, "cpu", "torch", None, never, never) == onnx_runtime.Runtime("torch")
    with pytest.raises(ConfigError, match="LENS_RUNTIME=onnx-int8 runs on the CPU; with LENS_DEVICE=cuda"):
        onnx_runtime.choose(None, "cuda", "onnx-int8", None, never, never)
    with pytest.raises(ConfigError, match="LENS_RUNTIME must be one of auto, torch, onnx, onnx-int8, got 'tensorrt'"):
        onnx_runtime.choose(None, "cpu", "tensorrt", None, never, never)


def test_compare_gives_the_worst_cosine_and_the_share_of_neighbours_kept():
    def circle(*degrees):
        return np.array([[np.cos(np.radians(d)), np.sin(np.radians(d))] for d in degrees])

    reference = circle(0, 5, 90, 100)  # two pairs: 0-1 and 2-3 are each other's nearest
    assert compare(reference, reference, k=1) == (pytest.approx(1.0), 1.0)
    moved = circle(0, 85, 90, 100)  # item 1 moves next to item 2: 1 and 2 lose their neighbour, 0 and 3 keep theirs
    cosine, overlap = compare(reference, moved, k=1)
    assert (cosine, overlap) == (pytest.approx(np.cos(np.radians(80))), 0.5)
    assert compare(reference[:1], reference[:1]) == (pytest.approx(1.0), 1.0)  # one item has no neighbours to lose


def test_self_check_lists_each_threshold_it_misses():
    check = SelfCheck(0.9712, 0.95, 0.999, 0.85, 64, 64, "sample")
    assert check.failures == ["image cosine 0.9712 < 0.99", "text top-10 overlap 0.850 < 0.9"]
    assert not check.passed and SelfCheck.from_dict(check.as_dict()) == check
    assert SelfCheck(0.99, 0.9, 1.0, 1.0, 64, 64, "sample").passed  # the thresholds themselves pass


def test_vnni_is_read_from_the_cpu_flags():
    assert has_vnni("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert has_vnni("flags\t\t: fpu avx2 avx_vnni\n")
    assert not has_vnni("flags\t\t: fpu avx2 avx512f\nbugs\t\t: avx_vnni_lookalike\n")


def test_describe_runtime_names_the_writer_its_note_and_the_others():
    assert describe_runtime({}) == "unknown"
    assert describe_runtime({"runtime": "onnx-int8", "runtimes": ["onnx-int8"]}) == "onnx-int8"
    assert describe_runtime({"runtime": "onnx", "runtime_note": "int8 failed", "runtimes": ["onnx", "torch"]}) == \
        "onnx (int8 failed) (also holds vectors from torch)"


def test_cli_says_when_int8_failed_and_stats_shows_which_runtimes_wrote_the_index(settings, tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.setattr(onnx_runtime, "quantise", corrupting_quantiser)
    catalog = write_catalog(tmp_path / "cat")
    args = ["index", "--catalog", str(catalog), "--json"]
    assert main(args + ["--runtime", "onnx-int8"]) == 0
    out, err = capsys.readouterr()
    assert (json.loads(out)["runtime"], json.loads(out)["indexed"]) == ("onnx", 6)
    note = "int8 failed its self-check on catalog.csv and the bundled sample (image cosine "
    assert err.startswith(f"note: {note}")
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["runtime"], stats["runtimes"]) == ("onnx", ["onnx"]) and stats["runtime_note"].startswith(note)
    assert main(["stats"]) == 0
    assert f"runtime: onnx ({note}" in capsys.readouterr().out

    # torch vectors join the same index (no ModelMismatch): one product changed, so one is embedded
    rows = [PRODUCTS[0][:7] + ("Mango Women Red Maxi Dress",)] + PRODUCTS[1:]
    write_catalog(tmp_path / "cat", rows=rows)
    assert main(args + ["--runtime", "torch"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runtime"], report["indexed"], report["unchanged"]) == ("torch", 1, 5)
    assert main(["stats"]) == 0
    assert "runtime: torch (also holds vectors from onnx)\n" in capsys.readouterr().out


def test_cli_search_through_onnx_finds_what_torch_finds(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog), "--runtime", "torch"]) == 0
    capsys.readouterr()
    found = {}
    for runtime in ("torch", "onnx"):
        assert main(["search", "--text", "red dress", "--runtime", runtime, "--json"]) == 0
        found[runtime] = [(r["product_id"], round(r["score"], 3)) for r in json.loads(capsys.readouterr().out)]
    assert len(found["torch"]) == 6 and found["onnx"] == found["torch"]


@pytest.mark.full_size
def test_full_size_vit_b32_onnx_matches_torch_and_int8_passes_its_check(tmp_path):
    """The real architecture (random weights): a few photos and texts keep this to tens of seconds."""
    from bench.common import vit_b32_model

    images, texts = photos(6), TEXTS[:6]
    calibration = Calibration(images, texts, "six photos")
    embedder = Embedder(vit_b32_model(), "cpu", "onnx-int8", tmp_path, calibration=lambda: calibration)
    assert (embedder.runtime, embedder.self_check.passed) == ("onnx-int8", True)
    folder, inputs = onnx_runtime.ensure_export(embedder.model, tmp_path)
    fp32 = onnx_runtime.OnnxTowers(folder, inputs)
    torch_images, torch_texts = embedder.vectors_with(images), embedder.vectors_with(TEXTS)
    assert cosines(torch_images, embedder.vectors_with(images, fp32)).min() >= 0.9999
    assert cosines(torch_texts, embedder.vectors_with(TEXTS, fp32)).min() >= 0.9999
    assert cosines(torch_images, embedder.encode_images(images)).min() >= 0.99  # int8, as the app runs it


def test_catalog_page_says_int8_failed_its_check_and_which_runtime_wrote_the_index(indexed, monkeypatch):
    from tests.helpers.apptest import shown, start

    monkeypatch.setattr(onnx_runtime, "quantise", corrupting_quantiser)
    monkeypatch.setenv("LENS_RUNTIME", "onnx-int8")
    at = start("pages/catalog.py")
    assert not at.exception
    assert [shown(w.value).split(" (")[0] for w in at.warning] == [
        "LENS_RUNTIME=onnx-int8: int8 failed its self-check on the bundled sample"]
    [caption] = [shown(c.value) for c in at.caption if c.value.startswith("Model ")]
    assert "device cpu, onnx · vectors written by torch · storage" in caption
