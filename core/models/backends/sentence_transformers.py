"""CLIP models through sentence-transformers (a sentence-transformers name or folder, or a plain Hugging Face CLIPModel
checkpoint): their loading, sizing and processor; torch, or their towers in ONNX Runtime (core.models.onnx_runtime)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from core.common.errors import ModelLoadError
from core.models import model_source, onnx_runtime
from core.models.backends.preprocess import short_side_size

CLIP_MAX_TOKENS = 77


class SentenceTransformerCLIP:
    """A CLIP model through sentence-transformers: a sentence-transformers folder or name, or a plain Hugging Face
    CLIPModel checkpoint (sentence-transformers 6 wraps one by itself). Runs in torch or as ONNX towers."""

    resample = Image.Resampling.BICUBIC  # CLIP's processors resize with bicubic

    def __init__(self, model_name: str, device: str):
        self.device = device
        if looks_like_path(model_name) and not Path(model_name).expanduser().exists():
            raise ModelLoadError(f"model folder not found: {model_name}. Set LENS_MODEL to an existing "
                                 "sentence-transformers model folder, or to a model name such as clip-ViT-B-32.")
        source = model_name if looks_like_path(model_name) else model_source.resolve(model_name)
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
        self.image_size = image_short_side(self.model)

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


def looks_like_path(name: str) -> bool:
    """Whether LENS_MODEL names a folder (a path) rather than a model on the hub."""
    return name.startswith((".", "/", "~")) or os.sep in name and not is_hub_id(name)


def is_hub_id(name: str) -> bool:
    # "owner/model" is a hub id; a path has more parts or exists on disk.
    return name.count("/") == 1 and not Path(name).exists()


def image_short_side(model) -> int | None:
    """The short side the model's image processor resizes photos to; None for a model without one."""
    try:
        size = model[0].processor.image_processor.size
        return int(size.get("shortest_edge") or min(size["height"], size["width"]))
    except Exception:  # a model without an image processor; the processor resizes instead
        return None
