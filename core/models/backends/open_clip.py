"""open_clip models behind the Embedder ('open_clip:' names): their loading, preprocessing and tokenizer; torch only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.common.errors import ModelLoadError
from core.models import model_source, torchvision_compat
from core.models.backends.preprocess import short_side_size
from core.models.onnx_runtime import Runtime

PREFIX = "open_clip:"
HF_HUB, LOCAL_DIR = "hf-hub:", "local-dir:"  # open_clip's own schemas
RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}  # open_clip's names
# The weights file open_clip's local-dir loading picks, in its order (open_clip.factory._find_checkpoint_in_dir).
WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
           "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")
TORCH_ONLY = "open_clip models run on torch (the ONNX runtimes export sentence-transformers models only)"


def is_open_clip(model_name: str) -> bool:
    """Whether LENS_MODEL names an open_clip model (it starts with 'open_clip:')."""
    return (model_name or "").startswith(PREFIX)


def is_local(model_name: str) -> bool:
    """Whether an 'open_clip:' name is a folder on this machine (else a hub repo)."""
    spec = model_name[len(PREFIX):].strip()
    return spec.startswith(LOCAL_DIR) or _is_folder(spec)


def open_clip_source(model_name: str) -> str:
    """What open_clip loads for an 'open_clip:' name: always 'local-dir:<folder>', a folder on this machine or a hub
    repo's snapshot in the local Hugging Face cache (fetched there first when the hub answers). One way of loading,
    online or not: open_clip's own hf-hub loading would take the tokenizer from another repo, which an offline
    machine may not have. A built-in architecture name carries no weights, so it is refused, not run at random."""
    spec = model_name[len(PREFIX):].strip()
    if is_local(model_name):
        folder = Path(spec.removeprefix(LOCAL_DIR)).expanduser()
    else:
        repo = spec.removeprefix(HF_HUB)
        if "/" not in repo:
            raise ModelLoadError(f"{model_name}: name an open_clip model with its weights, such as "
                                 "open_clip:hf-hub:Marqo/marqo-fashionSigLIP, or open_clip:/path/to/folder")
        found = model_source.resolve(repo, folder_kind="an open_clip model folder", setting_prefix=PREFIX)
        folder = Path(found if found != repo else download(repo))
    if not (folder / "open_clip_config.json").is_file():
        raise ModelLoadError(f"{model_name}: no open_clip model folder there (it needs open_clip_config.json "
                             "and the weights, as on the hub). Set LENS_MODEL to open_clip: and such a folder.")
    return LOCAL_DIR + str(folder.resolve())


def download(repo: str) -> str:
    """Fetch what open_clip reads of a hub repo into the local cache (its config, the tokenizer's files and one
    weights file, the one open_clip would pick), not the repo's other copies of the weights; returns the folder."""
    try:
        from huggingface_hub import HfApi, snapshot_download

        files = set(HfApi().list_repo_files(repo))
        weights = next((name for name in WEIGHTS if name in files), None)
        return snapshot_download(repo, allow_patterns=hub_patterns(weights))
    except Exception as exc:  # no such repo, a private one, the connection dropping...
        raise ModelLoadError(f"could not fetch the open_clip model {repo!r} from the Hugging Face hub "
                             f"({type(exc).__name__}: {exc})") from exc


def hub_patterns(weights: str | None) -> list[str]:
    """The files of a hub repo that open_clip's local-dir loading reads: configs and tokenizer files, and weights."""
    return ["*.json", "*.txt", "*.model", *([weights] if weights else [])]


def _is_folder(spec: str) -> bool:
    # a hub repo is 'org/model' (optionally after hf-hub:); a folder starts like a path or exists
    return spec.startswith((".", "/", "~")) or (not spec.startswith(HF_HUB) and Path(spec).expanduser().is_dir())


