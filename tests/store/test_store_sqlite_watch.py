"""SQLite only: processes sharing one file learn of each other's key changes (listen polls
the key epoch that triggers bump on every key write)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from gwd.store import DROP_ALL, StoreUnavailable
from gwd.store import sqlite_rows as rows
from gwd.store.sqlite import SQLiteStore
from gwd.store.sqlite_watch import EpochWatcher

from .storekit import T0, Inbox, h, key, row

MakeStore = Callable[..., Awaitable[SQLiteStore]]
FAST = 0.05  # poll interval of most tests (the default is 0.5 s)


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Open SQLiteStores on one file, as the N processes of ``gwd --workers N`` do."""
    stores: list[SQLiteStore] = []

    async def make(poll_interval: float = FAST) -> SQLiteStore:
        store = SQLiteStore(tmp_path / "gw.db", poll_interval=poll_interval)
        stores.append(store)
        await store.open()
        return store

    yield make
    for store in stores:
        await store.close()


def watch_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "gw-sqlite-watch"]


async def test_insert_update_and_delete_reach_the_other_process(
        processes: MakeStore) -> None:
    writer, reader = await processes(), await processes()
    inbox = Inbox()
    assert not reader.listening
    await reader.listen(inbox)
    assert reader.listening
    await inbox.nothing(0.2)  # nothing changed yet
    await writer.insert_key(key(h(1)))
    assert await inbox.next() == DROP_ALL
    await writer.update_key(h(1), {"key_alias": "x"})
    assert await inbox.next() == DROP_ALL
    await writer.delete_keys([h(1), h("never")])
    assert await inbox.next() == DROP_ALL
    # no key changed: nothing to say
    assert await writer.update_key(h("never"), {"key_alias": "x"}) is None
    assert await writer.delete_keys([h(1), h("never")]) == []
    await inbox.nothing()


async def test_spending_does_not_empty_the_caches(processes: MakeStore) -> None:
    writer, reader = await processes(), await processes()
    await writer.insert_key(key(h(1)))
    inbox = Inbox()
    await reader.listen(inbox)
    assert await writer.reserve(h(1), "q1", Decimal(1), Decimal(10)) == Decimal(1)
    await writer.record([row("q1", h(1), Decimal("0.5"))], settle={"q1": h(1)})
    await writer.expire_reservations(T0)
    await inbox.nothing()


async def test_the_default_interval_tells_within_a_second(processes: MakeStore) -> None:
    writer, reader = await processes(), await processes(poll_interval=0.5)
    assert reader.poll_interval == 0.5 == SQLiteStore("x.db").poll_interval
    got: list[str] = []  # a plain (sync) callback works too
    await reader.listen(got.append)
    await writer.insert_key(key(h(1)))
    started = asyncio.get_running_loop().time()
    while not got and asyncio.get_running_loop().time() - started < 1.0:
        await asyncio.sleep(0.01)
    assert got == [DROP_ALL]


