"""Where a model's files come from: a local folder, the local Hugging Face cache, or the hub if it answers.

Without this, an offline machine spent 75-110 s in the hub client's retries before failing, on every click.
Here a model that is neither a folder nor cached fails after one short probe of the hub, with the setting that
fixes it, and a cached model loads from disk without touching the network.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from core.common.errors import ModelLoadError

PROBE_TIMEOUT_S = 3.0
ST_ORG = "sentence-transformers"  # sentence-transformers expands a bare name like clip-ViT-B-32 to this org


def hub_repo(name: str) -> str:
    """'clip-ViT-B-32' -> 'sentence-transformers/clip-ViT-B-32'; 'org/model' stays."""
    return name if "/" in name else f"{ST_ORG}/{name}"


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def offline_by_setting() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached_snapshot(name: str) -> str | None:
    """The local folder of a hub model already downloaded to this machine's cache, or None."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(hub_repo(name), local_files_only=True)
    except Exception:  # not cached (or a partial download): the hub has to provide it
        return None


def hub_unreachable_reason(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the hub answers (any HTTP status counts); else why not, after at most `timeout` seconds."""
    try:
        urllib.request.urlopen(urllib.request.Request(hub_endpoint(), method="HEAD"), timeout=timeout).close()
        return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


def resolve(name: str, folder_kind: str = "a sentence-transformers CLIP model folder", setting_prefix: str = "") -> str:
    """What to hand to the loader: the cached folder if there is one, else the name if the hub answers.
    folder_kind and setting_prefix word the fix for other loaders (open_clip: 'open_clip:' before the folder)."""
    cached = cached_snapshot(name)
    if cached:
        return cached
    reason = "HF_HUB_OFFLINE is set" if offline_by_setting() else hub_unreachable_reason()
    if reason:
        folder = f"./models/{name.split('/')[-1]}"
        then = f", then LENS_MODEL={setting_prefix}{folder}" if setting_prefix else ""
        raise ModelLoadError(
            f"The embedding model {name!r} is not on this machine, and the Hugging Face hub ({hub_endpoint()}) "
            f"cannot be reached ({reason}). Set LENS_MODEL to {folder_kind} copied "
            "to this machine (for example from a machine with internet: "
            f"hf download {hub_repo(name)} --local-dir {folder}{then}), "
            "or connect this machine to the internet.")
    return name