def import_open_clip():
    """open_clip, once torchvision imports here (core.models.torchvision_compat says why that can take stand-ins)."""
    torchvision_compat.ensure_importable()
    try:
        import open_clip
    except ImportError as exc:
        raise ModelLoadError(f"open_clip models need open_clip_torch ({exc}); install it with "
                             "pip install -r requirements.txt") from exc
    return open_clip


class OpenClipModel:
    """An open_clip CLIP (or SigLIP) model: its own transform and tokenizer make the inputs, encode_image and
    encode_text the vectors; dim is what the model outputs.

    It runs on torch only. auto says so in its note. An explicit onnx or onnx-int8 is refused before the model
    loads rather than run as torch: as with a sentence-transformers model whose export fails, a runtime asked
    for by name either runs or is an error, so a slower runtime never hides behind the setting that asked for speed.
    Embedder.prepare resizes photos as open_clip's transform will (prepared_size, resample), so that transform's
    resize has nothing left to do: the same vectors as open_clip on the original photo, whatever its size.
    """

    def __init__(self, model_name: str, device: str, runtime: str = "torch"):
        if runtime in ("onnx", "onnx-int8"):
            raise ModelLoadError(f"LENS_RUNTIME={runtime}: {TORCH_ONLY}; use LENS_RUNTIME=torch or auto")
        self.device = device
        source = open_clip_source(model_name)
        open_clip = import_open_clip()
        import torch

        try:
            self.model, self._transform = open_clip.create_model_from_pretrained(
                source, device=device, precision="fp16" if device.startswith("cuda") else "fp32")
            self._tokenizer = open_clip.get_tokenizer(source)
        except Exception as exc:  # missing weights, a config open_clip does not know, a failed download...
            raise ModelLoadError(f"could not load the open_clip model {model_name!r} ({type(exc).__name__}: {exc}). "
                                 "Set LENS_MODEL to open_clip:hf-hub:org/repo or open_clip: and a folder holding "
                                 "open_clip_config.json and the weights.") from exc
        self.model.eval()
        self._dtype = next(self.model.parameters()).dtype
        config = open_clip.get_model_preprocess_cfg(self.model)
        size = config.get("size")
        height, width = (size if isinstance(size, (tuple, list)) else (size, size)) if size else (None, None)
        self.image_size = int(min(height, width)) if size else None
        self._squash = (int(width), int(height)) if size and config.get("resize_mode") == "squash" else None
        self.resample = RESAMPLE.get(config.get("interpolation"), Image.Resampling.BICUBIC)
        with torch.inference_mode():  # the dimension comes from the model: one empty text through it
            self.dim = int(self.model.encode_text(self._tokenizer([""]).to(device)).shape[-1])

    def prepared_size(self, w: int, h: int) -> tuple[int, int]:
        """The size open_clip's transform resizes a w x h photo to: a square for 'squash' models, else the short side
        to image_size ('longest' models, rare, resize once more there: their own rounding keeps the long side)."""
        return self._squash or short_side_size(w, h, self.image_size)

    def encode(self, batch: list) -> np.ndarray:
        """Unnormalised vectors of one batch of photos (PIL) or texts, through open_clip's own forward."""
        import torch

        with torch.inference_mode():
            if isinstance(batch[0], Image.Image):
                pixels = torch.stack([self._transform(image) for image in batch]).to(self.device, self._dtype)
                out = self.model.encode_image(pixels)
            else:
                out = self.model.encode_text(self._tokenizer(list(batch)).to(self.device))
        return out.float().cpu().numpy()

    def preprocess(self, batch: list):
        raise NotImplementedError(TORCH_ONLY)  # only ORT towers call this, and runtime() never makes them

    def runtime(self, requested: str, data_dir, embed, calibration) -> Runtime:
        """torch; auto notes why it is not ONNX (an explicit ONNX request was refused in __init__)."""
        return Runtime("torch", note=TORCH_ONLY if requested == "auto" else "")
