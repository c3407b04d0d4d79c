"""Builders for the store tests: keys, ledger rows, hashes and a raw peek at the database."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from gwd.store import KeyRecord, LedgerRow

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def h(n: object) -> str:
    """A token_hash as gwd makes them: SHA-256 hex."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def key(token_hash: str, **fields: Any) -> KeyRecord:
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


async def raw_scalar(url: str, sql: str) -> Any:
    """One value straight from the database, bypassing the store under test."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):])
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    pg = await asyncpg.connect(url, timeout=10)
    try:
        return await pg.fetchval(sql)
    finally:
        await pg.close()