async def test_two_updates_in_the_same_microsecond_both_count(
        processes: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """updated_at cannot tell such updates apart (here: the same clock reading, even the
    same values), the epoch can: after the last callback a reload sees the last update."""
    writer, reader = await processes(), await processes()
    await writer.insert_key(key(h(1)))
    monkeypatch.setattr(rows, "now_us", lambda: 1_700_000_000_000_000)
    seen: list[str | None] = []
    changed = asyncio.Event()

    async def reload(token_hash: str) -> None:  # what the key cache does: drop, re-read
        assert token_hash == DROP_ALL
        record = await reader.get_key(h(1))
        seen.append(None if record is None else record.key_alias)
        changed.set()

    async def after(change: Awaitable[object]) -> None:
        changed.clear()
        await change
        await asyncio.wait_for(changed.wait(), 1.0)

    await reader.listen(reload)
    await after(writer.update_key(h(1), {"key_alias": "a"}))
    first = await reader.get_key(h(1))
    await after(writer.update_key(h(1), {"key_alias": "b"}))
    second = await reader.get_key(h(1))
    assert first is not None and second is not None and first.updated_at == second.updated_at
    await after(writer.update_key(h(1), {"key_alias": "b"}))  # not even the row changes
    assert seen == ["a", "b", "b"]
    # back to back (between two polls): at least one callback, after the last update
    await writer.update_key(h(1), {"key_alias": "c"})
    await writer.update_key(h(1), {"key_alias": "d"})
    for _ in range(100):
        if seen[-1] == "d":
            break
        await asyncio.sleep(0.02)
    assert seen[-1] == "d"


async def test_a_key_deleted_and_created_again_between_two_polls_is_seen(
        processes: MakeStore) -> None:
    writer, reader = await processes(), await processes(poll_interval=0.3)
    await writer.insert_key(key(h(1)))
    await writer.delete_keys([h(1)])  # leaves the tombstone: counts stay the same below
    inbox = Inbox()
    await reader.listen(inbox)
    await writer.insert_key(key(h(1), key_alias="again"))
    await writer.delete_keys([h(1)])
    await writer.insert_key(key(h(1)))
    assert await inbox.next() == DROP_ALL


async def test_a_write_from_outside_the_store_is_seen_too(processes: MakeStore) -> None:
    """The triggers count every write: an older gwd sharing the file, or an operator."""
    reader = await processes()
    inbox = Inbox()
    await reader.listen(inbox)
    conn = sqlite3.connect(reader.path, isolation_level=None)
    try:
        conn.execute("INSERT INTO gw_keys (token_hash, key_name, created_at) VALUES (?, ?, ?)",
                     (h(1), "sk-...old", 1_700_000_000_000_000))
        assert await inbox.next() == DROP_ALL
        conn.execute("UPDATE gw_keys SET models = ? WHERE token_hash = ?", ('["x"]', h(1)))
        assert await inbox.next() == DROP_ALL
    finally:
        conn.close()


async def test_close_stops_polling(processes: MakeStore) -> None:
    writer, reader = await processes(), await processes()
    inbox = Inbox()
    await reader.listen(inbox)
    assert len(watch_tasks()) == 1
    await reader.close()
    assert not reader.listening
    assert watch_tasks() == []
    await writer.insert_key(key(h(1)))
    await inbox.nothing()
    await reader.close()  # twice is fine
    with pytest.raises(StoreUnavailable):
        await reader.listen(inbox)


async def test_listen_needs_an_open_store_and_happens_once(processes: MakeStore,
                                                           tmp_path: Path) -> None:
    closed = SQLiteStore(tmp_path / "other.db")
    with pytest.raises(StoreUnavailable):
        await closed.listen(Inbox())
    store = await processes()
    await store.listen(Inbox())
    with pytest.raises(RuntimeError):
        await store.listen(Inbox())
    with pytest.raises(ValueError):
        SQLiteStore("x.db", poll_interval=0)


async def test_unreadable_epoch_is_retried_quietly_and_nothing_is_missed(
        processes: MakeStore, caplog: pytest.LogCaptureFixture) -> None:
    """Reads failing for a moment (here: the table renamed away by another connection)
    log nothing above DEBUG; the change made meanwhile is told once they work again."""
    writer, reader = await processes(), await processes()
    inbox = Inbox()
    await reader.listen(inbox)
    caplog.set_level(logging.DEBUG, logger="gwd.store")
    other = sqlite3.connect(reader.path, isolation_level=None)
    try:
        other.execute("ALTER TABLE gw_key_epoch RENAME TO gw_key_epoch_away")
        for _ in range(100):
            if not reader.listening:
                break
            await asyncio.sleep(0.01)
        assert not reader.listening
        await writer.insert_key(key(h(1)))  # the triggers follow the renamed table
        await asyncio.sleep(10 * FAST)
        assert inbox.queue.empty()
        other.execute("ALTER TABLE gw_key_epoch_away RENAME TO gw_key_epoch")
    finally:
        other.close()
    assert await inbox.next() == DROP_ALL
    assert reader.listening
    await inbox.nothing()
    assert [r.levelname for r in caplog.records if r.name == "gwd.store"] == ["DEBUG"]


# the watcher itself, with a fake reader ------------------------------------------------
class FlakyEpoch:
    """A read() that fails while ``broken``, else returns ``value``."""

    def __init__(self) -> None:
        self.value = 0
        self.broken = False
        self.reads = 0

    async def __call__(self) -> int:
        self.reads += 1
        if self.broken:
            raise StoreUnavailable("SQLite database 'gw.db': database is locked")
        return self.value


async def wait_reads(epoch: FlakyEpoch, n: int) -> None:
    target = epoch.reads + n
    while epoch.reads < target:
        await asyncio.sleep(0.005)


async def test_a_long_outage_warns_once_and_says_when_it_is_over(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gwd.store")
    epoch, inbox = FlakyEpoch(), Inbox()
    watcher = EpochWatcher(epoch, inbox, interval=0.01, warn_after=0.1)
    await watcher.start()
    try:
        epoch.broken = True
        await wait_reads(epoch, 3)
        assert not watcher.listening
        assert [r.levelname for r in caplog.records] == []  # brief: not a word above DEBUG
        await asyncio.sleep(0.2)
        await wait_reads(epoch, 10)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "database is locked" in warnings[0].getMessage()
        epoch.broken = False  # back, unchanged: nothing to drop
        await wait_reads(epoch, 3)
        assert watcher.listening
        await inbox.nothing(0.1)
        assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    finally:
        await watcher.stop()


async def test_a_first_read_that_fails_means_drop_all_once_reads_work(
        caplog: pytest.LogCaptureFixture) -> None:
    epoch, inbox = FlakyEpoch(), Inbox()
    epoch.broken = True
    watcher = EpochWatcher(epoch, inbox, interval=0.01)
    await watcher.start()  # returns after the failed first read
    try:
        assert not watcher.listening
        epoch.broken = False
        assert await inbox.next() == DROP_ALL
        assert watcher.listening
    finally:
        await watcher.stop()


async def test_a_failing_callback_is_logged_and_polling_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    epoch, calls = FlakyEpoch(), []

    def callback(token_hash: str) -> None:
        calls.append(token_hash)
        raise RuntimeError("boom")

    watcher = EpochWatcher(epoch, callback, interval=0.01)
    await watcher.start()
    try:
        epoch.value = 1
        await wait_reads(epoch, 3)
        epoch.value = 2
        await wait_reads(epoch, 3)
        assert calls == [DROP_ALL, DROP_ALL]
        assert sum("callback failed" in r.getMessage() for r in caplog.records) == 2
    finally:
        await watcher.stop()


async def test_stop_during_the_first_read_leaves_no_task() -> None:
    release = asyncio.Event()

    async def slow_read() -> int:
        await release.wait()
        return 0

    watcher = EpochWatcher(slow_read, Inbox(), interval=0.01)
    starting = asyncio.create_task(watcher.start())
    await asyncio.sleep(0.01)
    await watcher.stop()
    release.set()
    await starting
    assert watch_tasks() == [] and not watcher.listening
    with pytest.raises(RuntimeError):
        await watcher.start()
