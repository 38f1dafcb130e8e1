"""Extracting an uploaded zip of product photos: images only, never outside the target, and under zip-bomb caps."""

from __future__ import annotations

import lzma
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.ingest.catalog import IMAGE_EXTENSIONS
from core.common.errors import CatalogError

CHUNK = 1 << 20
DRIVE = re.compile(r"^[A-Za-z]:")

# Caps on one zip of photos: what it may expand to on disk, how many files it may hold, and how much one member may
# expand (photos barely compress; a bomb does). MAX_TOTAL_BYTES also caps the upload itself (core.ingest.uploads), so it
# is counted in Streamlit's megabytes: 2,000 MB.
MAX_TOTAL_BYTES = 2_000 * 1024 * 1024
MAX_FILES = 100_000
MAX_RATIO = 100.0
# Longest folder or file name taken from a zip, in bytes: file systems allow 255, and the member is written first
# as ".<name>.part"; no shop names a photo this long.
MAX_NAME_BYTES = 200


@dataclass
class ExtractReport:
    """What one extraction did: photos written, members skipped with the reason, bytes on disk."""

    extracted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bytes_written: int = 0


def extract_photos(zip_source, target: Path, *, max_total_bytes: int = MAX_TOTAL_BYTES, max_files: int = MAX_FILES,
                   max_ratio: float = MAX_RATIO) -> ExtractReport:
    """Stream the zip's photos into target; raise CatalogError (having removed this call's files) for a bomb."""
    try:
        archive = zipfile.ZipFile(zip_source)
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise CatalogError("not a zip file (or a damaged one): upload the photos as a .zip archive") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > max_files:
            raise CatalogError(f"the zip holds {len(members)} files; at most {max_files} can be imported at once")
        report, plan = ExtractReport(), []
        for info in archive.infolist():
            reason = _refusal(info)
            if reason:
                report.skipped.append((info.filename, reason))
            else:
                plan.append(info)
        declared = _declared_total(plan)
        if declared > max_total_bytes:
            raise CatalogError(f"the photos in the zip would take {declared:,} bytes; the limit is "
                               f"{max_total_bytes:,}: split the zip into smaller ones")
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        created: list[Path] = []
        try:
            for info in plan:
                _extract(archive, info, target, report, written, created, max_total_bytes, max_ratio)
        except BaseException:
            for path in reversed(written):
                _discard(path)
            for folder in reversed(created):
                _rmdir_if_empty(folder)
            raise
        return report


def _refusal(info: zipfile.ZipInfo) -> str | None:
    """Why a member is skipped (unsafe path, link, not a photo), or None when it may be extracted."""
    name = info.filename
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    if "\\" in name:
        return "backslash in path"
    if name.startswith("/") or DRIVE.match(name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path leaves the folder (..)"
    longest = max((len(part.encode()) for part in PurePosixPath(name).parts), default=0)
    if longest > MAX_NAME_BYTES:
        return f"name too long ({longest} bytes; at most {MAX_NAME_BYTES} per folder or file name)"
    if info.is_dir():
        return None
    if info.flag_bits & 0x1:
        return "encrypted"
    if PurePosixPath(name).suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not a photo ({PurePosixPath(name).suffix.lower() or 'no extension'})"
    return None


def _declared_total(plan: list[zipfile.ZipInfo]) -> int:
    """Uncompressed bytes the headers promise for the photos to extract (a header may lie: streaming re-counts)."""
    return sum(info.file_size for info in plan)


def _extract(archive, info, target: Path, report: ExtractReport, written: list[Path], created: list[Path],
             max_total_bytes: int, max_ratio: float) -> None:
    """Stream one member to a temp file beside its destination, counting real bytes against both caps."""
    dest = target.joinpath(*PurePosixPath(info.filename).parts)
    if not dest.resolve().is_relative_to(target.resolve()):  # e.g. a folder already in target links elsewhere
        report.skipped.append((info.filename, "path leaves the folder"))
        return
    try:
        _make_dirs(dest if info.is_dir() else dest.parent, target, created)
    except OSError as exc:
        report.skipped.append((info.filename, f"cannot be written ({exc.strerror})"))
        return
    if info.is_dir():
        return
    part = dest.with_name(f".{dest.name}.part")
    written.append(part)
    size = 0
    try:
        with archive.open(info) as src, open(part, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if report.bytes_written + size > max_total_bytes:
                    raise CatalogError(f"the photos expand past {max_total_bytes:,} bytes (the zip's sizes were "
                                       "wrong): nothing was imported")
                if size > max_ratio * max(info.compress_size, 1):
                    raise CatalogError(f"{info.filename} expands more than {max_ratio:g} times (a zip bomb?): "
                                       "nothing was imported")
                out.write(chunk)
        os.replace(part, dest)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, zlib.error, lzma.LZMAError) as exc:
        _discard(part)
        report.skipped.append((info.filename, f"damaged or unsupported in the zip ({exc})"))
        return
    except OSError as exc:
        _discard(part)
        report.skipped.append((info.filename, f"cannot be written ({exc.strerror})"))
        return
    written[-1] = dest
    report.extracted += 1
    report.bytes_written += size


def _make_dirs(folder: Path, target: Path, created: list[Path]) -> None:
    """Create folder below target one level at a time, remembering each new one so an abort can remove it."""
    current = target
    for part in folder.relative_to(target).parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
            created.append(current)


def _discard(path: Path) -> None:
    """Remove a file this call wrote, if it is there; a path the file system refuses (too long) was never written,
    so its error is the one already being reported, never a second one that aborts the import."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _rmdir_if_empty(folder: Path) -> None:
    """Remove a folder this call created, unless something else now lives in it."""
    try:
        folder.rmdir()
    except OSError:
        pass
