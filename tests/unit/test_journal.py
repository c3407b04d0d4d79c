"""The spend journal and the recorder's use of it, on a real SQLite store (catalogue I7, C16,
C20, C21): exact money through the file, 0600, bounded, idempotent replay, nothing lost."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.auth import MASTER, KeyCache
from gwd.config import ConfigError, Deployment, load_config
from gwd.errors import ServiceUnavailable
from gwd.journal import JournalError, SpendJournal, database_name, decode, encode
from gwd.policy import Policy
from gwd.pricing import PriceTable
from gwd.schema import validate
from gwd.spend import SpendRecorder
from gwd.store import KeyRecord, LedgerRow, StoreUnavailable
from gwd.store.base import Store
from gwd.store.sqlite import SQLiteStore

DB = "sqlite:/tmp/gw-test.db"
HASH = "ab" * 32


def row(i: int, cost: str | None = "0.000000000001", key: str | None = HASH) -> LedgerRow:
    return LedgerRow(request_id=f"req_{i:06d}", time=datetime(2026, 11, 28, 18, 40, i % 60,
                                                              123456, tzinfo=UTC),
                     key_hash=key, key_alias="alias é", endpoint="chat", requested_model="m",
                     model_group="m", deployment="mock/m", provider="mock", prompt_tokens=i,
                     completion_tokens=2 * i, cost=None if cost is None else Decimal(cost),
                     latency_ms=7, status="success", stream=bool(i % 2))


class FlakyStore:
    """A real store whose ``record`` can be made to fail as if the database were down."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.fail_after: int | None = None   # batches that succeed before failing
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def record(self, rows: Sequence[LedgerRow], settle: Any = None) -> int:
        self.calls += 1
        if self.down or (self.fail_after is not None and self.calls > self.fail_after):
            raise StoreUnavailable("down for the test")
        return await self.inner.record(rows, settle)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "gw.db")
    await s.open()
    await s.insert_key(KeyRecord(token_hash=HASH, key_id="key-0000000000000001",
                                 key_name="sk-...abcd", created_at=datetime.now(UTC)))
    yield s
    await s.close()


async def key_totals(store: SQLiteStore) -> tuple[Decimal, int, int]:
    key = await store.get_key(HASH)
    assert key is not None
    logs = await store.spend_logs(token_hash=HASH, limit=100_000)
    assert sum((r.cost or Decimal(0) for r in logs), Decimal(0)) == key.spend
    return key.spend, key.requests, len(logs)


def test_a_line_keeps_money_and_time_exact() -> None:
    original = row(5, cost="123456.000000000789")
    line = encode(original, True, DB)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    obj = orjson.loads(line)
    assert obj["row"]["cost"] == "123456.000000000789"      # a string, never a float
    assert obj["db"] == DB and obj["settle"] is True
    assert decode(line) == (DB, original, True)
    assert decode(encode(row(6, cost=None), False, DB))[1].cost is None


@pytest.mark.parametrize("line", [b"{", b"[]", b'{"v":2}', b'{"v":1,"db":"x","settle":true}',
                                  encode(row(1), True, DB).replace(b'"prompt_tokens":1',
                                                                   b'"prompt_tokens":"1"'),
                                  encode(row(1), True, DB).replace(b"+00:00", b"")])
