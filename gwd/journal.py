"""The spend journal: answered calls whose ledger rows could not reach the database yet.

When a spend flush fails because the store is unavailable (and at shutdown if
it still is), :class:`~gwd.spend.SpendRecorder` appends the pending rows here,
on local disk, and forgets them from memory. They are replayed through the same
``Store.record`` at start and as soon as the database answers again; the file
is emptied only after every row in it was written. ``record`` skips a
``request_id`` it already has, so a replay after a crash between the write and
the truncation — or a row that is both journaled and still buffered — never
counts twice.

Format (JSON Lines, one ledger row per line, appended with one ``write`` and an
``fsync``)::

    {"v":1,"db":"postgresql://db.internal:5432/gw","settle":true,
     "row":{"request_id":"req_...","time":"2026-11-28T18:40:00.123456+00:00",
            "key_hash":"<sha-256 hex>","cost":"0.000123456789", ...}}

Money is a decimal string (exact), times ISO 8601 with their offset. ``settle``
says the call held a budget reservation to close with the row. ``db`` names the
database the row belongs to (never its credentials): a row for another database
(``database_url`` changed) is kept in the file, not written, and reported. The
file holds key hashes, never keys, and is still created with mode 0600. A write
that fails half-way is cut back, so the file never ends in half a line; a line
that cannot be read (or that the store refuses) is moved to ``<path>.rejected``
with an error in the log. Appends stop at ``max_bytes``: past it, rows stay in
memory and an error says so. Several gwd processes may share one journal: every
append and every replay holds an exclusive ``flock`` on the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import stat
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import orjson

from .store.base import LedgerRow, Store

log = logging.getLogger("gwd.spend")

VERSION = 1
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
LOCK_WAIT = 10.0          # seconds an append waits for another process's lock on the file
REPLAY_LOCK_WAIT = 0.2    # a replay gives way sooner: the lock holder is replaying it
BATCH = 2000              # rows per Store.record call during a replay
_INTS = ("prompt_tokens", "completion_tokens", "latency_ms")
_STRS = ("request_id", "endpoint", "requested_model", "model_group", "deployment",
         "provider", "status")


class JournalError(Exception):
    """The journal cannot take these rows (full, or the disk refused the write)."""


def database_name(url: str) -> str:
    """Which database a URL names, without its credentials (journal lines carry it)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        return "sqlite:" + (path if path == ":memory:" else os.path.abspath(path))
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: the store will refuse it with a clear error
        return "postgresql://" + url.rpartition("@")[2]
    return f"postgresql://{parts.netloc.rpartition('@')[2]}{parts.path}"


def encode(row: LedgerRow, settle: bool, database: str) -> bytes:
    fields: dict[str, Any] = {name: getattr(row, name) for name in LedgerRow.__slots__}
    fields["time"] = row.time.isoformat()
    fields["cost"] = None if row.cost is None else str(row.cost)
    return orjson.dumps({"v": VERSION, "db": database, "settle": settle, "row": fields}) + b"\n"


def decode(line: bytes) -> tuple[str, LedgerRow, bool]:
    """(database, row, settle) from one journal line; ValueError if it is not one."""
    try:
        obj = orjson.loads(line)
        if not isinstance(obj, dict) or obj.get("v") != VERSION:
            raise ValueError("not a version-1 journal line")
        raw, database, settle = obj["row"], obj["db"], obj["settle"]
        if not isinstance(database, str) or not isinstance(settle, bool):
            raise ValueError("bad db or settle")
        when = datetime.fromisoformat(raw["time"])
        if when.tzinfo is None:
            raise ValueError("naive time")
        cost = None if raw["cost"] is None else Decimal(raw["cost"])
        if cost is not None and not cost.is_finite():
            raise ValueError("cost is not finite")
        for name in _INTS:
            if type(raw[name]) is not int:
                raise ValueError(f"{name} is not an integer")
        for name in _STRS:
            if not isinstance(raw[name], str):
                raise ValueError(f"{name} is not a string")
        detail = raw.get("usage_detail")  # absent from lines an older gwd wrote
        if detail is not None and not (isinstance(detail, dict) and all(
                isinstance(k, str) and type(v) is int and v >= 0 for k, v in detail.items())):
            raise ValueError("usage_detail is not an object of token counts")
        row = LedgerRow(**{**raw, "time": when, "cost": cost})
    except (orjson.JSONDecodeError, KeyError, TypeError, InvalidOperation) as exc:
        raise ValueError(f"unreadable journal line: {type(exc).__name__}") from None
    return database, row, settle


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _lock_blocking(fd: int) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise JournalError("another gwd process holds the journal's lock") from None
            time.sleep(0.01)


