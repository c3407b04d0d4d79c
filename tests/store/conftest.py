"""Fixtures for the store contract suite: every test gets an empty store of each backend.

- ``store_url``: ``sqlite:///<tmp_path>/gw.db`` or the PostgreSQL test database with
  every ``gw_`` table dropped (so migrations run from scratch in each test).
- ``make_store()``: open another Store on the same database (a second process /
  replica); everything it opened is closed after the test.
- ``store``: one open Store.

PostgreSQL comes from ``GW_TEST_PG_URL``: a session creates its own uniquely
named database there (so parallel runs never collide) and drops it at the end.
Without the variable the PostgreSQL half is skipped with a reason — unless
``CI=true``, where it fails: CI must never skip it silently (see tests/support/pg.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from gwd.store import Store, open_store
from tests.support.pg import create_database, drop_database, pg_url_or_skip


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh database for this test session (created and dropped on the server)."""
    base = pg_url_or_skip()
    url = create_database(base)
    try:
        yield url
    finally:
        drop_database(base, url)


async def reset_pg(url: str) -> None:
    """Drop every gw_ table: the next store opened migrates from scratch."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        tables = [row[0] for row in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename LIKE 'gw\\_%'")]
        if tables:  # names from the catalogue, quoted
            await conn.execute("DROP TABLE IF EXISTS "
                               + ", ".join('"' + t.replace('"', '""') + '"' for t in tables)
                               + " CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gw.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


@pytest.fixture
async def store_url(backend_url: str) -> str:
    if not backend_url.startswith("sqlite:"):
        await reset_pg(backend_url)
    return backend_url


@pytest.fixture
async def make_store(store_url: str) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    stores: list[Store] = []

    async def make() -> Store:
        new = open_store(store_url)
        stores.append(new)
        await new.open()
        return new

    yield make
    for opened in stores:
        await opened.close()


@pytest.fixture
async def store(make_store: Callable[[], Awaitable[Store]]) -> Store:
    return await make_store()
