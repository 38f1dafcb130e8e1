"""Crash-safe file writes shared by the index metadata, boards and maps, and the store snapshot copy."""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def copy_tree_sparse(src: Path, dst: Path, block: int = 1 << 20) -> None:
    """Copy a folder, leaving all-zero blocks as holes: the engine preallocates 32 MB files that are mostly empty."""
    src, dst = Path(src), Path(dst)
    for folder, _dirs, files in os.walk(src):
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            with open(Path(folder) / name, "rb") as fin, open(target / name, "wb") as fout:
                size = 0
                while chunk := fin.read(block):
                    size += len(chunk)
                    if chunk.count(0) == len(chunk):
                        fout.seek(len(chunk), os.SEEK_CUR)
                    else:
                        fout.write(chunk)
                fout.truncate(size)
                fout.flush()
                os.fsync(fout.fileno())


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path` for a writer that wants a file name (an exporter, a quantiser); on success
    it is renamed into place, on failure removed: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def folder_locked(folder: Path, thread_lock: threading.RLock):
    """The thread lock, then an exclusive flock on `<folder>/.lock`, for a read-modify-write of files in it.

    flock locks belong to the open file description, so each use opens the file afresh: two instances in one
    process exclude each other too. The lock goes when the file closes, even if the process dies. An OSError
    (a read-only or full disk) reaches the caller, which turns it into its own message.
    """
    with thread_lock:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield


@contextmanager
def locked_for_writes(folder: Path, thread_lock: threading.RLock, error: type[Exception], what: str):
    """folder_locked, with an OSError (a read-only or full disk) turned into `error`, a message for the page:
    "<what> cannot be saved in <folder>: <why>"."""
    try:
        with folder_locked(folder, thread_lock):
            yield
    except OSError as exc:
        raise error(f"{what} cannot be saved in {folder}: {exc.strerror or exc}") from None
