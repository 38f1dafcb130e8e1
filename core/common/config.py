"""Settings: the one place that reads environment variables (and Streamlit secrets, passed in)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_MODEL = "clip-ViT-B-32"

# The largest photo decoded, in pixels (LENS_MAX_PIXELS's default): checked from the header before decoding.
MAX_PIXELS = 40_000_000

# Documented options: name -> (default, meaning). tests/test_config.py asserts each is in the README.
OPTIONS: dict[str, tuple[str, str]] = {
    "LENS_MODEL": (DEFAULT_MODEL, "a CLIP model: a sentence-transformers or Hugging Face CLIP name or folder, or open_clip:NAME"),
    "LENS_DEVICE": ("auto", "cuda, mps or cpu; auto picks cuda (fp16), then mps, then cpu"),
    "LENS_RUNTIME": ("auto", "how the model runs: torch, onnx (ONNX Runtime fp32), onnx-int8 (int8, used only after "
                     "its self-check passes, else onnx) or auto: torch on a GPU (fp16), onnx-int8 on a CPU, "
                     "falling back to onnx, then torch"),
    "LENS_DATA_DIR": (".lens", "where the embedded Qdrant shard, boards and maps live"),
    "LENS_COLLECTION": ("products", "Qdrant collection name"),
    "LENS_BATCH_SIZE": ("32", "images per embedding batch"),
    "LENS_MAX_PIXELS": (str(MAX_PIXELS), "images with more pixels are refused (decompression bombs)"),
    "LENS_MAX_PHOTOS": ("10", "photos kept per product, the main photo first and counted (a Merchant Center row may "
                        "give 1 + 10), at most 100; a product with more keeps the first ones, with a note"),
    "LENS_SHARED_PHOTO_MIN": ("5", "a photo used by this many products or more (a size chart, a brand banner, a "
                              "placeholder) is shown but left out of matching, duplicates and the audit"),
    "LENS_ALLOW_PRIVATE_URLS": ("0", "1 lets image URLs reach loopback, private and link-local hosts (an intranet "
                                "image server); refused by default"),
    "LENS_IMAGE_TIMEOUT": ("20", "seconds one wait on an image URL may take (connect, each read); the whole "
                           "fetch, redirects and retries included, ends within 3 times this"),
    "LENS_IMAGE_MAX_BYTES": ("20000000", "image URLs with a larger body are refused"),
    "QDRANT_URL": ("", "when set, use this Qdrant server instead of the embedded engine"),
    "QDRANT_API_KEY": ("", "API key for QDRANT_URL (never shown or logged)"),
    "QDRANT_TIMEOUT": ("30", "seconds to wait for the Qdrant server before a request fails"),
    "LENS_QUANTIZATION": ("auto", "int8 vectors (originals rescore the best candidates): auto from 20,000 products "
                          "or when the size is not known, on, or off; fixed when the index is created"),
    "LENS_HNSW_EF": ("128", "HNSW candidates per query: higher is more exact and slower"),
    "LENS_OVERSAMPLING": ("2.0", "with int8 vectors, limit x this candidates are rescored with the originals"),
    "LENS_SHARDS": ("1", "shards of a new server collection (a 3-node cluster: 6)"),
    "LENS_REPLICAS": ("1", "copies of each shard of a new server collection (a 3-node cluster: 2)"),
    "LENS_WRITE_CONSISTENCY": ("1", "replicas that must confirm a write to a new server collection"),
    "LENS_READ_CONSISTENCY": ("1", "server replicas a read asks: a number, majority, quorum or all"),
    "LENS_NUMBA_CACHE_DIR": ("~/.cache/catalog-lens/numba", "numba's compiled UMAP kernels: one folder per machine, "
                             "shared by every data dir, so only the first map on a machine compiles them (unset: "
                             "numba's own NUMBA_CACHE_DIR where that is set)"),
    "LENS_MAP_FIT_GATE": ("", "for tests: a file the background UMAP fit waits for before it starts (unset: no wait)"),
}

REDACTED = "***"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build with Settings.from_env()."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    runtime: str = "auto"
    data_dir: Path = Path(".lens")
    collection: str = "products"
    batch_size: int = 32
    max_pixels: int = MAX_PIXELS
    max_photos: int = 10
    shared_photo_min: int = 5
    allow_private_urls: bool = False
    image_timeout: int = 20
    image_max_bytes: int = 20_000_000
    qdrant_url: str = ""
    qdrant_api_key: str = field(default="", repr=False)
    qdrant_timeout: int = 30
    quantization: str = "auto"
    hnsw_ef: int = 128
    oversampling: float = 2.0
    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    read_consistency: str = "1"
    numba_cache_dir: Path = field(default_factory=lambda: numba_cache_dir({}))
    map_fit_gate: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None) -> "Settings":
        """Read LENS_* and QDRANT_* from env, falling back to secrets, then defaults."""
        env = os.environ if env is None else env
        secrets = secrets or {}

        def get(name: str) -> str:
            value = env.get(name) or secrets.get(name) or OPTIONS[name][0]
            return str(value).strip()

        return cls(
            model=get("LENS_MODEL"),
            device=get("LENS_DEVICE").lower(),
            runtime=_one_of("LENS_RUNTIME", get("LENS_RUNTIME").lower(), ("auto", "torch", "onnx", "onnx-int8")),
            data_dir=Path(get("LENS_DATA_DIR")).expanduser(),
            collection=get("LENS_COLLECTION"),
            batch_size=_positive_int("LENS_BATCH_SIZE", get("LENS_BATCH_SIZE")),
            max_pixels=_positive_int("LENS_MAX_PIXELS", get("LENS_MAX_PIXELS")),
            max_photos=_photo_cap(get("LENS_MAX_PHOTOS")),
            shared_photo_min=_at_least_two("LENS_SHARED_PHOTO_MIN", get("LENS_SHARED_PHOTO_MIN")),
            allow_private_urls=get("LENS_ALLOW_PRIVATE_URLS").lower() in ("1", "true", "yes"),
            image_timeout=_positive_int("LENS_IMAGE_TIMEOUT", get("LENS_IMAGE_TIMEOUT")),
            image_max_bytes=_positive_int("LENS_IMAGE_MAX_BYTES", get("LENS_IMAGE_MAX_BYTES")),
            qdrant_url=get("QDRANT_URL"),
            qdrant_api_key=get("QDRANT_API_KEY"),
            qdrant_timeout=_positive_int("QDRANT_TIMEOUT", get("QDRANT_TIMEOUT")),
            quantization=_one_of("LENS_QUANTIZATION", get("LENS_QUANTIZATION").lower(), ("auto", "on", "off")),
            hnsw_ef=_positive_int("LENS_HNSW_EF", get("LENS_HNSW_EF")),
            oversampling=_at_least_one("LENS_OVERSAMPLING", get("LENS_OVERSAMPLING")),
            shards=_positive_int("LENS_SHARDS", get("LENS_SHARDS")),
            replicas=_positive_int("LENS_REPLICAS", get("LENS_REPLICAS")),
            write_consistency=_positive_int("LENS_WRITE_CONSISTENCY", get("LENS_WRITE_CONSISTENCY")),
            read_consistency=_read_consistency(get("LENS_READ_CONSISTENCY").lower()),
            numba_cache_dir=numba_cache_dir({name: env.get(name) or secrets.get(name) or ""
                                             for name in ("LENS_NUMBA_CACHE_DIR", "NUMBA_CACHE_DIR")}),
            map_fit_gate=get("LENS_MAP_FIT_GATE"),
        )

    def with_overrides(self, **changes) -> "Settings":
        """Copy with the given non-None fields replaced (CLI flags win over env)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def backend_label(self) -> str:
        """Human-readable backend: 'embedded (<dir>)' or the server URL with its credentials redacted."""
        return redact_url(self.qdrant_url) if self.qdrant_url else f"embedded ({self.data_dir})"


