"""A disk that fills up when the test says so, for SQLite's disk-full tests (catalogue C18).

``small_disk(tmp_path)`` yields a directory for the database and a :class:`FullDisk`
whose ``fill()`` and ``free()`` the test calls while gwd runs. Two ways, the
first that works here:

- ``tmpfs``: a 4 MiB tmpfs mounted on the directory (needs root and ``mount``).
  ``fill()`` writes a filler file until the kernel answers ENOSPC: every write
  that needs a new block fails, exactly like a full disk. ``free()`` deletes it.
- ``fsize``: without mount rights, ``RLIMIT_FSIZE`` set on the running gwd with
  ``prlimit(2)``: every write past byte 1 of any file fails with EFBIG (Python
  ignores SIGXFSZ, so the call fails instead of killing the process). That is
  an I/O error on every file, the journal and the log included, rather than a
  full disk. ``free()`` restores the limit.

Before filling, the SQLite WAL is truncated (``wal_checkpoint(TRUNCATE)``) so
the next write must grow a file; otherwise it could reuse WAL pages already on
disk and succeed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

SIZE = "4m"


class FullDisk:
    def __init__(self, directory: Path, mode: str) -> None:
        self.directory = directory
        self.mode = mode                 # "tmpfs" | "fsize"
        self.pid: int | None = None      # gwd's pid, for "fsize"
        self._saved: tuple[int, int] | None = None

    def fill(self, database: Path) -> None:
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if self.mode == "fsize":
            assert self.pid is not None, "set .pid to gwd's pid first"
            self._saved = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (1, self._saved[1]))
            return
        fd = os.open(self.directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (65536, 512, 1):   # big blocks, then top up the last page
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)

    def free(self) -> None:
        if self.mode == "fsize":
            if self._saved is not None and self.pid is not None:
                resource.prlimit(self.pid, resource.RLIMIT_FSIZE, self._saved)
            return
        (self.directory / "filler").unlink(missing_ok=True)


def _mount(directory: Path) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs",
                             str(directory)], capture_output=True, check=False)
    return result.returncode == 0


@contextlib.contextmanager
def small_disk(tmp_path: Path) -> Iterator[FullDisk]:
    directory = tmp_path / "disk"
    directory.mkdir()
    mounted = _mount(directory)
    try:
        yield FullDisk(directory, "tmpfs" if mounted else "fsize")
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)
