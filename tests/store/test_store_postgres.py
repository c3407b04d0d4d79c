"""PostgreSQL only: LISTEN/NOTIFY between replicas, reconnection, and failing closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from gwd.store import DROP_ALL, Store, StoreUnavailable, open_store
from gwd.store.postgres import PostgresStore
from tests.support.pg import with_database

from .conftest import reset_pg
from .storekit import Inbox, h, key

pytestmark = pytest.mark.postgres
MakeStore = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def fresh_pg_url(pg_database_url: str) -> str:
    await reset_pg(pg_database_url)
    return pg_database_url


@pytest.fixture
async def replicas(fresh_pg_url: str) -> AsyncIterator[MakeStore]:
    stores: list[PostgresStore] = []

    async def make() -> PostgresStore:
        new = PostgresStore(fresh_pg_url)
        stores.append(new)
        await new.open()
        return new

    yield make
    for opened in stores:
        await opened.close()


async def _admin(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return int(await conn.fetchval(sql) or 0)
    finally:
        await conn.close()


TERMINATE_LISTENER = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'gwd-listen'"""
TERMINATE_OTHERS = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()"""


async def test_a_change_on_one_replica_reaches_the_other_within_a_second(
        replicas: MakeStore) -> None:
    writer, reader = await replicas(), await replicas()
    inbox = Inbox()
    assert not reader.listening
    await reader.listen(inbox)
    assert reader.listening
    await writer.insert_key(key(h(1)))  # a new key: nothing to tell (see insert_key)
    await inbox.nothing()
    await writer.update_key(h(1), {"key_alias": "x"})
    assert await inbox.next() == h(1)
    await writer.delete_keys([h(1), h("never")])
    assert await inbox.next() == h(1)
    await writer.update_key(h("never"), {"key_alias": "x"})  # no such key: no notification
    await inbox.nothing()


async def test_a_sync_callback_works_too(replicas: MakeStore) -> None:
    writer, reader = await replicas(), await replicas()
    got: list[str] = []
    await reader.listen(got.append)
    await writer.insert_key(key(h(2)))
    await writer.update_key(h(2), {"key_alias": "z"})
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    assert got == [h(2)]


async def test_a_dropped_listener_reconnects_and_says_drop_everything(
        replicas: MakeStore, fresh_pg_url: str) -> None:
    writer, reader = await replicas(), await replicas()
    inbox = Inbox()
    await reader.listen(inbox)
    assert await _admin(fresh_pg_url, TERMINATE_LISTENER) == 1
    for _ in range(100):
        if not reader.listening:
            break
        await asyncio.sleep(0.01)
    assert await inbox.next(timeout=3) == DROP_ALL
    assert reader.listening
    await writer.update_key(h(3), {"key_alias": "y"})  # nothing to update: no message
    await writer.insert_key(key(h(3)))
    await writer.update_key(h(3), {"key_alias": "y"})
    assert await inbox.next() == h(3)


async def test_listen_twice_is_a_mistake(replicas: MakeStore) -> None:
    store = await replicas()
    await store.listen(Inbox())
    with pytest.raises(RuntimeError):
        await store.listen(Inbox())


async def test_unreachable_server_is_store_unavailable() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:1/nowhere")
    assert isinstance(store, PostgresStore)
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await store.close()


async def test_missing_database_is_store_unavailable(fresh_pg_url: str) -> None:
    store = open_store(with_database(fresh_pg_url, "gw_no_such_database"))
    with pytest.raises(StoreUnavailable):
        await store.open()


async def test_killed_connections_fail_closed_then_recover(
        replicas: MakeStore, fresh_pg_url: str) -> None:
    store: Store = await replicas()
    await store.insert_key(key(h(4)))
    await _admin(fresh_pg_url, TERMINATE_OTHERS)
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(await store.get_key(h(4)) is not None)
        except StoreUnavailable:  # anything else (a raw asyncpg error) fails the test
            outcomes.append(False)
            await asyncio.sleep(0.05)
        if outcomes[-1]:
            break
    assert outcomes[-1] is True
