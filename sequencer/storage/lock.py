"""The data dir's lock: one writer process per data dir.

A process that opens a data dir to write it (``sequencer run``, ``sequencer init``) holds an
exclusive ``flock`` on ``<data>/LOCK`` for as long as it has the data dir open; the file says
which process holds it. A second one is refused at once, naming the lock file and the holder's
pid. The kernel drops the lock when its holder exits, however it exits (even ``kill -9``), so a
stale ``LOCK`` file never blocks anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sequencer.errors import StorageError

LOCK_NAME = "LOCK"


class DataDirLocked(StorageError):
    """Another live process holds the data dir's lock."""


class DataDirLock:
    """The exclusive lock on one data dir, held from construction until :meth:`release`."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the data dir lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DataDirLocked(
                f"data dir {self.path.parent} is in use: its lock {self.path} is held by "
                f"{holder} (stop that process first; one process per data dir)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock the data dir {self.path}: {exc.strerror or exc}") from None
        with contextlib.suppress(OSError):  # the pid is information for people, not the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        """Let go of the lock (the file stays: its content is only ever read under the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    """Who holds the lock, as the lock file says."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "another process"