class SpendJournal:
    """One journal file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], database: str,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = os.fspath(path)
        self.database = database
        self.max_bytes = max_bytes
        self._lock = asyncio.Lock()
        self._foreign = 0        # bytes of other databases' lines left by the last replay

    @property
    def pending(self) -> bool:
        """True when the file may hold rows of this database."""
        try:
            return os.stat(self.path).st_size > self._foreign
        except OSError:
            return False

    def writable(self) -> str | None:
        """None if rows could be journaled here, else why not (checked at start)."""
        directory = os.path.dirname(os.path.abspath(self.path))
        target = self.path if os.path.exists(self.path) else directory
        return None if os.access(target, os.W_OK) else f"{target} is not writable"

    # appending ---------------------------------------------------------------
    async def append(self, entries: Sequence[tuple[LedgerRow, bool]]) -> None:
        """Durably add (row, settle) entries; raises JournalError if they were not added."""
        if not entries:
            return
        data = b"".join(encode(row, settle, self.database) for row, settle in entries)
        async with self._lock:
            try:  # one thread owns the file from open to close, even if we are cancelled
                await asyncio.to_thread(self._append_sync, data)
            except OSError as exc:
                raise JournalError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _append_sync(self, data: bytes) -> None:
        existed = os.path.exists(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _lock_blocking(fd)
            st = os.fstat(fd)
            if stat.S_IMODE(st.st_mode) != 0o600:
                os.fchmod(fd, 0o600)
            if st.st_size + len(data) > self.max_bytes:
                raise JournalError(f"{self.path} is full ({st.st_size} of {self.max_bytes} "
                                   "bytes; general_settings.spend_journal_max_mb)")
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):  # never leave half a line behind
                    os.ftruncate(fd, st.st_size)
                raise
        finally:
            os.close(fd)
        if not existed:
            dir_fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # replaying ---------------------------------------------------------------
    async def replay(self, store: Store) -> int:
        """Write every journaled row of this database through ``store.record``, then empty
        the file. Returns the rows newly written. Raises StoreUnavailable, or JournalError
        for a local disk error (the file is kept either way)."""
        async with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0
            except OSError as exc:
                raise JournalError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            try:
                if not await self._lock_async(fd) or os.fstat(fd).st_size == 0:
                    return 0
                return await self._replay_locked(fd, store)
            except OSError as exc:
                raise JournalError(f"cannot replay {self.path}: {exc.strerror or exc}") from None
            finally:
                os.close(fd)

    async def _lock_async(self, fd: int) -> bool:
        deadline = time.monotonic() + REPLAY_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False  # another process holds it; it is written on a later try
                await asyncio.sleep(0.01)

    async def _replay_locked(self, fd: int, store: Store) -> int:
        kept: list[bytes] = []
        rejected: list[bytes] = []
        written = seen = 0
        with os.fdopen(os.dup(fd), "rb") as fh:
            while lines := list(itertools.islice(fh, BATCH)):
                batch: list[tuple[LedgerRow, bool, bytes]] = []
                for line in lines:
                    if not line.strip():
                        continue
                    try:
                        database, row, settle = decode(line)
                    except ValueError:
                        rejected.append(line if line.endswith(b"\n") else line + b"\n")
                        continue
                    if database != self.database:
                        kept.append(line)
                    else:
                        batch.append((row, settle, line))
                seen += len(batch)
                written += await self._record(store, batch, rejected)
        if rejected:
            self._reject(rejected)
        rest = b"".join(kept)
        os.ftruncate(fd, 0)
        if rest:
            os.pwrite(fd, rest, 0)
        os.fsync(fd)
        self._foreign = len(rest)
        if seen:
            log.warning("spend journal: %d ledger rows replayed from %s (%d not yet in the "
                        "database)", seen, self.path, written)
        if kept:
            log.error("spend journal: %d rows in %s belong to another database, not %s; they "
                      "stay in the file until gwd runs with that database again", len(kept),
                      self.path, self.database)
        return written

    @staticmethod
    async def _record(store: Store, batch: list[tuple[LedgerRow, bool, bytes]],
                      rejected: list[bytes]) -> int:
        def settle_of(items: list[tuple[LedgerRow, bool, bytes]]) -> dict[str, str]:
            return {r.request_id: r.key_hash for r, s, _ in items if s and r.key_hash}

        if not batch:
            return 0
        try:
            return await store.record([r for r, _, _ in batch], settle_of(batch))
        except ValueError:  # one refused row must not hold back the others
            written = 0
            for item in batch:
                try:
                    written += await store.record([item[0]], settle_of([item]))
                except ValueError:
                    rejected.append(item[2])
            return written

    def _reject(self, lines: list[bytes]) -> None:
        path = self.path + ".rejected"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        log.error("spend journal: %d lines could not be replayed; moved to %s for the operator",
                  len(lines), path)
