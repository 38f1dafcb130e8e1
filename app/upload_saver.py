"""Keeping what was uploaded, for every page that indexes: a safe file name, the catalogue saved in chunks, the photos
chosen, and a photos zip extracted whole or not at all."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.upload_panel import PhotosChoice
from core.common.config import Settings
from core.common.errors import CatalogError
from core.ingest import uploads  # its kinds are read when used: a test may set smaller limits

MAX_UPLOAD_NAME_BYTES = 100  # leaves room for atomic_write's ".<name>.<pid>.<thread>.tmp" under 255 bytes


@dataclass(frozen=True)
class SavedInputs:
    """What one indexing run reads: the catalogue's path, the photos folder (None: none), a zip to extract into
    that folder first (an upload, or a zip's path on the server), and the name a user knows the catalogue by."""

    catalogue: Path
    images_dir: Path | None
    photos_zip: object | None = None
    shown_name: str | None = None  # an upload's own name, said in messages instead of where the server saved it


def save_inputs(config: Settings, catalogue, photos: PhotosChoice, folder: Path | None = None,
                photos_to: Path | None = None) -> SavedInputs:
    """The catalogue (an upload, saved under `folder`, by default uploads/; or a path on this machine, used where
    it is) and the photos chosen for it (a zip is extracted to `photos_to`, by default photos_folder).

    A chosen zip that never arrived, or one over its limit, is a CatalogError before anything is written; so is a
    catalogue the disk refuses (full or read-only). The zip itself is extracted by the run, under its lock.
    """
    uploaded = not isinstance(catalogue, (str, Path))
    name = catalogue.name if uploaded else Path(catalogue).name
    photos_zip, images_dir = photos.resolve(photos_to or photos_folder(name, config))
    if not uploaded:
        return SavedInputs(Path(catalogue), images_dir, photos_zip)
    try:
        target = saved_upload(catalogue, config, folder)
    except OSError as exc:  # a full or read-only disk
        raise CatalogError(f"The uploaded CSV cannot be saved under the data folder: {exc.strerror or exc}") from None
    return SavedInputs(target, images_dir, photos_zip, shown_name=catalogue.name)


def upload_name(name: str, default: str = "upload.csv") -> str:
    """A browser-sent file name as a safe name for a file in the uploads folder.

    The name is the client's to choose: it may be empty, ".", "..", a path, or longer than a file system
    allows. Keep the last path part, replace anything but letters, digits, "_", "-", "." and spaces, strip
    leading dots (no hidden files, never "." or ".."), and cut it to MAX_UPLOAD_NAME_BYTES keeping the suffix.
    """
    base = re.split(r"[/\\]", name or "")[-1]
    safe = re.sub(r"[^\w. -]", "_", base).strip(" .")
    stem, dot, suffix = safe.rpartition(".")
    if not dot or not stem or len(suffix) > 10:
        stem, suffix = safe, ""
    suffix = f".{suffix}" if suffix else ""
    room = MAX_UPLOAD_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{stem}{suffix}" if stem else default


def saved_upload(uploaded, config: Settings, folder=None) -> Path:
    """Keep an uploaded catalogue under the data dir (or folder) so its rows can be re-read; returns its path.

    Written in chunks from the upload, never copied whole; over the catalogue limit it is a CatalogError and
    nothing is kept.
    """
    path = Path(folder or Path(config.data_dir) / "uploads") / upload_name(uploaded.name)
    return uploads.save_upload(uploaded, path, uploads.CATALOGUE, uploaded.name)


def photos_folder(csv_name: str, config: Settings) -> Path:
    """Where the photos zip uploaded with a CSV goes: uploads/<the CSV's safe name>-photos/, one per catalogue."""
    name = upload_name(csv_name)
    return Path(config.data_dir) / "uploads" / f"{Path(name).stem or name}-photos"


def extract_upload(photos_zip, target):
    """Extract a zip's photos (an upload, or a zip's path on the server) into target, replacing what an earlier
    zip put there; the report.

    The zip is streamed into a fresh folder beside target and swapped in only when it is complete: a bomb, a
    broken zip or an upload over the zip limit (CatalogError) leaves the earlier photos as they were and nothing new.
    """
    from core.ingest.zip_import import extract_photos

    target = Path(target)
    fresh = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.new")
    try:
        if hasattr(photos_zip, "seek"):  # an upload, read again from its start
            uploads.PHOTOS_ZIP.check_size(photos_zip.name, photos_zip.size)
            photos_zip.seek(0)
        report = extract_photos(photos_zip, fresh)
    except CatalogError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise CatalogError(f"The photos zip {photos_zip.name} was not imported: {exc}") from None
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return report
