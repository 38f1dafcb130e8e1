"""CLIP embedding: one cached model per (name, device, runtime, data dir), streamed image batches, a query cache and
turns at the model. What turns a batch into vectors is the backend: sentence-transformers (torch or its towers in
ONNX Runtime) here, open_clip in core.models.backends.open_clip."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
from PIL import Image

from core.models import model_source

from core.models import onnx_runtime

from core.models import torchvision_compat
from core.common.errors import ImageRejected, ModelLoadError
from core.common.vectors import normalise
from core.ingest.images import MAX_ASPECT

T = TypeVar("T")
CLIP_MAX_TOKENS = 77
QUERY_CACHE_SIZE = 256
BULK_CHUNK = 8  # indexing runs the model 8 images at a time, so a search waits for at most one such chunk
TEXT_BULK_CHUNK = 32  # product texts (20-40 tokens) cost about a quarter of a photo: 32 take as long as 8 photos


class ModelTurns:
    """One forward pass at a time (torch modules and fast tokenizers are shared, not re-entrant), and a
    search that is waiting goes before the next indexing chunk: sessions stay responsive during indexing."""

    def __init__(self):
        self._cond = threading.Condition()
        self._busy = False
        self._queries_waiting = 0

    @contextmanager
    def turn(self, query: bool):
        with self._cond:
            self._queries_waiting += query
            try:
                while self._busy or (not query and self._queries_waiting):
                    self._cond.wait()
            finally:
                self._queries_waiting -= query
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def pick_device(requested: str = "auto") -> str:
    """cuda, then mps, then cpu; an explicit request is honoured if that device exists."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError("LENS_DEVICE asks for cuda but no CUDA GPU is available; unset it or use cpu")
    if requested not in ("cpu", "mps") and not requested.startswith("cuda"):
        raise ModelLoadError(f"LENS_DEVICE must be auto, cuda, mps or cpu, got {requested!r}")
    return requested


@dataclass
class EncodedBatch:
    """One batch out of stream_images: items with vectors, and items whose image was rejected."""

    items: list
    vectors: np.ndarray
    rejected: list  # (item, reason)

    def __len__(self) -> int:
        return len(self.items)


class SentenceTransformerCLIP:
    """A CLIP model through sentence-transformers: a sentence-transformers folder or name, or a plain Hugging Face
    CLIPModel checkpoint (sentence-transformers 6 wraps one by itself). Runs in torch or as ONNX towers."""

    def __init__(self, model_name: str, device: str):
        self.device = device
        if _looks_like_path(model_name) and not Path(model_name).expanduser().exists():
            raise ModelLoadError(f"model folder not found: {model_name}. Set LENS_MODEL to an existing "
                                 "sentence-transformers model folder, or to a model name such as clip-ViT-B-32.")
        source = model_name if _looks_like_path(model_name) else model_source.resolve(model_name)
        try:
            from sentence_transformers import SentenceTransformer

            # PIL image processors, as before torchvision was installed (for open_clip): transformers would
            # otherwise switch to its torchvision ones, and vectors would drift from the indexes already built
            self.model = SentenceTransformer(source, device=device, processor_kwargs={"backend": "pil"})
        except Exception as exc:  # a broken download, a folder that is not a CLIP model...
            raise ModelLoadError(
                f"could not load the embedding model {model_name!r} ({type(exc).__name__}: {exc}). Set "
                "LENS_MODEL to a sentence-transformers CLIP model folder (or a Hugging Face CLIPModel checkpoint) on "
                "this machine, or to a model name such as clip-ViT-B-32 (downloaded once, when the machine is online)."
            ) from exc
        if device.startswith("cuda"):
            self.model.half()  # fp16 on GPU: half the memory, ~2x throughput, same ranking quality
        self.model.max_seq_length = CLIP_MAX_TOKENS
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.image_size = _image_short_side(self.model)

    def prepared_size(self, w: int, h: int) -> tuple[int, int]:
        """The size CLIP's processor resizes a w x h photo to before its centre crop."""
        return short_side_size(w, h, self.image_size)

    def encode(self, batch: list) -> np.ndarray:
        """Unnormalised vectors of one batch of photos or texts, in torch."""
        return self.model.encode(batch, batch_size=len(batch), convert_to_numpy=True,
                                 normalize_embeddings=False, show_progress_bar=False)

    def preprocess(self, batch: list) -> dict:
        """The features the model's processor or tokenizer makes of a batch (what the ORT towers take)."""
        return self.model.preprocess(batch)

    def runtime(self, requested: str, data_dir: Path | None, embed, calibration) -> onnx_runtime.Runtime:
        """torch, or this model's towers exported to ONNX Runtime (core.models.onnx_runtime.choose)."""
        return onnx_runtime.choose(self.model, self.device, requested, data_dir, embed, calibration)


