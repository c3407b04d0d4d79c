"""Public key_ids and deleted-key tombstones, run against both backends, and the upgrade of
a database created before they existed (migrations 0004_key_id and 0005_deleted_keys)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from gwd.store import KeyExists, KeyRecord, KeySpend, Store, pg_schema, sqlite_schema

from .storekit import INJECTIONS, T0, h, key, kid, raw_scalar, row

MakeStore = Callable[[], Awaitable[Store]]
KEY_ID = re.compile(r"^key-[0-9a-f]{16}$")
NEW_MIGRATIONS = ("0004_key_id", "0005_deleted_keys")
TOMBSTONE = "SELECT key_id FROM gw_deleted_keys WHERE token_hash = $1"


# key_id ------------------------------------------------------------------------
async def test_key_id_comes_back_from_every_read(store: Store) -> None:
    await store.insert_key(key(h(1), key_id="key-0123456789abcdef"))
    await store.insert_key(key(h(2)))
    got = await store.get_key(h(1))
    assert got is not None and got.key_id == "key-0123456789abcdef"
    assert await store.get_key_by_id("key-0123456789abcdef") == got
    assert {k.token_hash: k.key_id for k in await store.list_keys()} == {
        h(1): "key-0123456789abcdef", h(2): kid(h(2))}
    updated = await store.update_key(h(1), {"key_alias": "renamed"})
    assert updated is not None and updated.key_id == "key-0123456789abcdef"
    await store.record([row("r1", h(1), Decimal("0.5"))])
    assert [(s.token_hash, s.key_id) for s in await store.spend_by_key()] == [
        (h(1), "key-0123456789abcdef"), (h(2), kid(h(2)))]


async def test_a_duplicate_key_id_raises_key_exists(store: Store) -> None:
    await store.insert_key(key(h(1), key_id="key-same", key_alias="first"))
    with pytest.raises(KeyExists, match="key_id"):
        await store.insert_key(key(h(2), key_id="key-same", key_alias="second"))
    with pytest.raises(KeyExists, match="hash"):
        await store.insert_key(key(h(1), key_id="key-other"))
    assert await store.get_key(h(2)) is None
    assert await store.get_key_by_id("key-other") is None
    got = await store.get_key_by_id("key-same")
    assert got is not None and (got.token_hash, got.key_alias) == (h(1), "first")


@pytest.mark.parametrize("key_id", ["", None, 123, b"key-bytes"])
async def test_insert_without_a_key_id_is_refused(store: Store, key_id: object) -> None:
    with pytest.raises(ValueError, match="key_id"):
        await store.insert_key(key(h(1), key_id=key_id))
    with pytest.raises(ValueError, match="key_id"):  # the dataclass default
        await store.insert_key(KeyRecord(token_hash=h(1), key_name="sk-...abcd", created_at=T0))
    assert await store.get_key(h(1)) is None and await store.list_keys() == []


async def test_key_id_defaults_keep_old_constructions_working() -> None:
    record = KeyRecord(token_hash=h(1), key_name="sk-...abcd", created_at=T0)
    assert record.key_id == ""
    spend = KeySpend(h(1), "sk-...abcd", None, Decimal(0), 0, None, None)
    assert spend.key_id == ""


async def test_get_key_by_id_finds_only_live_keys(store: Store) -> None:
    for n in range(3):
        await store.insert_key(key(h(n)))
    for n in range(3):
        got = await store.get_key_by_id(kid(h(n)))
        assert got is not None and got.token_hash == h(n)
    assert await store.get_key_by_id("key-0000000000000000") is None
    assert await store.get_key_by_id("") is None
    assert await store.get_key_by_id(h(0)) is None  # a hash is not a key_id
    await store.delete_keys([h(1)])
    assert await store.get_key_by_id(kid(h(1))) is None


async def test_injection_looking_key_ids_are_harmless(store: Store) -> None:
    await store.insert_key(key(h(0)))
    await store.record([row("r0", h(0))])
    for evil in [*INJECTIONS, "' OR '1'='1", "key-%", "key-_", "*"]:
        assert await store.get_key_by_id(evil) is None
    assert [k.token_hash for k in await store.list_keys()] == [h(0)]
    assert len(await store.spend_logs()) == 1
    for n, evil in enumerate(INJECTIONS, start=1):
        await store.insert_key(key(h(n), key_id=evil))
    for n, evil in enumerate(INJECTIONS, start=1):
        got = await store.get_key_by_id(evil)
        assert got is not None and (got.token_hash, got.key_id) == (h(n), evil)
    assert len(await store.list_keys()) == len(INJECTIONS) + 1


async def test_key_id_cannot_be_updated(store: Store) -> None:
    await store.insert_key(key(h(1)))
    with pytest.raises(ValueError):
        await store.update_key(h(1), {"key_id": "key-new"})
    got = await store.get_key(h(1))
    assert got is not None and got.key_id == kid(h(1))


# tombstones ----------------------------------------------------------------------
async def test_delete_leaves_a_tombstone_only_for_keys_that_existed(
        store: Store, store_url: str) -> None:
    await store.insert_key(key(h(1)))
    await store.insert_key(key(h(2)))
    await store.record([row("r1", h(1), Decimal("0.25"))])
    assert await store.deleted_at(h(1)) is None  # live
    before = datetime.now(UTC)
    assert await store.delete_keys([h(1), h("ghost")]) == [h(1)]
    after = datetime.now(UTC)
    when = await store.deleted_at(h(1))
    assert when is not None and when.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=2) <= when <= after + timedelta(seconds=2)
    assert await store.deleted_at(h("ghost")) is None  # never existed
    assert await store.deleted_at(h(2)) is None  # still live
    assert await raw_scalar(store_url, TOMBSTONE, h(1)) == kid(h(1))
    assert await raw_scalar(store_url, "SELECT count(*) FROM gw_deleted_keys") == 1
    # nothing else changes: gone from every key read, its ledger rows stay
    assert await store.get_key(h(1)) is None
    assert await store.get_key_by_id(kid(h(1))) is None
    assert [k.token_hash for k in await store.list_keys()] == [h(2)]
    assert [s.token_hash for s in await store.spend_by_key()] == [h(2)]
    assert [r.request_id for r in await store.spend_logs(token_hash=h(1))] == ["r1"]


async def test_deleting_again_keeps_the_first_deleted_at(store: Store) -> None:
    await store.insert_key(key(h(1)))
    assert await store.delete_keys([h(1)]) == [h(1)]
    first = await store.deleted_at(h(1))
    assert first is not None
    await asyncio.sleep(0.01)
    assert await store.delete_keys([h(1)]) == []
    assert await store.deleted_at(h(1)) == first
    # the same hash stored and deleted once more: the first tombstone stays
    await store.insert_key(key(h(1), key_id="key-second-life"))
    assert await store.delete_keys([h(1), h(1)]) == [h(1)]
    assert await store.deleted_at(h(1)) == first


async def test_tombstones_are_visible_to_another_store(make_store: MakeStore) -> None:
    one, two = await make_store(), await make_store()
    await one.insert_key(key(h(1)))
    await one.delete_keys([h(1)])
    assert await two.deleted_at(h(1)) == await one.deleted_at(h(1)) is not None


# upgrading a database from before key_ids ---------------------------------------------
def test_the_new_migrations_are_appended_on_both_backends() -> None:
    for schema in (sqlite_schema, pg_schema):
        names = [m.name for m in schema.MIGRATIONS]
        assert names[:3] == ["0001_keys", "0002_spend_log", "0003_reservations"]
        assert tuple(names[3:5]) == NEW_MIGRATIONS


def _n_old(schema: Any) -> int:
    return [m.name for m in schema.MIGRATIONS].index(NEW_MIGRATIONS[0])


OLD_INSERT_SQLITE = "INSERT INTO gw_keys (token_hash, key_name, created_at) VALUES (?, ?, ?)"
OLD_INSERT_PG = "INSERT INTO gw_keys (token_hash, key_name, created_at) VALUES ($1, $2, $3)"
OLD_LEDGER_SQLITE = (
    "INSERT INTO gw_spend_log (request_id, time, key_hash, endpoint, requested_model,"
    " model_group, deployment, provider, prompt_tokens, completion_tokens, cost, latency_ms,"
    " status, stream, usage_estimated) VALUES (?, 0, ?, 'chat', 'm', 'g', 'd', 'p', 1, 2,"
    " 1000000, 5, 'success', 0, 0)")
OLD_LEDGER_PG = (
    "INSERT INTO gw_spend_log (request_id, time, key_hash, endpoint, requested_model,"
    " model_group, deployment, provider, prompt_tokens, completion_tokens, cost, latency_ms,"
    " status, stream, usage_estimated) VALUES ($1, now(), $2, 'chat', 'm', 'g', 'd', 'p', 1,"
    " 2, 0.000001, 5, 'success', false, false)")


async def _old_database(url: str, monkeypatch: pytest.MonkeyPatch,
                        keys: list[tuple[str, str]]) -> None:
    """Create the schema as the release before key_ids did, and add keys its way."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
        try:
            with monkeypatch.context() as patch:
                patch.setattr(sqlite_schema, "MIGRATIONS",
                              sqlite_schema.MIGRATIONS[:_n_old(sqlite_schema)])
                assert len(sqlite_schema.migrate(conn)) == 3
            for token_hash, name in keys:
                conn.execute(OLD_INSERT_SQLITE, (token_hash, name, 1_700_000_000_000_000))
                conn.execute(OLD_LEDGER_SQLITE, ("old-" + token_hash, token_hash))
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url, timeout=10)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:_n_old(pg_schema)])
            assert len(await pg_schema.migrate(pg)) == 3
        for token_hash, name in keys:
            await pg.execute(OLD_INSERT_PG, token_hash, name, T0)
            await pg.execute(OLD_LEDGER_PG, "old-" + token_hash, token_hash)
    finally:
        await pg.close()


