"""CLIP's towers in ONNX Runtime (sentence-transformers models): exported once per model under the data dir, int8
only after a self-check on a calibration set (core.models.calibration)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from core.common.errors import ConfigError, ModelLoadError
from core.common.files import atomic_path, atomic_write
from core.models.calibration import SAMPLE_SOURCE, from_sample

RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
EXPORT_FORMAT = 1  # part of the cache key: bump it when the export changes, so no old export is reused
QUANT_FORMAT = "qint8-per-channel-matmul-1"  # likewise for quantise()'s settings (and so for every stored check)
OPSET = 17
TOWERS = ("image", "text")
OUTPUT = "embedding"
MIN_COSINE = 0.99   # the worst calibration item's int8 vector against its torch fp32 vector
MIN_OVERLAP = 0.9   # the mean share of each item's 10 nearest neighbours (within the set) that int8 keeps
NEIGHBOURS = 10

# Embeds a list of images or texts to normalised vectors: through torch fp32 when given None, else the ORT towers.
Embed = Callable[[list, "OnnxTowers | None"], np.ndarray]


@dataclass(frozen=True)
class SelfCheck:
    """int8 against torch fp32 on one calibration set: each tower's worst cosine and mean top-10 overlap."""

    image_cosine: float
    image_overlap: float
    text_cosine: float
    text_overlap: float
    images: int
    texts: int
    source: str

    @property
    def failures(self) -> list[str]:
        """Each threshold missed, e.g. 'image cosine 0.9712 < 0.99'; empty when the check passed."""
        found = []
        for tower in TOWERS:
            cosine, overlap = getattr(self, f"{tower}_cosine"), getattr(self, f"{tower}_overlap")
            if not cosine >= MIN_COSINE:
                found.append(f"{tower} cosine {cosine:.4f} < {MIN_COSINE}")
            if not overlap >= MIN_OVERLAP:
                found.append(f"{tower} top-{NEIGHBOURS} overlap {overlap:.3f} < {MIN_OVERLAP}")
        return found

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    @classmethod
    def from_dict(cls, data: dict) -> "SelfCheck":
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass
class Runtime:
    """What an embedder runs: torch, or ORT towers in fp32 (onnx) or int8 (onnx-int8); note says why it is
    not what was asked for ('' when it is)."""

    name: str
    towers: "OnnxTowers | None" = None
    note: str = ""
    check: SelfCheck | None = None


def describe_runtime(meta: dict) -> str:
    """The runtime that wrote an index, from its metadata: 'onnx-int8', with why it was not the one asked for and
    which other runtimes wrote vectors; 'unknown' for an index written before runtimes were recorded."""
    runtime = meta.get("runtime") or "unknown"
    others = [r for r in meta.get("runtimes", []) if r != runtime]
    parts = [meta.get("runtime_note"), others and "also holds vectors from " + ", ".join(others)]
    return runtime + "".join(f" ({part})" for part in parts if part)


def compare(reference: np.ndarray, candidate: np.ndarray, k: int = NEIGHBOURS) -> tuple[float, float]:
    """(worst cosine of matching rows, mean share of each row's k nearest neighbours in the set that the candidate
    keeps) for two embeddings of one set of items."""
    a, b = _unit(reference), _unit(candidate)
    if not len(a):
        return 1.0, 1.0
    cosine = float((a * b).sum(axis=1).min())
    k = min(k, len(a) - 1)
    if k < 1:
        return cosine, 1.0
    kept = [len(set(x) & set(y)) / k for x, y in zip(_nearest(a, k), _nearest(b, k))]
    return cosine, float(np.mean(kept))


def _nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)  # an item is not its own neighbour
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def self_check(embed: Embed, towers: "OnnxTowers", calibration) -> SelfCheck:
    """Embed the calibration set's photos and texts with torch fp32 and with the int8 towers, and compare."""
    image_cosine, image_overlap = compare(embed(calibration.images, None), embed(calibration.images, towers))
    text_cosine, text_overlap = compare(embed(calibration.texts, None), embed(calibration.texts, towers))
    return SelfCheck(round(image_cosine, 6), round(image_overlap, 6), round(text_cosine, 6), round(text_overlap, 6),
                     len(calibration.images), len(calibration.texts), calibration.source)


