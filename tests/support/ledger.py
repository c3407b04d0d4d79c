"""Read what gwd stored, straight from its database with plain SQL (not through gwd).

``totals(url, token_hash)`` -> (key spend, key requests, sum of ledger costs,
ledger rows): the four numbers every spend-exactness test compares. ``rows()`` gives
each ledger row of a key (status, deployment, cost, tokens, usage_estimated). Money is
returned as exact Decimal (SQLite keeps integer pico-dollars, PostgreSQL NUMERIC).
"""

from __future__ import annotations

import hashlib
import sqlite3
from decimal import Decimal
from typing import NamedTuple

from tests.support.pg import fetch, run_async

PICO = Decimal("0.000000000001")


class Totals(NamedTuple):
    key_spend: Decimal
    key_requests: int
    ledger_sum: Decimal
    ledger_rows: int


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def totals(url: str, token_hash: str) -> Totals:
    if url.startswith("sqlite:"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            spend, requests = conn.execute(
                "SELECT spend, requests FROM gw_keys WHERE token_hash = ?",
                (token_hash,)).fetchone()
            total, rows = conn.execute(
                "SELECT coalesce(sum(cost), 0), count(*) FROM gw_spend_log WHERE key_hash = ?",
                (token_hash,)).fetchone()
        return Totals(Decimal(spend) * PICO, requests, Decimal(total) * PICO, rows)
    key = run_async(fetch(url, "SELECT spend, requests FROM gw_keys WHERE token_hash = $1",
                          token_hash))[0]
    led = run_async(fetch(url, "SELECT coalesce(sum(cost), 0) AS s, count(*) AS n "
                               "FROM gw_spend_log WHERE key_hash = $1", token_hash))[0]
    return Totals(Decimal(key["spend"]), key["requests"], Decimal(led["s"]), led["n"])


def ledger_rows(url: str, token_hash: str) -> list[tuple[str, Decimal | None, int, int]]:
    """(status, cost, prompt_tokens, completion_tokens) of every ledger row of a key."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            rows = conn.execute("SELECT status, cost, prompt_tokens, completion_tokens FROM "
                                "gw_spend_log WHERE key_hash = ?", (token_hash,)).fetchall()
        return [(s, None if c is None else Decimal(c) * PICO, p, o) for s, c, p, o in rows]
    rows = run_async(fetch(url, "SELECT status, cost, prompt_tokens, completion_tokens FROM "
                                "gw_spend_log WHERE key_hash = $1", token_hash))
    return [(r["status"], None if r["cost"] is None else Decimal(r["cost"]),
             r["prompt_tokens"], r["completion_tokens"]) for r in rows]


class Row(NamedTuple):
    request_id: str
    status: str
    deployment: str
    cost: Decimal | None
    prompt_tokens: int
    completion_tokens: int
    usage_estimated: bool
    response_id: str | None = None  # the id of the answer the client got


_ROW_COLUMNS = ("request_id, status, deployment, cost, prompt_tokens, completion_tokens, "
                "usage_estimated, response_id")


def rows(url: str, token_hash: str) -> list[Row]:
    """Every ledger row of a key, with the columns the fault tests look at."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            found = conn.execute(f"SELECT {_ROW_COLUMNS} FROM gw_spend_log "
                                 "WHERE key_hash = ?", (token_hash,)).fetchall()
        return [Row(r, s, d, None if c is None else Decimal(c) * PICO, p, o, bool(e), i)
                for r, s, d, c, p, o, e, i in found]
    found = run_async(fetch(url, f"SELECT {_ROW_COLUMNS} FROM gw_spend_log "
                                 "WHERE key_hash = $1", token_hash))
    return [Row(r["request_id"], r["status"], r["deployment"],
                None if r["cost"] is None else Decimal(r["cost"]), r["prompt_tokens"],
                r["completion_tokens"], bool(r["usage_estimated"]), r["response_id"])
            for r in found]
