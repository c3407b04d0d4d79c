"""The store contract, run against both backends: migrations, keys and the spend ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gwd.store import UPDATABLE, KeyExists, Store, StoreUnavailable, open_store

from .storekit import INJECTIONS, T0, h, key, raw_scalar, row

MakeStore = Callable[[], Awaitable[Store]]
MIGRATIONS = "SELECT count(*) FROM gw_migrations"


# migrations ------------------------------------------------------------------
async def test_reopening_applies_no_migration_twice_and_keeps_data(
        store: Store, make_store: MakeStore, store_url: str) -> None:
    applied = await raw_scalar(store_url, MIGRATIONS)
    assert applied >= 3
    await store.insert_key(key(h(1)))
    await store.open()  # a second open() on an open store is a no-op
    await store.close()
    again = await make_store()
    assert await raw_scalar(store_url, MIGRATIONS) == applied
    assert (await again.get_key(h(1))) is not None


async def test_stores_opening_at_once_migrate_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        counts = await raw_scalar(store_url, MIGRATIONS)
        await stores[0].insert_key(key(h(1)))
        assert all([await s.get_key(h(1)) is not None for s in stores])
    finally:
        for s in stores:
            await s.close()
    assert counts == await raw_scalar(store_url, "SELECT count(DISTINCT name) FROM gw_migrations")


async def test_closed_store_is_unavailable(store: Store) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.get_key(h(1))


# keys ------------------------------------------------------------------------
async def test_key_round_trips_every_field(store: Store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    original = key(
        h(1), key_name="sk-...wxyz", key_alias="team ünïcode ✓",
        created_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=ist),
        expires=datetime(2030, 6, 7, 8, 9, 10, 111213, tzinfo=UTC),
        models=("gpt-4o", "my-free-tier"), aliases={"gpt-3.5-turbo": "my-free-tier"},
        config={"nested": {"list": [1, 2.5, None, True, "x"]}, "n": 10**15},
        metadata={"owner": "ops", "tags": ["a", "b"]},
        max_budget=Decimal("12345.678901234567"))
    await store.insert_key(original)
    got = await store.get_key(h(1))
    assert got == original
    assert got is not None
    assert got.created_at.utcoffset() == timedelta(0) and got.expires is not None
    assert got.expires.utcoffset() == timedelta(0)
    assert got.created_at == datetime(2024, 1, 1, 21, 34, 5, 678901, tzinfo=UTC)
    assert isinstance(got.models, tuple) and isinstance(got.max_budget, Decimal)


async def test_budget_keeps_all_twelve_decimal_places(store: Store) -> None:
    for n, budget in enumerate(["0.000000000001", "999999999999.999999999999", "0", "1e3"]):
        await store.insert_key(key(h(n), max_budget=Decimal(budget)))
        got = await store.get_key(h(n))
        assert got is not None and got.max_budget == Decimal(budget)
        assert got.max_budget.as_tuple().exponent == -12


async def test_new_key_counters_start_at_zero(store: Store) -> None:
    await store.insert_key(key(h(1), spend=Decimal(5), requests=7, reserved=Decimal(1)))
    got = await store.get_key(h(1))
    assert got is not None
    assert (got.spend, got.requests, got.reserved) == (Decimal(0), 0, Decimal(0))
    assert got.max_budget is None
    assert (got.models, got.aliases, got.config, got.metadata) == ((), {}, {}, {})


async def test_inserting_an_existing_hash_raises_key_exists(store: Store) -> None:
    await store.insert_key(key(h(1), key_alias="first"))
    with pytest.raises(KeyExists):
        await store.insert_key(key(h(1), key_alias="second"))
    got = await store.get_key(h(1))
    assert got is not None and got.key_alias == "first"


async def test_missing_key_is_none(store: Store) -> None:
    assert await store.get_key(h("nope")) is None
    assert await store.update_key(h("nope"), {"key_alias": "x"}) is None


async def test_update_changes_only_given_fields(store: Store) -> None:
    await store.insert_key(key(h(1), models=("a",), metadata={"m": 1}, max_budget=Decimal(5)))
    before = datetime.now(UTC)
    got = await store.update_key(h(1), {"key_alias": "new", "max_budget": Decimal("7.25")})
    assert got is not None and got == await store.get_key(h(1))
    assert (got.key_alias, got.max_budget, got.models, got.metadata) == (
        "new", Decimal("7.25"), ("a",), {"m": 1})
    assert got.updated_at is not None and got.updated_at >= before - timedelta(seconds=1)
    cleared = await store.update_key(h(1), {"max_budget": None, "expires": None, "models": [],
                                            "aliases": {"x": "a"}, "config": {"c": [1]}})
    assert cleared is not None
    assert (cleared.max_budget, cleared.expires, cleared.models) == (None, None, ())
    assert (cleared.aliases, cleared.config, cleared.key_alias) == ({"x": "a"}, {"c": [1]}, "new")


@pytest.mark.parametrize("changes", [
    {"spend": Decimal(0)}, {"token_hash": "x"}, {"requests": 0},
    {"expires": datetime(2030, 1, 1)}, {"max_budget": Decimal(-1)}, {"models": "gpt-4"},
    {"metadata": {"x": object()}}, {"aliases": ["not", "a", "mapping"]}])
async def test_update_refuses_bad_changes(store: Store, changes: dict[str, object]) -> None:
    await store.insert_key(key(h(1), max_budget=Decimal(5)))
    with pytest.raises(ValueError):
        await store.update_key(h(1), changes)
    got = await store.get_key(h(1))
    assert got is not None and got.max_budget == 5 and got.updated_at is None
    assert set(UPDATABLE) >= {"expires", "models", "max_budget"}


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.insert_key(key(h(1), created_at=datetime(2024, 1, 1)))
    with pytest.raises(ValueError):
        await store.record([row("r1", None, time=datetime(2024, 1, 1))])
    assert await store.get_key(h(1)) is None and await store.spend_logs() == []


async def test_delete_returns_only_hashes_that_existed(store: Store) -> None:
    for n in range(3):
        await store.insert_key(key(h(n)))
    assert await store.delete_keys([h(0), h("ghost"), h(2), h(0)]) == [h(0), h(2)]
    assert await store.delete_keys([h(0)]) == []
    assert await store.delete_keys([]) == []
    assert [k.token_hash for k in await store.list_keys()] == [h(1)]


async def test_list_keys_newest_first_with_paging(store: Store) -> None:
    for n in range(5):
        await store.insert_key(key(h(n), created_at=T0 + timedelta(minutes=n)))
    listed = [k.token_hash for k in await store.list_keys()]
    assert listed == [h(4), h(3), h(2), h(1), h(0)]
    assert [k.token_hash for k in await store.list_keys(limit=2, offset=1)] == [h(3), h(2)]
    assert await store.list_keys(limit=10, offset=5) == []


async def test_injection_strings_are_stored_verbatim(store: Store) -> None:
    for evil in INJECTIONS:
        await store.insert_key(key(evil, key_alias=evil, key_name=evil, models=(evil,),
                                   aliases={evil: evil}, metadata={evil: [evil]}))
        await store.record([row(evil, evil, key_alias=evil, requested_model=evil)])
        got = await store.get_key(evil)
        assert got is not None
        assert (got.token_hash, got.key_alias, got.key_name) == (evil, evil, evil)
        assert (got.models, got.aliases, got.metadata) == ((evil,), {evil: evil}, {evil: [evil]})
        assert got.requests == 1
        assert (await store.spend_logs(token_hash=evil))[0].requested_model == evil
        assert await store.update_key(evil, {"key_alias": evil + "!"}) is not None
    assert len(await store.list_keys()) == len(INJECTIONS)
    assert len(await store.spend_logs()) == len(INJECTIONS)
    assert await store.delete_keys(INJECTIONS[:1]) == INJECTIONS[:1]
    assert len(await store.list_keys()) == len(INJECTIONS) - 1


# the ledger --------------------------------------------------------------------
async def test_record_adds_cost_and_count_to_the_key(store: Store) -> None:
    await store.insert_key(key(h(1)))
    added = await store.record([row("r1", h(1), Decimal("0.000000000001")),
                                row("r2", h(1), Decimal("1.5")),
                                row("r3", h(1), Decimal("0.1"))])
    got = await store.get_key(h(1))
    assert added == 3 and got is not None
    assert (got.spend, got.requests) == (Decimal("1.600000000001"), 3)


async def test_record_replay_counts_once(store: Store) -> None:
    await store.insert_key(key(h(1)))
    batch = [row(f"r{n}", h(1), Decimal("0.25")) for n in range(4)]
    assert await store.record(batch) == 4
    assert await store.record(batch) == 0
    assert await store.record([*batch[:2], row("r9", h(1), Decimal(1))]) == 1
    got = await store.get_key(h(1))
    assert got is not None and (got.spend, got.requests) == (Decimal(2), 5)
    assert len(await store.spend_logs()) == 5


async def test_record_duplicates_within_one_batch_count_once(store: Store) -> None:
    await store.insert_key(key(h(1)))
    first = row("same", h(1), Decimal("0.5"), prompt_tokens=1)
    assert await store.record([first, row("same", h(1), Decimal(9), prompt_tokens=2)]) == 1
    got = await store.get_key(h(1))
    assert got is not None and (got.spend, got.requests) == (Decimal("0.5"), 1)
    assert await store.spend_logs() == [first]


async def test_cost_none_is_a_request_without_spend(store: Store) -> None:
    await store.insert_key(key(h(1)))
    assert await store.record([row("r1", h(1), None), row("r2", h(1), Decimal("0.2"))]) == 2
    got = await store.get_key(h(1))
    assert got is not None and (got.spend, got.requests) == (Decimal("0.2"), 2)
    logged = {r.request_id: r.cost for r in await store.spend_logs()}
    assert logged == {"r1": None, "r2": Decimal("0.2")}


async def test_master_key_and_deleted_key_rows_still_go_in_the_ledger(store: Store) -> None:
    await store.insert_key(key(h(1)))
    await store.insert_key(key(h(2)))
    await store.delete_keys([h(2)])
    assert await store.record([row("m", None), row("gone", h(2)), row("live", h(1))]) == 3
    assert {r.request_id for r in await store.spend_logs()} == {"m", "gone", "live"}
    got = await store.get_key(h(1))
    assert got is not None and got.requests == 1
    assert await store.get_key(h(2)) is None


async def test_ledger_rows_round_trip_exactly(store: Store) -> None:
    rows = [row("a", h(1), Decimal("0.000001234567"), stream=True, usage_estimated=True,
                key_alias="k", endpoint="embeddings", deployment="", status="client_closed",
                response_id="chatcmpl-a",
                time=datetime(2024, 5, 6, 7, 8, 9, 999999, tzinfo=timezone(timedelta(hours=-7)))),
            row("b", None, None, prompt_tokens=0, completion_tokens=0, latency_ms=0)]
    await store.record(rows)
    got = {r.request_id: r for r in await store.spend_logs()}
    assert got == {"a": rows[0], "b": rows[1]}
    assert got["a"].time.utcoffset() == timedelta(0)


async def test_ledger_costs_are_kept_to_the_pico_dollar_half_to_even(store: Store) -> None:
    """Both stores round a cost finer than 1e-12 USD half to even, and keep large ones whole."""
    await store.insert_key(key(h(1)))
    costs = {"half-down": Decimal("0.0000000000005"), "half-up": Decimal("0.0000000000015"),
             "large": Decimal("123456.123456789012"), "exponent": Decimal("3E-12")}
    await store.record([row(rid, h(1), cost) for rid, cost in costs.items()])
    got = {r.request_id: r.cost for r in await store.spend_logs()}
    assert got == {"half-down": Decimal(0), "half-up": Decimal("0.000000000002"),
                   "large": Decimal("123456.123456789012"), "exponent": Decimal("3E-12")}
    record = await store.get_key(h(1))
    assert record is not None and record.spend == Decimal("123456.123456789017")


async def test_empty_record_is_a_no_op(store: Store) -> None:
    assert await store.record([]) == 0
    assert await store.record([], {}) == 0
    assert await store.spend_logs() == []