def weights_digest(model) -> str:
    """A hash of every weight and buffer of a torch module (names, dtypes, shapes and bytes)."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def cache_key(model) -> str:
    """Names an export: the weights, the versions of the code that traced it (torch, transformers' CLIP,
    sentence-transformers) and of the runtime that runs it, the opset and the export and quantisation formats."""
    import onnxruntime
    import sentence_transformers
    import torch
    import transformers

    parts = [weights_digest(model), torch.__version__, onnxruntime.__version__, transformers.__version__,
             sentence_transformers.__version__, str(OPSET), str(EXPORT_FORMAT), QUANT_FORMAT]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def export_dir(data_dir: Path, key: str) -> Path:
    return Path(data_dir) / "onnx" / key


def export(model, folder: Path) -> dict[str, list[str]]:
    """Export the sentence-transformers model's image and text towers (its own forward: projection included) as
    image.onnx and text.onnx; returns each tower's input names. Inputs are what the model's processor makes."""
    import torch
    from PIL import Image

    examples = {"image": model.preprocess([Image.new("RGB", (64, 48), (200, 30, 40)),
                                           Image.new("RGB", (48, 64), (20, 20, 20))]),
                # Texts of two lengths: the trace must take the padded-batch path (an explicit attention mask).
                "text": model.preprocess(["a", "a red summer dress with white polka dots"])}
    inputs = {}
    for tower, features in examples.items():
        names = [name for name, value in features.items() if isinstance(value, torch.Tensor)]
        axes = {name: {0: "batch", **({1: "tokens"} if features[name].dim() == 2 else {})} for name in names}
        with atomic_path(folder / f"{tower}.onnx") as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shape checks; the parity tests check the result
            torch.onnx.export(_Tower.make(model, tower, names), tuple(features[name] for name in names), str(tmp),
                              input_names=names, output_names=[OUTPUT], dynamic_axes={**axes, OUTPUT: {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        inputs[tower] = names
    return inputs


class _Tower:
    """A torch module that runs the whole sentence-transformers pipeline for one modality (built lazily: torch)."""

    @staticmethod
    def make(model, modality: str, names: list[str]):
        import torch

        class Tower(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, *tensors):
                return self.model({**dict(zip(names, tensors)), "modality": modality})["sentence_embedding"]

        return Tower().eval()


def quantise(source: Path, target: Path, reduce_range: bool) -> None:
    """Dynamic int8: QInt8 weights per output channel, activations quantised per batch. MatMul only: the patch
    embedding's Conv and the token lookup are a tiny share of the time and stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=reduce_range, op_types_to_quantize=["MatMul"])


def has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has VNNI (int8 dot products that do not saturate), from /proc/cpuinfo's flags."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return bool(flags & {"avx512_vnni", "avx_vnni"})


def reduce_range() -> bool:
    """7-bit weights on x86 without VNNI, where 8-bit products can saturate (ORT's documented workaround)."""
    return platform.machine().lower() in ("x86_64", "amd64", "i686") and not has_vnni()


def intra_op_threads() -> int:
    """One ORT thread per physical core this process may use: hyper-threads add nothing to matrix products."""
    import psutil

    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        usable = os.cpu_count() or 1
    return max(1, min(physical, usable))


def session(path: Path):
    """An ORT CPU session with every graph optimisation and a thread per physical core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads sleep between runs instead of spinning: image decoding shares these cores during indexing.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxTowers:
    """The image and text sessions of one export: run() takes the features the model's own processor made."""

    def __init__(self, folder: Path, inputs: dict[str, list[str]], variant: str = ""):
        self.variant = variant
        self.inputs = inputs
        self.sessions = {tower: session(Path(folder) / f"{tower}{variant}.onnx") for tower in TOWERS}

    def run(self, features: dict) -> np.ndarray:
        """Unnormalised float32 vectors for one preprocessed batch (its 'modality' picks the tower)."""
        tower = features["modality"]
        feeds = {name: features[name].numpy() for name in self.inputs[tower]}
        return np.asarray(self.sessions[tower].run([OUTPUT], feeds)[0], dtype=np.float32)


def ensure_export(model, data_dir: Path) -> tuple[Path, dict[str, list[str]]]:
    """The export folder for this model's weights and these runtime versions, exporting it the first time."""
    folder = export_dir(data_dir, cache_key(model))
    manifest = folder / "export.json"
    whole = all((folder / f"{tower}.onnx").is_file() and (folder / f"{tower}.onnx").stat().st_size > 0
                for tower in TOWERS)
    if manifest.exists() and whole:  # a tower removed by hand (or a copy cut short) is exported again
        return folder, json.loads(manifest.read_text())["inputs"]
    inputs = export(model, folder)
    import onnxruntime
    import torch

    atomic_write(manifest, json.dumps({"inputs": inputs, "torch": torch.__version__, "onnxruntime":
                                       onnxruntime.__version__, "opset": OPSET}, indent=2))  # last: the export is whole
    return folder, inputs


