"""SQLite only: file permissions, pragmas, failing closed, a free event loop, URL parsing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from gwd.store import StoreUnavailable, open_store
from gwd.store.postgres import PostgresStore
from gwd.store.sqlite import SQLiteStore

from .storekit import h, key, row


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "db" / "nested" / "gw.db", busy_timeout_ms=200)
    await store.open()
    yield store
    await store.close()


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_database_file_is_private(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    await sqlite_store.insert_key(key(h(1)))
    assert mode(sqlite_store.path) == 0o600
    assert mode(sqlite_store.path + "-wal") == 0o600
    assert mode(tmp_path / "db" / "nested") == 0o700


async def test_wal_mode_is_on(sqlite_store: SQLiteStore) -> None:
    conn = sqlite3.connect(sqlite_store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_locked_beyond_busy_timeout_is_unavailable_and_the_loop_stays_free(
        sqlite_store: SQLiteStore) -> None:
    await sqlite_store.insert_key(key(h(1)))
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable):
            await sqlite_store.record([row("r1", h(1))])
        assert ticks >= 5  # the 200 ms wait happened off the event loop
        got = await sqlite_store.get_key(h(1))  # WAL: reads still work meanwhile
        assert got is not None and got.requests == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await sqlite_store.record([row("r1", h(1))]) == 1


async def test_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = SQLiteStore(tmp_path / "file" / "gw.db")
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await store.close()


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an sqlite database, just some bytes" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable):
        await store.open()
    await store.close()


async def test_money_overflowing_int64_fails_loudly_not_inexactly(
        sqlite_store: SQLiteStore) -> None:
    await sqlite_store.insert_key(key(h(1)))
    big = Decimal(5000000)  # 5e18 pico-dollars: fits int64 once, not twice
    assert await sqlite_store.record([row("a", h(1), big)]) == 1
    with pytest.raises(ValueError):
        await sqlite_store.record([row("b", h(1), big)])
    with pytest.raises(ValueError):
        await sqlite_store.record([row("c", h(1), Decimal(10000000))])
    got = await sqlite_store.get_key(h(1))
    assert got is not None and (got.spend, got.requests) == (big, 1)


async def test_huge_budgets_are_kept_exactly(sqlite_store: SQLiteStore) -> None:
    await sqlite_store.insert_key(key(h(1), max_budget=Decimal("123456789012345.5")))
    got = await sqlite_store.get_key(h(1))
    assert got is not None and got.max_budget == Decimal("123456789012345.5")


async def test_in_memory_database_works() -> None:
    store = open_store("sqlite:///:memory:")
    await store.open()
    try:
        await store.insert_key(key(h(1)))
        assert (await store.get_key(h(1))) is not None
    finally:
        await store.close()


def test_open_store_reads_the_url(tmp_path: Path) -> None:
    relative = open_store("sqlite:///gw.db", base_dir=tmp_path)
    assert isinstance(relative, SQLiteStore) and relative.path == str(tmp_path / "gw.db")
    absolute = open_store("sqlite:////var/lib/gw/gw.db", base_dir=tmp_path)
    assert isinstance(absolute, SQLiteStore) and absolute.path == "/var/lib/gw/gw.db"
    for url in ("postgresql://u:p@db:5432/gw", "postgres://db/gw"):
        assert isinstance(open_store(url), PostgresStore)
    for bad in ("mysql://db/gw", "sqlite:///", "gw.db", "sqlite://gw.db"):
        with pytest.raises(ValueError) as err:
            open_store(bad)
        assert "p@" not in str(err.value)


def test_synchronous_must_be_normal_or_full() -> None:
    SQLiteStore("x.db", synchronous="FULL")
    with pytest.raises(ValueError):
        SQLiteStore("x.db", synchronous="OFF; DROP TABLE gw_keys")


# ---------------------------------------------------------------- the inline ledger writer
async def test_ledger_batches_are_written_without_the_store_thread(
        sqlite_store: SQLiteStore) -> None:
    """record() commits on the event loop's own connection: it finishes while the store's
    thread is busy, and a fresh connection sees the rows and the key's spend at once."""
    await sqlite_store.insert_key(key(h(1)))
    release = threading.Event()
    assert sqlite_store._executor is not None
    blocker = asyncio.get_running_loop().run_in_executor(sqlite_store._executor, release.wait)
    try:
        assert await asyncio.wait_for(
            sqlite_store.record([row(f"r{i}", h(1)) for i in range(5)]), 2) == 5
    finally:
        release.set()
        await blocker
    other = sqlite3.connect(sqlite_store.path)
    try:
        assert other.execute("SELECT count(*) FROM gw_spend_log").fetchone()[0] == 5
        assert other.execute("SELECT requests FROM gw_keys").fetchone()[0] == 5
    finally:
        other.close()
    assert await sqlite_store.record([row("r0", h(1))]) == 0  # still idempotent


async def test_a_locked_database_sends_the_batch_to_the_thread_which_waits(
        sqlite_store: SQLiteStore) -> None:
    """Another process's write lock: the loop never waits on it; the thread does (up to
    busy_timeout), and the batch lands once the lock is gone."""
    await sqlite_store.insert_key(key(h(1)))
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, other.execute, "ROLLBACK")
    started = loop.time()
    try:
        assert await sqlite_store.record([row("r1", h(1))]) == 1
    finally:
        other.close()
    assert loop.time() - started >= 0.09  # it waited for the lock (on the thread)
    got = await sqlite_store.get_key(h(1))
    assert got is not None and got.requests == 1


async def test_inline_writes_are_checkpointed_on_the_thread(tmp_path: Path) -> None:
    """The loop's connection never checkpoints; after checkpoint_rows rows the store runs
    a checkpoint on its thread, so the database file itself takes the new pages."""
    store = SQLiteStore(tmp_path / "gw.db")
    await store.open()
    try:
        await store.insert_key(key(h(1)))
        assert store._inline is not None
        store._inline.checkpoint_rows = 300
        await store.record([row(f"a{i:04}", h(1)) for i in range(250)])
        await asyncio.sleep(0.05)
        before = os.path.getsize(store.path)
        assert store._checkpoint is None  # under the threshold: none ran, the file waits
        await store.record([row(f"b{i:04}", h(1)) for i in range(100)])
        assert store._checkpoint is not None
        await store._checkpoint
        assert os.path.getsize(store.path) > before + 4096 * 5
    finally:
        await store.close()