def numba_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """numba's on-disk cache, for code that has no Settings (the map worker, `compute_map`'s default): one folder
    per machine, not per data dir, so a second catalogue or a test server never compiles UMAP's kernels again."""
    env = os.environ if env is None else env
    chosen = (env.get("LENS_NUMBA_CACHE_DIR") or "").strip() or (env.get("NUMBA_CACHE_DIR") or "").strip()
    return Path(chosen or OPTIONS["LENS_NUMBA_CACHE_DIR"][0]).expanduser()


def redact_url(url: str) -> str:
    """The URL as it may be shown: password (or a lone user token), query values and fragment become ***."""
    parts = _split(url)
    if parts is None:
        return REDACTED
    if "@" in parts.path:  # an unescaped "/" in the password: nothing after the scheme can be trusted
        return f"{parts.scheme}://{REDACTED}" if parts.scheme else REDACTED
    userinfo, at, host = parts.netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        host = f"{user}:{REDACTED}@{host}" if colon else f"{REDACTED}@{host}"
    query = "&".join(f"{key}={REDACTED}" if sep else REDACTED
                     for key, sep, _ in (item.partition("=") for item in parts.query.split("&")))
    shown = urlunsplit((parts.scheme, host, parts.path, query if parts.query else "",
                        REDACTED if parts.fragment else ""))
    return shown if "://" in url else shown.removeprefix("//")


