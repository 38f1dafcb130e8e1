"""What the app accepts as uploads: each kind's file types and size limit, saving one in chunks, photos on the server."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.common.errors import CatalogError

MB = 1024 * 1024  # Streamlit's megabyte (server.maxUploadSize, file_uploader's max_upload_size)
CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadKind:
    """One kind of upload: what it is called, the file types the uploader accepts, and its size limit."""

    noun: str
    types: tuple[str, ...]
    max_mb: int

    @property
    def max_bytes(self) -> int:
        return self.max_mb * MB

    def check_size(self, name: str, size: int) -> None:
        """Raise CatalogError when a file of `size` bytes is over this kind's limit (the browser refuses such a
        file before the app sees it; this is the app's own check, for a client that does not)."""
        if size > self.max_bytes:
            raise CatalogError(f"{name} is {size / MB:,.1f} MB; a {self.noun} may be at most {self.max_mb:,} MB")


# A catalogue or feed, ours or a reference: comma-, semicolon-, tab- or pipe-separated (core.ingest.catalog sniffs which),
# so a Merchant Center .tsv or a .txt export is taken like a .csv. Far below a zip of photos: 200 MB is a
# catalogue of several hundred thousand products with descriptions.
CATALOGUE = UploadKind("catalogue file", ("csv", "tsv", "txt"), 200)
# A zip of photos through the browser. Streamlit (1.67) keeps an upload in the server's memory until the session
# lets go of it, so this is what one upload may cost in RAM: 1,000 MB, half of what the zip import lets a zip
# expand to. A larger zip is given as a path on the server (read from disk, up to zip_import.MAX_TOTAL_BYTES), or
# unzipped, as a folder, which has no size limit at all.
PHOTOS_ZIP = UploadKind("zip of photos", ("zip",), 1000)
# A photo to search with: as large as a photo behind a URL may be (LENS_IMAGE_MAX_BYTES' default).
QUERY_PHOTO = UploadKind("query photo", ("jpg", "jpeg", "png", "webp"), 20)
# The largest kind is the server's own cap (.streamlit/config.toml server.maxUploadSize; a test keeps them equal).
SERVER_MAX_MB = max(kind.max_mb for kind in (CATALOGUE, PHOTOS_ZIP, QUERY_PHOTO))


def save_upload(source, path: Path, kind: UploadKind, name: str | None = None) -> Path:
    """Copy a file object to path in chunks (never one more copy of the whole file in memory) and atomically:
    a file over kind's limit raises CatalogError and leaves nothing, nor does a failed write (OSError)."""
    from core.common.files import atomic_path

    name = name or getattr(source, "name", None) or Path(path).name
    if getattr(source, "size", None) is not None:  # an upload says its size: refuse it by that, before writing
        kind.check_size(name, source.size)
    source.seek(0)
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as out:
        written = 0
        while chunk := source.read(CHUNK):
            written += len(chunk)
            kind.check_size(name, written)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return Path(path)


def server_photos(text: str) -> Path | None:
    """The folder or .zip of photos named by a path on the server; None for no path. CatalogError, saying what
    is wrong, when nothing is there or it is a file but not a zip."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        path = Path(text).expanduser()  # "~nosuchuser" raises RuntimeError
        if path.is_dir():
            return path
        if not path.exists():
            raise CatalogError(f"no folder or .zip of photos at {text} on this server")
        if path.is_file() and zipfile.is_zipfile(path):
            return path
    except (OSError, RuntimeError) as exc:  # no permission, a name too long, an unknown user
        raise CatalogError(f"cannot read {text} on this server: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix.lower() == ".zip":
        raise CatalogError(f"{text} is not a zip file (or a damaged one)")
    raise CatalogError(f"{text} is neither a folder nor a .zip of photos: give the photos' folder, or a .zip of them")


def is_zip(path: Path | None) -> bool:
    """A server_photos path that is a zip to extract, not a folder to read."""
    return path is not None and not Path(path).is_dir()
