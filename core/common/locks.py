"""OS file locks (flock): one owner at a time for the embedded store, a published snapshot's readers and a map job
(boards are guarded by core.common.files.folder_locked instead)."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path


class LockBusy(Exception):
    """Another process holds the lock; `holder` says who, as written in the lock file."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is locked by {holder or 'another process'}")
        self.path = path
        self.holder = holder


class FileLock:
    """An exclusive flock on one file; the lock dies with the process, so a crash never leaves it stale.

    flock locks belong to an open file description: a second FileLock on the same path conflicts even
    inside one process, which is what we want (two stores on one shard are as dangerous as two processes).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float = 0.0, poll: float = 0.05) -> None:
        """Take the lock, waiting up to timeout seconds (0: at once); raises LockBusy."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockBusy(self.path, holder) from None
                time.sleep(poll)
            except OSError:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}".encode("utf-8", "replace"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __del__(self) -> None:  # a forgotten lock (a dropped store) must not outlive its owner object
        self.release()

    def __enter__(self) -> "FileLock":
        self.acquire(timeout=60.0)
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
