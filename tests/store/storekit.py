"""Builders for the store tests: keys, ledger rows, hashes and a raw peek at the database."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from gwd.money import from_units, quantize
from gwd.store import KeyRecord, LedgerRow

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
#: strings that would break SQL built by formatting (they must be stored verbatim)
INJECTIONS = ["x'; DROP TABLE gw_keys; --", "\" OR 1=1 --", "$1); DELETE FROM gw_spend_log;--",
              "Robert'); DROP TABLE gw_spend_log;--", "%s %(x)s {0} ?", "\\x00'\\"]


def h(n: object) -> str:
    """A token_hash as gwd makes them: SHA-256 hex."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def kid(token_hash: str) -> str:
    """The key_id ``key()`` gives a hash unless told otherwise: "key-" + 16 hex digits."""
    return "key-" + hashlib.sha256(("id:" + token_hash).encode()).hexdigest()[:16]


def key(token_hash: str, **fields: Any) -> KeyRecord:
    fields.setdefault("key_id", kid(token_hash))
    fields.setdefault("key_name", "sk-...abcd")
    fields.setdefault("created_at", T0)
    return KeyRecord(token_hash=token_hash, **fields)


def row(request_id: str, key_hash: str | None, cost: Decimal | None = Decimal("0.001"),
        **fields: Any) -> LedgerRow:
    values: dict[str, Any] = {
        "time": T0, "key_alias": None, "endpoint": "chat", "requested_model": "gpt-4o-mini",
        "model_group": "fast", "deployment": "fast-0", "provider": "openai",
        "prompt_tokens": 10, "completion_tokens": 20, "latency_ms": 123, "status": "success"}
    values.update(fields)
    return LedgerRow(request_id=request_id, key_hash=key_hash, cost=cost, **values)


async def raw_scalar(url: str, sql: str, *args: Any) -> Any:
    """One value straight from the database, bypassing the store under test.

    ``args`` are bound to ``$1``, ``$2``... (``?1``, ``?2``... for SQLite)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):])
        try:
            return conn.execute(re.sub(r"\$(\d+)", r"?\1", sql), args).fetchone()[0]
        finally:
            conn.close()
    pg = await asyncpg.connect(url, timeout=10)
    try:
        return await pg.fetchval(sql, *args)
    finally:
        await pg.close()


#: keys whose reserved counter differs from the sum of their open reservations (must be 0)
MISMATCHED = (
    "SELECT count(*) FROM gw_keys k WHERE k.reserved <> coalesce("
    "(SELECT sum(r.amount) FROM gw_reservations r WHERE r.token_hash = k.token_hash), 0)"
)
_OPEN_SUM = "SELECT coalesce(sum(amount), 0) FROM gw_reservations WHERE token_hash = $1"


async def open_sum(url: str, token_hash: str) -> Decimal:
    """The sum of the key's gw_reservations rows, read straight from the database."""
    value = await raw_scalar(url, _OPEN_SUM, token_hash)
    return from_units(value) if url.startswith("sqlite:") else quantize(value)


class Inbox:
    """A listen() callback that remembers what it got."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, token_hash: str) -> None:
        await self.queue.put(token_hash)

    async def next(self, timeout: float = 1.0) -> str:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def nothing(self, wait: float = 0.3) -> None:
        """Nothing arrives within ``wait`` seconds."""
        with pytest.raises(TimeoutError):
            await self.next(timeout=wait)
