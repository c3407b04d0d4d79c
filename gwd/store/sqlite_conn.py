"""Opening the SQLite backend's connection, and telling "unavailable" errors apart.

:func:`connect` creates the file private (mode 0600, its directory 0700 if
missing), switches it to WAL (retrying while another process does the same),
sets ``synchronous`` and applies pending migrations. :func:`unavailable` says
whether an ``sqlite3`` error means the database cannot be reached or written
(the store turns those into :class:`~gwd.store.base.StoreUnavailable`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from .sqlite_schema import migrate

log = logging.getLogger("gwd.store")
T = TypeVar("T")

#: primary result codes meaning the database cannot be reached or written
UNAVAILABLE = {
    5,   # SQLITE_BUSY: locked beyond busy_timeout
    6,   # SQLITE_LOCKED
    7,   # SQLITE_NOMEM
    8,   # SQLITE_READONLY
    10,  # SQLITE_IOERR
    11,  # SQLITE_CORRUPT
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
    26,  # SQLITE_NOTADB
}
SYNCHRONOUS = {"NORMAL": "PRAGMA synchronous = NORMAL", "FULL": "PRAGMA synchronous = FULL"}


def unavailable(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in UNAVAILABLE
    return isinstance(exc, sqlite3.OperationalError)


def connect(path: str, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    """An autocommit connection to ``path``, in WAL mode and migrated."""
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        os.close(fd)
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        if path != ":memory:":
            _enable_wal(conn, path, busy_timeout_ms)
        pragma = SYNCHRONOUS[synchronous]  # a constant statement, chosen by name
        conn.execute(pragma)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, path: str, busy_timeout_ms: int) -> None:
    """Switch to WAL. Switching answers "locked" at once, without waiting for
    busy_timeout, while another process opens the same new file: retry."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    mode: object = "unknown"
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if not unavailable(exc) or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            log.warning("SQLite database %r stays in %s journal mode (no WAL): "
                        "concurrent readers will wait for writers", path, mode)
            return
        time.sleep(0.005)


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction: committed, or rolled back and
    re-raised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
