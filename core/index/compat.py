"""The one rule for "is this index's model mine": vectors compare only when one model, at one size, made them."""

from __future__ import annotations

from core.common.errors import ModelMismatch

# What to do about a mismatch, said once for every caller that loads a model to read an index.
USE_THE_INDEX_MODEL = "use that model (LENS_MODEL), or re-index with --recreate"


def model_of(meta: dict | None) -> tuple[str | None, int | None]:
    """(model name, vector size) recorded in an index's metadata; a missing or unreadable size is None."""
    meta = meta or {}
    try:
        dim = int(meta["dim"])
    except (KeyError, TypeError, ValueError):
        dim = None
    return meta.get("model"), dim


def same_model(meta: dict | None, model: str | None, dim: int | None) -> bool:
    """True when the index (its metadata) was built by `model` at `dim`; an unknown size never matches."""
    name, size = model_of(meta)
    return name == model and size is not None and dim is not None and size == int(dim)


def require_same_model(meta: dict | None, model: str | None, dim: int | None, *, index: str = "the index",
                       other: str = "", advice: str = USE_THE_INDEX_MODEL) -> None:
    """ModelMismatch, naming both models and sizes, unless (model, dim), the model `other` names, is the one
    `index` was built with."""
    if same_model(meta, model, dim):
        return
    name, size = model_of(meta)
    whose = f", {other}" if other else ""
    raise ModelMismatch(f"{index} was built with model {name!r} ({size} dims), not {model!r} ({dim} dims){whose}. "
                        f"{advice[:1].upper()}{advice[1:]}.")