def test_a_bad_line_is_a_value_error(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode(line)


def test_database_name_never_carries_credentials() -> None:
    assert database_name("postgresql://u:s3cret@db.internal:5432/gw") == \
        "postgresql://db.internal:5432/gw"
    assert "s3cret" not in database_name("postgresql://u:s3cret@[::1/gw")
    assert database_name("sqlite:///rel.db") == "sqlite:" + os.path.abspath("rel.db")


async def test_append_is_0600_and_replay_writes_once_then_empties(tmp_path: Path,
                                                                  store: SQLiteStore) -> None:
    journal = SpendJournal(tmp_path / "j.jsonl", DB)
    await journal.append([(row(i), False) for i in range(3)])
    await journal.append([(row(3), False)])
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    assert journal.pending
    assert await journal.replay(store) == 4
    assert os.path.getsize(journal.path) == 0 and not journal.pending
    # a crash between the write and the truncation: the same lines again are no-ops
    await journal.append([(row(i), False) for i in range(4)])
    assert await journal.replay(store) == 0
    assert await key_totals(store) == (Decimal("0.000000000004"), 4, 4)


async def test_replay_that_fails_half_way_keeps_the_file_and_counts_once(
        tmp_path: Path, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gwd.journal.BATCH", 10)
    journal = SpendJournal(tmp_path / "j.jsonl", DB)
    await journal.append([(row(i, cost="0.1"), False) for i in range(35)])
    size = os.path.getsize(journal.path)
    flaky = FlakyStore(store)
    flaky.fail_after = 2
    with pytest.raises(StoreUnavailable):
        await journal.replay(flaky)  # type: ignore[arg-type]
    assert os.path.getsize(journal.path) == size
    assert await journal.replay(store) == 15
    assert await key_totals(store) == (Decimal("3.5"), 35, 35)


async def test_a_full_journal_refuses_without_leaving_half_a_line(tmp_path: Path) -> None:
    two = len(encode(row(0), False, DB) + encode(row(1), False, DB))
    journal = SpendJournal(tmp_path / "j.jsonl", DB, max_bytes=two + two // 2)
    await journal.append([(row(0), False), (row(1), False)])
    with pytest.raises(JournalError, match="full"):
        await journal.append([(row(2), False), (row(3), False)])
    assert os.path.getsize(journal.path) == two


async def test_unreadable_and_foreign_lines_are_set_aside(tmp_path: Path, store: SQLiteStore,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    path = tmp_path / "j.jsonl"
    foreign = encode(row(9), False, "postgresql://elsewhere:5432/gw")
    path.write_bytes(encode(row(1), False, DB) + foreign + b"garbage\n" +
                     encode(row(2), False, DB)[:-20])   # a torn last line
    journal = SpendJournal(path, DB)
    with caplog.at_level(logging.ERROR, logger="gwd.spend"):
        assert await journal.replay(store) == 1
    assert path.read_bytes() == foreign and not journal.pending
    rejected = (tmp_path / "j.jsonl.rejected").read_bytes().splitlines()
    assert rejected[0] == b"garbage" and len(rejected) == 2
    assert "another database" in caplog.text and "could not be replayed" in caplog.text


async def test_concurrent_appenders_on_one_file_never_interleave(tmp_path: Path,
                                                                 store: SQLiteStore) -> None:
    a = SpendJournal(tmp_path / "j.jsonl", DB)
    b = SpendJournal(tmp_path / "j.jsonl", DB)   # another process's view of the same file
    await asyncio.gather(*(j.append([(row(i * 10 + n), False) for n in range(10)])
                           for i, j in enumerate([a, b] * 10)))
    assert await a.replay(store) == 200
    assert await key_totals(store) == (Decimal("0.0000000002"), 200, 200)


async def test_recorder_spills_to_the_journal_and_replays_when_the_store_is_back(
        tmp_path: Path, store: SQLiteStore, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyStore(store)
    journal = SpendJournal(tmp_path / "j.jsonl", DB)
    recorder = SpendRecorder(flaky, 0.01, journal)  # type: ignore[arg-type]
    await recorder.start()
    assert await store.reserve(HASH, row(0).request_id, Decimal(1), Decimal(100)) == 1
    flaky.down = True
    for i in range(50):
        recorder.add(row(i, cost="0.01"), reserved=i == 0)
    with pytest.raises(StoreUnavailable):
        await recorder.flush()
    assert recorder.pending == 0 and journal.pending   # on disk, not in memory
    with caplog.at_level(logging.WARNING, logger="gwd.spend"):
        await recorder.close()                          # SIGTERM while the DB is down
    assert "in the journal" in caplog.text
    assert (await key_totals(store))[1:] == (0, 0)
    flaky.down = False
    again = SpendRecorder(flaky, 0.01, SpendJournal(tmp_path / "j.jsonl", DB))  # type: ignore[arg-type]
    await again.start()                                  # the next start replays
    await again.close()
    assert await key_totals(store) == (Decimal("0.5"), 50, 50)
    assert os.path.getsize(journal.path) == 0
    key = await store.get_key(HASH)
    assert key is not None and key.reserved == 0   # the reservation settled with its row


async def test_recorder_writes_the_journal_in_the_background_once_the_store_answers(
        tmp_path: Path, store: SQLiteStore) -> None:
    flaky = FlakyStore(store)
    recorder = SpendRecorder(flaky, 0.01, SpendJournal(tmp_path / "j.jsonl", DB))  # type: ignore[arg-type]
    await recorder.start()
    flaky.down = True
    for i in range(20):
        recorder.add(row(i, cost="0.25"))
    for _ in range(200):  # the flusher moves them to disk within an interval or two
        if recorder.pending == 0 and recorder.store_down:
            break
        await asyncio.sleep(0.01)
    assert recorder.pending == 0 and recorder.journaled == 20
    flaky.down = False
    for _ in range(300):
        if not recorder.store_down:
            break
        await asyncio.sleep(0.01)
    await recorder.close()
    assert await key_totals(store) == (Decimal("5"), 20, 20)


async def test_without_a_journal_rows_stay_in_memory_until_the_store_answers(
        store: SQLiteStore) -> None:
    flaky = FlakyStore(store)
    recorder = SpendRecorder(flaky, 0.01)  # type: ignore[arg-type]
    flaky.down = True
    recorder.add(row(1))
    with pytest.raises(StoreUnavailable):
        await recorder.flush()
    assert recorder.pending == 1
    flaky.down = False
    await recorder.flush()
    assert await key_totals(store) == (Decimal("0.000000000001"), 1, 1)


async def test_cached_keys_fail_closed_after_their_ttl_unless_stale_if_error(
        store: SQLiteStore) -> None:
    now = [0.0]
    flaky = FlakyStore(store)
    cache = KeyCache(flaky, 5.0, lambda: now[0])  # type: ignore[arg-type]
    assert isinstance(await cache.get(HASH), KeyRecord)

    async def down(*_: object) -> None:
        raise StoreUnavailable("down")
    flaky.get_key = down  # type: ignore[method-assign]
    now[0] = 4.9
    assert isinstance(await cache.get(HASH), KeyRecord)      # within the TTL: still served
    now[0] = 5.1
    with pytest.raises(StoreUnavailable):
        await cache.get(HASH)                                  # past it: 503, never 401
    with pytest.raises(StoreUnavailable):
        await cache.get("cd" * 32)                             # unknown key: 503 as well
    cache.stale_if_error = True
    now[0] = timedelta(hours=1).total_seconds()
    assert isinstance(await cache.get(HASH), KeyRecord)      # opt-in: served until it's back
    with pytest.raises(StoreUnavailable):
        await cache.get("cd" * 32)


async def test_calls_are_refused_while_spend_could_not_be_recorded(
        store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gwd.spend.MAX_BUFFERED", 3)
    flaky = FlakyStore(store)
    recorder = SpendRecorder(flaky)  # type: ignore[arg-type]   no journal: memory only
    dep = Deployment(id="m", model_name="m", provider="mock", model="m", litellm_model="mock/m",
                     api_base=None)
    policy = Policy({"m": (dep,)}, PriceTable.packaged(), store, 100, recorder)
    req = validate("chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]}, 10)
    flaky.down = True
    for i in range(3):
        await policy.admit(MASTER, req)
        recorder.add(row(i))
    with pytest.raises(ServiceUnavailable) as err:
        await policy.admit(MASTER, req)                       # never serve what cannot be billed
    assert err.value.code == "spend_backlog_full"
    flaky.down = False
    await recorder.flush()
    assert (await policy.admit(MASTER, req)).group == "m"


def test_database_fault_settings_are_read_and_validated(tmp_path: Path) -> None:
    def load(general: str) -> Any:
        path = tmp_path / "gw.yaml"
        path.write_text("model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
                        f"general_settings: {{{general}}}\n")
        return load_config(path)

    default = load("")
    assert default.spend_journal_path == str(tmp_path.resolve() / "gw.spend-journal.jsonl")
    g = default.general
    assert (g.spend_journal_max_mb, g.database_connection_pool_limit,
            g.database_connection_timeout, g.allow_requests_on_db_unavailable) == \
        (64.0, 10, 2.0, False)
    custom = load("spend_journal: state/j.jsonl, spend_journal_max_mb: 1.5, "
                  "database_connection_pool_limit: 3, database_connection_timeout: 0.5, "
                  "allow_requests_on_db_unavailable: true")
    assert custom.spend_journal_path == str(tmp_path.resolve() / "state" / "j.jsonl")
    assert (custom.general.spend_journal_max_mb, custom.general.database_connection_pool_limit,
            custom.general.database_connection_timeout,
            custom.general.allow_requests_on_db_unavailable) == (1.5, 3, 0.5, True)
    for bad in ("database_connection_pool_limit: 0", "database_connection_pool_limit: 1.5",
                "database_connection_timeout: 0", "spend_journal_max_mb: -1",
                "allow_requests_on_db_unavailable: maybe", "spend_journal: ''"):
        with pytest.raises(ConfigError, match=bad.split(":")[0]):
            load(bad)