async def _insert_the_old_way(url: str, token_hash: str) -> None:
    """What an older gwd sharing the database does after the upgrade: no key_id."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
        try:
            conn.execute(OLD_INSERT_SQLITE, (token_hash, "sk-...late", 1_700_000_000_000_000))
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url, timeout=10)
    try:
        await pg.execute(OLD_INSERT_PG, token_hash, "sk-...late", T0)
    finally:
        await pg.close()


async def test_a_database_from_before_key_ids_upgrades_cleanly(
        store_url: str, make_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await _old_database(store_url, monkeypatch, [(h(1), "sk-...old1"), (h(2), "sk-...old2")])
    assert await raw_scalar(store_url, "SELECT count(*) FROM gw_migrations") == 3
    store = await make_store()  # applies 0004, 0005 and every later one
    applied = await raw_scalar(store_url, "SELECT count(*) FROM gw_migrations")
    schema = sqlite_schema if store_url.startswith("sqlite:") else pg_schema
    assert applied == len(schema.MIGRATIONS)
    old = [await store.get_key(h(n)) for n in (1, 2)]
    assert all(k is not None and KEY_ID.match(k.key_id) for k in old)
    ids = [k.key_id for k in old if k is not None]
    assert len(set(ids)) == 2
    for n, key_id in zip((1, 2), ids, strict=True):
        got = await store.get_key_by_id(key_id)
        assert got is not None and (got.token_hash, got.key_name) == (h(n), f"sk-...old{n}")
        assert got.requests == 0 and got.created_at.utcoffset() == timedelta(0)
    assert {s.key_id for s in await store.spend_by_key()} == set(ids)
    # the unique index holds on the upgraded table
    with pytest.raises(KeyExists):
        await store.insert_key(key(h(3), key_id=ids[0]))
    await store.insert_key(key(h(3)))
    # an older gwd still inserting without a key_id gets one from the database
    await _insert_the_old_way(store_url, h(4))
    late = await store.get_key(h(4))
    assert late is not None and KEY_ID.match(late.key_id) and late.key_id not in ids
    # tombstones work on the upgraded database; the old ledger rows stay
    assert await store.delete_keys([h(1)]) == [h(1)]
    assert await store.deleted_at(h(1)) is not None
    assert await raw_scalar(store_url, TOMBSTONE, h(1)) == ids[0]
    assert len(await store.spend_logs()) == 2
    # opening again applies nothing more
    await make_store()
    assert await raw_scalar(store_url, "SELECT count(*) FROM gw_migrations") == applied
