"""The SQLite ledger writer that runs on the event loop: a fast path for ``record``.

Why: a batch of ledger rows written on the store's thread costs two to three
times its own CPU, because ``sqlite3`` lets go of the GIL around every row's
``sqlite3_step`` and the event loop, busy serving requests, takes it back each
time (a futex wake-up and a context switch per row). Written on the loop's own
thread, with nobody waiting for the GIL, the same batch costs only SQLite's
work: a few µs per row, a few milliseconds per flush at thousands of requests
per second.

How it stays safe — this path only ever *tries*; whatever it cannot do at once
goes to the store's thread, which does it the ordinary way:

* its own connection, opened on the loop's thread, with ``busy_timeout`` 0: if
  another connection (the store's thread, another gwd worker sharing the file)
  holds the write lock, ``BEGIN IMMEDIATE`` fails at once, never waits;
* any error at all (locked, disk full, a CHECK refusing an overflowing amount)
  rolls the transaction back and hands the same batch to the thread path, which
  waits for locks and turns errors into ``StoreUnavailable``/``ValueError``; a
  failure other than "locked" also turns this path off for a few seconds;
* batches larger than ``max_rows`` go to the thread, so the loop never stalls for
  long;
* its commits never checkpoint (``wal_autocheckpoint`` 0: a checkpoint writes the
  database file and fsyncs): :meth:`InlineWriter.checkpoint_due` tells the store
  when to run a PASSIVE checkpoint on its thread instead.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from .sqlite_conn import SYNCHRONOUS, transaction

log = logging.getLogger("gwd.store")
T = TypeVar("T")

_SQLITE_BUSY = 5


class InlineWriter:
    """One connection used only on the event loop's thread, for ledger batches."""

    def __init__(self, path: str, synchronous: str, *, max_rows: int = 1000,
                 checkpoint_rows: int = 4000, pause_s: float = 5.0) -> None:
        self.path = path
        self.max_rows = max_rows
        self.checkpoint_rows = checkpoint_rows
        self.pause_s = pause_s
        self.paused_until = 0.0
        self.rows_since_checkpoint = 0
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            pragma = SYNCHRONOUS[synchronous]  # a constant statement, chosen by name
            conn.execute(pragma)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def run(self, rows: int, tx: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """``(True, result)`` if ``tx`` ran and committed here; ``(False, None)`` if
        the caller must run it on the store's thread instead (nothing was written)."""
        conn = self._conn
        if conn is None or rows > self.max_rows or time.monotonic() < self.paused_until:
            return False, None
        try:
            result = transaction(conn, tx)
        except (sqlite3.Error, OSError, ValueError, OverflowError) as exc:
            if conn.in_transaction:  # even ROLLBACK failed: give this path up for good
                log.warning("SQLite: the event-loop ledger writer is off (%s); ledger "
                            "batches go to the store's thread", type(exc).__name__)
                self.close()
            elif (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF != _SQLITE_BUSY:
                self.paused_until = time.monotonic() + self.pause_s
                log.debug("inline ledger write failed (%s); using the store's thread",
                          type(exc).__name__)
            return False, None
        self.rows_since_checkpoint += rows
        return True, result

    def checkpoint_due(self) -> bool:
        """True once (then the count restarts) every ``checkpoint_rows`` rows."""
        if self.rows_since_checkpoint < self.checkpoint_rows:
            return False
        self.rows_since_checkpoint = 0
        return True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