def load_backend(model_name: str, device: str, runtime: str = "torch"):
    """The model behind an Embedder: an open_clip model for an 'open_clip:' name, else sentence-transformers."""
    torchvision_compat.ensure_importable()  # before transformers, which imports torchvision once it is installed
    _quiet_hf()
    from core.models.backends import open_clip as open_clip_adapter

    if open_clip_adapter.is_open_clip(model_name):
        return open_clip_adapter.OpenClipModel(model_name, device, runtime)
    return SentenceTransformerCLIP(model_name, device)


class Embedder:
    """A loaded CLIP model: texts and images in, L2-normalised float32 vectors out.

    model_name is what LENS_MODEL takes: a sentence-transformers or Hugging Face CLIP name or folder, or
    'open_clip:' and an open_clip model (load_backend). The backend turns a batch into vectors; batching, turns
    at the model, the query cache, streaming and normalisation are here, the same for every backend.
    runtime is torch, onnx, onnx-int8 or auto (the backend's runtime()); self.runtime is what runs, and
    self.runtime_note says why it is not what was asked for. The ORT runtimes keep their export under data_dir;
    calibration() gives the photos and texts of int8's first self-check (default: the bundled sample's).
    """

    def __init__(self, model_name: str, device: str = "auto", runtime: str = "torch", data_dir: Path | None = None,
                 calibration: Callable | None = None):
        self.name = model_name
        self.device = pick_device(device)
        requested = (runtime or "torch").lower()
        onnx_runtime.check_request(requested, self.device, data_dir)  # before a model loads
        self.backend = load_backend(model_name, self.device, requested)
        self.model = self.backend.model  # the torch module (ONNX export, benchmarks and tests reach it)
        self.dim, self.image_size = self.backend.dim, self.backend.image_size
        self._turns = ModelTurns()
        self._cache_lock = threading.Lock()  # the query cache only: a cached search never waits for the model
        self._queries: OrderedDict = OrderedDict()  # single-query vectors: reruns of the app re-encode nothing
        chosen = self.backend.runtime(requested, data_dir, self.vectors_with, calibration)
        self.runtime, self.runtime_note, self.self_check = chosen.name, chosen.note, chosen.check
        self._towers = chosen.towers  # None: torch

    def _forward(self, batch: list, towers) -> np.ndarray:
        """One batch's unnormalised vectors, through the backend's torch model or through the ORT towers with the
        same preprocessing (the model's own processor and tokenizer make the inputs for both)."""
        if towers is None:
            return self.backend.encode(batch)
        return towers.run(self.backend.preprocess(batch))

    def vectors_with(self, items: list, towers=None) -> np.ndarray:
        """Normalised vectors of a list of photos or texts through torch (towers None) or the given ORT towers,
        photos prepared as indexing prepares them: the int8 self-check, parity tests and benchmarks compare these."""
        items = [self.prepare(item) if isinstance(item, Image.Image) else item for item in items]
        with self._turns.turn(False):
            parts = [self._forward(items[start:start + 32], towers) for start in range(0, len(items), 32)]
        return normalise(np.concatenate(parts)) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def _encode(self, inputs: list, batch_size: int, query: bool = False, bulk_chunk: int = BULK_CHUNK) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        # On a GPU a whole batch takes milliseconds; on a CPU, small chunks let a waiting search in between.
        chunk = len(inputs) if query or self.device != "cpu" else min(batch_size, bulk_chunk)
        parts = []
        for start in range(0, len(inputs), chunk):
            with self._turns.turn(query):
                parts.append(self._forward(inputs[start:start + chunk], self._towers))
        return normalise(np.asarray(np.concatenate(parts), dtype=np.float32))

    def _cached(self, key, compute) -> np.ndarray:
        with self._cache_lock:
            if key in self._queries:
                self._queries.move_to_end(key)
                return self._queries[key]
        vector = compute()
        vector.flags.writeable = False  # shared between sessions: nobody may change it in place
        with self._cache_lock:
            self._queries[key] = vector
            while len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return vector

    def encode_texts(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Vectors for texts (truncated to CLIP's 77 tokens); a single query text is cached."""
        texts = list(texts)
        if len(texts) == 1:
            return self._cached(("text", texts[0]), lambda: self._encode(texts, batch_size, query=True))
        return self._encode(texts, batch_size, bulk_chunk=TEXT_BULK_CHUNK)

    def encode_images(self, images: list[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Vectors for already-decoded RGB images; a single query image is cached by its pixels."""
        images = list(images)
        if len(images) == 1:
            key = ("image", images[0].size, hashlib.sha1(images[0].tobytes()).hexdigest())
            return self._cached(key, lambda: self._encode(images, batch_size, query=True))
        return self._encode(images, batch_size)

    def prepare(self, image: Image.Image) -> Image.Image:
        """Resize as the model's processor would (CLIP's: the short side to image_size, bicubic), off the main thread,
        so the processor's own resize has nothing left to do. A backend may size photos its own way (open_clip's
        squash models); a stand-in with only image_size (bench/gpu_check) resizes as CLIP's processor."""
        if not self.image_size:
            return image
        w, h = image.size
        backend = getattr(self, "backend", None)
        size = backend.prepared_size(w, h) if backend else short_side_size(w, h, self.image_size)
        # Bound what the resize allocates, whatever the decoder let through (check_shape caps the aspect).
        if size[0] * size[1] > self.image_size ** 2 * MAX_ASPECT:
            raise ImageRejected(f"image is {w}x{h}: resizing it for the model would need {size[0]}x{size[1]} px")
        resample = getattr(backend, "resample", Image.Resampling.BICUBIC)
        return image if size == image.size else image.resize(size, resample)

    def stream_images(self, items: Iterable[T], load: Callable[[T], Image.Image],
                      batch_size: int = 32, workers: int = 2) -> Iterator[EncodedBatch]:
        """Decode and preprocess images in worker threads while the model encodes the previous batch.

        At most two batches of decoded images are alive at once, so memory does not grow with the
        catalogue. load() raises ImageRejected for a bad image; that item is reported, not dropped.
        """
        def work(item: T):
            try:
                return item, self.prepare(load(item)), None
            except ImageRejected as exc:
                return item, None, str(exc)

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
            pending: deque = deque()
            iterator = iter(items)
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * batch_size:
                    try:
                        pending.append(pool.submit(work, next(iterator)))
                    except StopIteration:
                        exhausted = True
                if not pending:
                    return
                done = [pending.popleft().result() for _ in range(min(batch_size, len(pending)))]
                good = [(item, image) for item, image, reason in done if reason is None]
                rejected = [(item, reason) for item, image, reason in done if reason is not None]
                vectors = self.encode_images([image for _, image in good], batch_size)
                yield EncodedBatch([item for item, _ in good], vectors, rejected)


def short_side_size(w: int, h: int, side: int) -> tuple[int, int]:
    """(width, height) with the short side `side` and the long side truncated, as transformers' and torchvision's
    resizes compute it (rounding came out a pixel longer for some shapes, and the processor resampled again)."""
    long_side = max(1, int(side * max(w, h) / min(w, h)))
    return (side, long_side) if w <= h else (long_side, side)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and not _is_hub_id(name)


def _is_local(model_name: str) -> bool:
    """A folder on this machine (retried after a failure: copying it into place is the fix), not a hub model."""
    from core.models.backends import open_clip as open_clip_adapter

    if open_clip_adapter.is_open_clip(model_name):
        return open_clip_adapter.is_local(model_name)
    return _looks_like_path(model_name)


def _is_hub_id(name: str) -> bool:
    # "owner/model" is a hub id; a path has more parts or exists on disk.
    return name.count("/") == 1 and not Path(name).exists()


def _quiet_hf() -> None:
    """Keep the CLI's output to our own progress bar: no per-load weight bars or config chatter."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # logging tweaks are cosmetic
        pass


def _image_short_side(model) -> int | None:
    try:
        size = model[0].processor.image_processor.size
        return int(size.get("shortest_edge") or min(size["height"], size["width"]))
    except Exception:  # a model without an image processor; the processor resizes instead
        return None


_cache: dict[tuple, Embedder] = {}
_failures: dict[tuple, ModelLoadError] = {}
_cache_lock = threading.Lock()


def load_embedder(model_name: str, device: str = "auto", runtime: str = "torch", data_dir: Path | None = None,
                  calibration: Callable | None = None) -> Embedder:
    """Load a model once per process, keyed by (name, resolved device, runtime, data dir); thread-safe.

    A hub model that could not be fetched fails the same way, at once, for the rest of the process (every
    click of the app would otherwise probe the hub again); another model name or device is tried afresh.
    A local folder is always retried: copying it into place is the fix. calibration is used only by int8's
    first self-check (see Embedder), so it is not part of the key.
    """
    runtime = (runtime or "torch").lower()
    # torch keeps nothing under the data dir: one torch model serves every data dir
    folder = str(Path(data_dir).resolve()) if data_dir and runtime != "torch" else ""
    key = (model_name, pick_device(device), runtime, folder)
    with _cache_lock:
        if key in _failures:
            raise _failures[key]
        if key not in _cache:
            try:
                _cache[key] = Embedder(model_name, key[1], runtime, data_dir, calibration)
            except ModelLoadError as exc:
                if not _is_local(model_name):
                    _failures[key] = exc
                raise
        return _cache[key]


def clear_cache() -> None:
    """Forget loaded models and remembered failures (tests, or switching models in a long-lived process)."""
    with _cache_lock:
        _cache.clear()
        _failures.clear()
