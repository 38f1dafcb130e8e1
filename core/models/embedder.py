"""The model the product embeds with: load_embedder (one cached Embedder per name, device, runtime and data dir), the
Embedder (streamed image batches, a query cache, turns at the model, normalisation), and the protocols that say
what the rest of the product may use of a model (QueryEncoder, EmbeddingModel) and what an Embedder needs of its
backend (Backend). What turns a batch into vectors is the backend: core.models.backends.sentence_transformers
(torch, or its towers in ONNX Runtime) or core.models.backends.open_clip."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar, runtime_checkable

import numpy as np
from PIL import Image

from core.common.errors import ImageRejected, ModelLoadError
from core.common.vectors import normalise
from core.models import onnx_runtime, torchvision_compat
from core.models.backends import open_clip as open_clip_backend
from core.models.backends import sentence_transformers as st_backend
from core.models.backends.preprocess import resized_for_model

T = TypeVar("T")
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

    @property
    def queries_waiting(self) -> int:
        """How many searches wait for a turn now (what tests of the order of turns wait for)."""
        with self._cond:
            return self._queries_waiting

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


@runtime_checkable
class QueryEncoder(Protocol):
    """What a search uses of a model: its name and vector size (an index must have been built by the same model),
    the short side it sees photos at (a query photo is decoded no larger; None: any size), and query vectors."""

    name: str
    dim: int
    image_size: int | None

    def encode_texts(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""

    def encode_images(self, images: list[Image.Image], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, one row per decoded RGB photo."""


@runtime_checkable
class EmbeddingModel(QueryEncoder, Protocol):
    """What the rest of the product uses of a model (an Embedder, or a stand-in in tests and benchmarks): a
    QueryEncoder that also indexes, streaming photos through its decode threads, and says where and how it runs
    (device: cpu, cuda or mps; runtime: torch, onnx or onnx-int8; runtime_note: why not the runtime asked for)."""

    device: str
    runtime: str
    runtime_note: str

    def stream_images(self, items: Iterable[T], load: Callable[[T], Image.Image], batch_size: int = 32,
                      workers: int = 2) -> Iterator[EncodedBatch]:
        """Batches of items with their vectors, and the items whose photo load() rejected (ImageRejected)."""


class Backend(Protocol):
    """What an Embedder needs of its backend (one module per kind of model in core.models.backends)."""

    model: Any  # the torch module (ONNX export, benchmarks and tests reach it)
    dim: int
    image_size: int | None  # the short side the model sees photos at; None: its processor sizes them
    resample: Image.Resampling  # the filter of the model's own resize

    def prepared_size(self, w: int, h: int) -> tuple[int, int]:
        """The size the model's processor resizes a w x h photo to (Embedder.prepare does it ahead)."""

    def encode(self, batch: list) -> np.ndarray:
        """Unnormalised vectors of one batch of photos or texts, in torch."""

    def preprocess(self, batch: list) -> dict:
        """The features the model's processor makes of a batch (what ONNX towers take)."""

    def runtime(self, requested: str, data_dir: Path | None, embed, calibration) -> onnx_runtime.Runtime:
        """What runs: torch, or ONNX towers (core.models.onnx_runtime.choose)."""


def load_backend(model_name: str, device: str, runtime: str = "torch") -> Backend:
    """The model behind an Embedder: an open_clip model for an 'open_clip:' name, else sentence-transformers."""
    torchvision_compat.ensure_importable()  # before transformers, which imports torchvision once it is installed
    quiet_hf()
    if open_clip_backend.is_open_clip(model_name):
        return open_clip_backend.OpenClipModel(model_name, device, runtime)
    return st_backend.SentenceTransformerCLIP(model_name, device)


class Embedder:
    """A loaded CLIP model, the product's EmbeddingModel: texts and images in, L2-normalised float32 vectors out.

    model_name is what LENS_MODEL takes: a sentence-transformers or Hugging Face CLIP name or folder, or
    'open_clip:' and an open_clip model (load_backend picks the backend). The backend turns a batch into vectors; batching, turns
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
        self.backend: Backend = load_backend(model_name, self.device, requested)
        self.model = self.backend.model  # the torch module (ONNX export, benchmarks and tests reach it)
        self.dim, self.image_size = self.backend.dim, self.backend.image_size
        self.turns = ModelTurns()
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
        with self.turns.turn(False):
            parts = [self._forward(items[start:start + 32], towers) for start in range(0, len(items), 32)]
        return normalise(np.concatenate(parts)) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def _encode(self, inputs: list, batch_size: int, query: bool = False, bulk_chunk: int = BULK_CHUNK) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        # On a GPU a whole batch takes milliseconds; on a CPU, small chunks let a waiting search in between.
        chunk = len(inputs) if query or self.device != "cpu" else min(batch_size, bulk_chunk)
        parts = []
        for start in range(0, len(inputs), chunk):
            with self.turns.turn(query):
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
        """Resize as the model's processor would (CLIP's: the short side to image_size, bicubic; open_clip's squash
        models: to a square), off the main thread, so the processor's own resize has nothing left to do."""
        if not self.image_size:
            return image
        return resized_for_model(image, self.backend.prepared_size(*image.size), self.image_size,
                                 self.backend.resample)

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


def _is_local(model_name: str) -> bool:
    """A folder on this machine (retried after a failure: copying it into place is the fix), not a hub model."""
    if open_clip_backend.is_open_clip(model_name):
        return open_clip_backend.is_local(model_name)
    return st_backend.looks_like_path(model_name)


def quiet_hf() -> None:
    """Keep the CLI's output to our own progress bar: no per-load weight bars or config chatter."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # logging tweaks are cosmetic
        pass


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