def ensure_int8(folder: Path, inputs: dict[str, list[str]], embed: Embed, calibration,
                from_catalogue: bool = False) -> tuple[OnnxTowers, SelfCheck]:
    """The int8 towers of an export and their self-check, quantising and checking the first time (both stored).
    A check made on the bundled sample alone (the app starting before any catalogue) is done again, and stored,
    the first time a catalogue's own photos are at hand: int8 must be checked on the data it will embed."""
    variant = ".int8-rr" if reduce_range() else ".int8"
    for tower in TOWERS:
        target = folder / f"{tower}{variant}.onnx"
        if not target.exists():
            with atomic_path(target) as tmp:
                _quietly(quantise, folder / f"{tower}.onnx", tmp, variant.endswith("-rr"))
    towers = OnnxTowers(folder, inputs, variant)
    stored = folder / f"check{variant}.json"
    if stored.exists():
        check = SelfCheck.from_dict(json.loads(stored.read_text()))
        if not (from_catalogue and check.source == SAMPLE_SOURCE):
            return towers, check
    check = self_check(embed, towers, calibration())
    atomic_write(stored, json.dumps(check.as_dict(), indent=2))
    return towers, check


def _quietly(function, *args):
    """Run the quantiser without its INFO logging and advice on pre-processing."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args)
    finally:
        logger.setLevel(level)


def check_request(requested: str, device: str, data_dir: Path | None) -> None:
    """Refuse a runtime that cannot run here before any model loads (a wrong setting, not a model problem)."""
    if requested not in RUNTIMES:
        raise ConfigError(f"LENS_RUNTIME must be one of {', '.join(RUNTIMES)}, got {requested!r}")
    if requested in ("onnx", "onnx-int8") and device != "cpu":
        raise ConfigError(f"LENS_RUNTIME={requested} runs on the CPU; with LENS_DEVICE={device} use torch or auto")
    if requested in ("onnx", "onnx-int8") and data_dir is None:
        raise ConfigError(f"LENS_RUNTIME={requested} needs a data dir to keep its export in (LENS_DATA_DIR)")


def choose(model, device: str, requested: str, data_dir: Path | None, embed: Embed, calibration=None) -> Runtime:
    """The runtime to use. auto: torch on a GPU (or without a data dir for the export); on the CPU onnx-int8 if
    its self-check passes, else onnx, else torch (when export or ORT fails). An explicit onnx or onnx-int8 that
    cannot run is an error, but int8 that fails its self-check falls back to onnx fp32 with a note.
    calibration() (a catalogue's photos and texts; None: the bundled sample's) is called only for a check."""
    check_request(requested, device, data_dir)
    if requested == "torch" or (requested == "auto" and (device != "cpu" or data_dir is None)):
        return Runtime("torch")
    from_catalogue = calibration is not None
    calibration = from_sample if calibration is None else calibration
    try:
        folder, inputs = ensure_export(model, data_dir)
        if requested == "onnx":
            return Runtime("onnx", OnnxTowers(folder, inputs))
        try:
            int8, check = ensure_int8(folder, inputs, embed, calibration, from_catalogue)
        except Exception as exc:
            if requested != "auto":
                raise ModelLoadError(f"LENS_RUNTIME={requested}: int8 quantisation failed ({type(exc).__name__}: "
                                     f"{exc}); use LENS_RUNTIME=onnx") from exc
            note, check = f"int8 quantisation failed ({type(exc).__name__}: {exc}): running onnx fp32", None
        else:
            if check.passed:
                return Runtime("onnx-int8", int8, check=check)
            note = f"int8 failed its self-check on {check.source} ({'; '.join(check.failures)}): running onnx fp32"
        return Runtime("onnx", OnnxTowers(folder, inputs), note, check)  # fp32 sessions only when they run
    except ModelLoadError:
        raise
    except Exception as exc:  # an architecture the exporter cannot trace, ORT refusing the graph...
        if requested != "auto":
            raise ModelLoadError(f"LENS_RUNTIME={requested}: the ONNX export or ONNX Runtime failed "
                                 f"({type(exc).__name__}: {exc}); use LENS_RUNTIME=torch") from exc
        return Runtime("torch", note=f"the ONNX export or ONNX Runtime failed ({type(exc).__name__}: {exc}): "
                                     "running torch")
