"""The store package: pick a backend from a database URL, and the record types.

``open_store(url)`` builds (but does not connect) the backend; the caller then
awaits ``store.open()``::

    sqlite:///gw.db           relative path (resolved against ``base_dir`` if given)
    sqlite:////var/lib/gw.db  absolute path (SQLAlchemy's convention: four slashes)
    sqlite:///:memory:        a private in-memory database (tests)
    postgresql://user:pass@host:5432/db   (also postgres://)
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import (
    DROP_ALL,
    UPDATABLE,
    DaySpend,
    KeyChangeCallback,
    KeyExists,
    KeyRecord,
    KeySpend,
    LedgerRow,
    ModelSpend,
    Store,
    StoreUnavailable,
)

__all__ = [
    "DROP_ALL", "UPDATABLE", "DaySpend", "KeyChangeCallback", "KeyExists", "KeyRecord",
    "KeySpend", "LedgerRow", "ModelSpend", "Store", "StoreUnavailable", "open_store",
]

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def open_store(url: str, *, base_dir: str | os.PathLike[str] | None = None,
               pool_size: int = 10, timeout: float = 2.0) -> Store:
    """The backend for ``url`` (not connected yet). ``ValueError`` for any other scheme.

    PostgreSQL only: ``pool_size`` connections at most, and ``timeout`` seconds to
    connect or to wait for a pooled connection."""
    if url.startswith(_SQLITE):
        path = url[len(_SQLITE):]
        if not path:
            raise ValueError("sqlite:/// needs a file path, e.g. sqlite:///gw.db")
        if path != ":memory:" and base_dir is not None and not os.path.isabs(path):
            path = str(Path(base_dir) / path)
        from .sqlite import SQLiteStore
        return SQLiteStore(path)
    if url.startswith(_POSTGRES):
        from .postgres import PostgresStore
        return PostgresStore(url, max_size=pool_size, connect_timeout=timeout,
                             acquire_timeout=timeout)
    scheme = url.split("://", 1)[0] if "://" in url else "(none)"
    raise ValueError(f"unsupported database URL scheme {scheme!r} "
                     "(use sqlite:///PATH or postgresql://...)")
