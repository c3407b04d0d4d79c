"""PostgreSQL for tests: the URL from GW_TEST_PG_URL, and throwaway databases on it.

Without ``GW_TEST_PG_URL`` a PostgreSQL test is skipped with the reason — but
under ``CI=true`` it fails instead: CI must never skip PostgreSQL silently.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

PG_ENV = "GW_TEST_PG_URL"


def pg_url_or_skip() -> str:
    """The PostgreSQL URL for tests; skip without one, but fail when ``CI=true``."""
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{PG_ENV} is not set but CI=true: the PostgreSQL tests must run in CI "
                    f"(e.g. {PG_ENV}=postgresql://postgres@127.0.0.1:5432/test)", pytrace=False)
    pytest.skip(f"PostgreSQL tests need {PG_ENV} "
                "(e.g. postgresql://postgres@127.0.0.1:5432/test)")


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on a private loop in a helper thread (safe from sync fixtures
    and from inside a running event loop)."""
    async def wrapper() -> Any:
        return await coro
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrapper()).result()


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(base_url: str, prefix: str = "gw_test") -> str:
    """Create a uniquely named empty database; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"  # hex only: safe inside quotes
    run_async(_admin(base_url, f'CREATE DATABASE "{name}"'))
    return with_database(base_url, name)


def drop_database(base_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    run_async(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