def scrub(text: str, url: str = "", api_key: str = "") -> str:
    """text with url redacted and every credential it holds (and the API key) replaced by ***, raw or decoded."""
    if url:
        text = text.replace(url, redact_url(url))
    for secret in sorted({*_url_secrets(url), api_key} - {""}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _split(url: str):
    """urlsplit that also reads 'user:pass@host:6333' (no scheme) as qdrant-client does; None if unparseable."""
    try:
        return urlsplit(url if "://" in url else f"//{url}")
    except ValueError:
        return None


def _url_secrets(url: str) -> set[str]:
    """What redact_url hides: the password (or lone user), query values and fragment, as written and decoded."""
    parts = _split(url)
    if parts is None or "@" in parts.path:
        found = {url.partition("://")[2] or url}
    else:
        userinfo, at, _ = parts.netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        found = {password if colon else user} if at else set()
        found |= {value for _, _, value in (item.partition("=") for item in parts.query.split("&"))}
        found |= {item for item in parts.query.split("&") if "=" not in item}
        found.add(parts.fragment)
    return {form for secret in found for form in (secret, unquote(secret))} - {""}


def _positive_int(name: str, raw: str) -> int:
    from core.common.errors import ConfigError

    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


MAX_PHOTOS_LIMIT = 100  # every photo is a row of the product's multivector and a thumbnail on its page: keep it bounded


def _photo_cap(raw: str) -> int:
    from core.common.errors import ConfigError

    value = _positive_int("LENS_MAX_PHOTOS", raw)
    if value > MAX_PHOTOS_LIMIT:
        raise ConfigError(f"LENS_MAX_PHOTOS must be {MAX_PHOTOS_LIMIT} or less (each photo is a vector row and a "
                          f"thumbnail), got {raw!r}")
    return value


def _at_least_two(name: str, raw: str) -> int:
    from core.common.errors import ConfigError

    value = _positive_int(name, raw)
    if value < 2:
        raise ConfigError(f"{name} must be 2 or more (a photo one product uses is never shared), got {raw!r}")
    return value


def _one_of(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    from core.common.errors import ConfigError

    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _at_least_one(name: str, raw: str) -> float:
    from core.common.errors import ConfigError

    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 1.0 or value == float("inf"):  # also refuses nan
        raise ConfigError(f"{name} must be a number of at least 1, got {raw!r}")
    return value


def _read_consistency(raw: str) -> str:
    """A replica count, or majority / quorum / all (Qdrant's read consistency)."""
    if raw in ("majority", "quorum", "all"):
        return raw
    return str(_positive_int("LENS_READ_CONSISTENCY", raw))
