"""Blocking, re-keying (LiteLLM's /key/regenerate) and filtered key lists, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from gwd.store import KeyExists, Store

from .storekit import MISMATCHED, Inbox, h, key, kid, raw_scalar, row

LEDGER_ROWS = "SELECT count(*) FROM gw_spend_log WHERE key_hash = $1"


async def test_blocked_is_stored_read_back_and_updatable(store: Store) -> None:
    await store.insert_key(key(h(1)))
    await store.insert_key(key(h(2), blocked=True))
    first, second = await store.get_key(h(1)), await store.get_key(h(2))
    assert first is not None and second is not None
    assert (first.blocked, second.blocked) == (False, True)
    updated = await store.update_key(h(1), {"blocked": True, "key_alias": "x"})
    assert updated is not None and (updated.blocked, updated.key_alias) == (True, "x")
    again = await store.update_key(h(1), {"key_alias": "y"})  # other changes keep it
    assert again is not None and again.blocked is True
    unblocked = await store.update_key(h(1), {"blocked": False})
    assert unblocked is not None and unblocked.blocked is False
    by_id = await store.get_key_by_id(kid(h(2)))
    assert by_id is not None and by_id.blocked is True
    with pytest.raises(ValueError):
        await store.update_key(h(1), {"blocked": "yes"})


async def test_rekey_moves_record_spend_reservations_and_ledger(store: Store,
                                                                store_url: str) -> None:
    await store.insert_key(key(h(1), key_alias="team", max_budget=Decimal(10)))
    await store.record([row("r1", h(1), Decimal("0.25")), row("r2", h(1), Decimal("0.5"))])
    assert await store.reserve(h(1), "open-1", Decimal("1.5"), Decimal(10)) == Decimal("1.5")
    moved = await store.rekey(h(1), h("new"), "sk-...wxyz")
    assert moved is not None
    assert (moved.token_hash, moved.key_id, moved.key_name, moved.key_alias) == \
        (h("new"), kid(h(1)), "sk-...wxyz", "team")
    assert (moved.spend, moved.requests, moved.reserved) == (Decimal("0.75"), 2,
                                                             Decimal("1.5"))
    assert await store.get_key(h(1)) is None
    assert await raw_scalar(store_url, MISMATCHED) == 0
    assert await raw_scalar(store_url, LEDGER_ROWS, h("new")) == 2
    assert await raw_scalar(store_url, LEDGER_ROWS, h(1)) == 0
    # the open reservation settles against the moved key
    await store.record([row("open-1", h("new"), Decimal("1"))], settle={"open-1": h("new")})
    after = await store.get_key(h("new"))
    assert after is not None and (after.spend, after.reserved) == (Decimal("1.75"), 0)
    assert await store.rekey(h("nothing"), h("other"), "sk-...0000") is None


async def test_rekey_onto_a_taken_hash_is_refused_and_changes_nothing(store: Store) -> None:
    await store.insert_key(key(h(1)))
    await store.insert_key(key(h(2)))
    with pytest.raises(KeyExists):
        await store.rekey(h(1), h(2), "sk-...dupe")
    first = await store.get_key(h(1))
    assert first is not None and first.key_name == "sk-...abcd"
    with pytest.raises(ValueError):
        await store.rekey(h(1), h(1), "sk-...same")


async def test_list_and_count_keys_filter_by_alias(store: Store) -> None:
    for n, alias in enumerate(["a", "b", "a", None, "a'; DROP TABLE gw_keys; --"]):
        await store.insert_key(key(h(n), key_alias=alias))
    assert await store.count_keys() == 5
    assert await store.count_keys("a") == 2
    assert {k.token_hash for k in await store.list_keys(key_alias="a")} == {h(0), h(2)}
    assert len(await store.list_keys(limit=1, offset=1, key_alias="a")) == 1
    assert await store.list_keys(key_alias="zzz") == [] and await store.count_keys("zzz") == 0
    assert await store.count_keys("a'; DROP TABLE gw_keys; --") == 1


async def test_rekey_notifies_other_replicas_of_the_old_hash(
        make_store: Callable[[], Awaitable[Store]], backend_url: str) -> None:
    if not backend_url.startswith("postgres"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (SQLite: the epoch, tested below)")
    writer, reader = await make_store(), await make_store()
    inbox = Inbox()
    await reader.listen(inbox)
    await writer.insert_key(key(h(1)))
    await writer.rekey(h(1), h(2), "sk-...new0")
    assert await asyncio.wait_for(inbox.queue.get(), 5) == h(1)


async def test_rekey_and_block_bump_the_sqlite_key_epoch(store: Store, store_url: str) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("the key epoch is SQLite's (PostgreSQL: NOTIFY, tested above)")
    epoch = "SELECT epoch FROM gw_key_epoch WHERE id = 1"
    await store.insert_key(key(h(1)))
    before = await raw_scalar(store_url, epoch)
    await store.update_key(h(1), {"blocked": True})
    blocked = await raw_scalar(store_url, epoch)
    await store.rekey(h(1), h(2), "sk-...new0")
    assert before < blocked < await raw_scalar(store_url, epoch)
