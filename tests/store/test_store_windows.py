"""Windowed and per-key reports, run against both backends: spend_by_key over a time
window (summed from the ledger) and spend_by_model for one key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gwd.store import KeySpend, ModelSpend, Store

from .storekit import h, key, kid, row

MIDNIGHT = datetime(2024, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
PLUS2 = timezone(timedelta(hours=2))
PICO = Decimal("0.000000000001")


def spend(report: list[KeySpend]) -> list[tuple[str, Decimal, int]]:
    return [(k.token_hash, k.spend, k.requests) for k in report]


async def test_a_window_sums_the_ledger_since_inclusive_until_exclusive(store: Store) -> None:
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    await store.insert_key(key(h(1), key_alias="one", max_budget=Decimal(3)))
    await store.insert_key(key(h(2), key_alias="two", expires=expires))
    await store.insert_key(key(h(3), key_name="sk-...idle"))
    await store.record([
        row("before", h(1), Decimal(100), time=MIDNIGHT - US),
        row("first", h(1), Decimal("0.1"), time=MIDNIGHT),
        row("unpriced", h(1), None, time=MIDNIGHT + HOUR / 2),
        row("last", h(2), Decimal("0.7"), time=MIDNIGHT + HOUR - US),
        row("after", h(2), Decimal(100), time=MIDNIGHT + HOUR),
        row("master", None, Decimal(5), time=MIDNIGHT),
        row("nokey", h("gone"), Decimal(5), time=MIDNIGHT),
    ])
    assert await store.spend_by_key(since=MIDNIGHT, until=MIDNIGHT + HOUR) == [
        KeySpend(h(2), "sk-...abcd", "two", Decimal("0.7"), 1, None, expires, kid(h(2))),
        KeySpend(h(1), "sk-...abcd", "one", Decimal("0.1"), 2, Decimal(3), None, kid(h(1))),
        KeySpend(h(3), "sk-...idle", None, Decimal(0), 0, None, None, kid(h(3))),
    ]
    # either bound alone; a bound in another time zone is the same instant
    assert spend(await store.spend_by_key(since=MIDNIGHT + HOUR)) == [
        (h(2), Decimal(100), 1), *sorted([(h(1), Decimal(0), 0), (h(3), Decimal(0), 0)])]
    assert spend(await store.spend_by_key(until=datetime(2024, 3, 2, 2, tzinfo=PLUS2))) == [
        (h(1), Decimal(100), 1), *sorted([(h(2), Decimal(0), 0), (h(3), Decimal(0), 0)])]
    # a window holding every row agrees with the counters (no window)
    everything = await store.spend_by_key(since=MIDNIGHT - HOUR, until=MIDNIGHT + 2 * HOUR)
    assert everything == await store.spend_by_key()
    assert spend(everything) == [(h(2), Decimal("100.7"), 2), (h(1), Decimal("100.1"), 3),
                                 (h(3), Decimal(0), 0)]


async def test_an_empty_window_lists_every_key_with_zero_in_a_stable_order(
        store: Store) -> None:
    for n in (5, 1, 4, 2, 3):
        await store.insert_key(key(h(n), key_alias=f"k{n}"))
    await store.record([row(f"r{n}", h(n), Decimal(n), time=MIDNIGHT) for n in range(1, 6)])
    tied = [(token_hash, Decimal(0), 0) for token_hash in sorted(h(n) for n in range(1, 6))]
    assert spend(await store.spend_by_key(since=MIDNIGHT + US)) == tied
    assert spend(await store.spend_by_key(until=MIDNIGHT)) == tied
    assert spend(await store.spend_by_key(since=MIDNIGHT + HOUR, until=MIDNIGHT)) == tied
    got = await store.spend_by_key(since=MIDNIGHT + US)
    assert {(k.key_alias, k.key_id) for k in got} == {(f"k{n}", kid(h(n))) for n in range(1, 6)}
    # equal spend in the window: token_hash breaks the tie (code-point order)
    await store.record([row("t1", h(1), Decimal(2), time=MIDNIGHT + HOUR),
                        row("t3", h(3), Decimal(2), time=MIDNIGHT + HOUR)])
    assert spend(await store.spend_by_key(since=MIDNIGHT + US)) == [
        *sorted([(h(1), Decimal(2), 1), (h(3), Decimal(2), 1)]),
        *sorted((h(n), Decimal(0), 0) for n in (2, 4, 5))]


async def test_a_window_without_keys_or_rows_is_empty(store: Store) -> None:
    assert await store.spend_by_key(since=MIDNIGHT) == []
    await store.record([row("m", None, Decimal(1), time=MIDNIGHT)])
    assert await store.spend_by_key(since=MIDNIGHT, until=MIDNIGHT + HOUR) == []


async def test_deleted_keys_are_not_listed_in_a_window(store: Store) -> None:
    await store.insert_key(key(h(1)))
    await store.insert_key(key(h(2)))
    await store.record([row("a", h(1), Decimal(1), time=MIDNIGHT),
                        row("b", h(2), Decimal(2), time=MIDNIGHT)])
    await store.delete_keys([h(2)])
    assert spend(await store.spend_by_key(since=MIDNIGHT)) == [(h(1), Decimal(1), 1)]


async def test_window_sums_are_exact_decimals(store: Store) -> None:
    await store.insert_key(key(h(1)))
    costs = [PICO, PICO * 3, Decimal("0.1"), Decimal("1234567.123456789012"),
             Decimal("0.000000000999"), Decimal("2000000.876543210988")]
    await store.record([row(f"r{n}", h(1), cost, time=MIDNIGHT + n * US)
                        for n, cost in enumerate(costs)])
    total = sum(costs, Decimal(0))
    assert total == Decimal("3234568.100000001003")
    (got,) = await store.spend_by_key(since=MIDNIGHT)
    assert (got.spend, got.requests) == (total, 6)
    assert str(got.spend) == "3234568.100000001003"
    (model,) = await store.spend_by_model(since=MIDNIGHT, token_hash=h(1))
    assert (model.spend, model.requests) == (total, 6)


async def test_window_sums_do_not_overflow(store: Store) -> None:
    """A key deleted and created again keeps its ledger rows but starts new counters: its
    windowed spend can exceed what one key's counter may hold (int64 pico-dollars)."""
    big = Decimal("3000000.000000000001")
    await store.insert_key(key(h(1)))
    for batch in range(3):
        await store.record([row(f"b{batch}-{n}", h(1), big, time=MIDNIGHT + n * US)
                            for n in range(3)])
        await store.delete_keys([h(1)])
        await store.insert_key(key(h(1)))
    (got,) = await store.spend_by_key(since=MIDNIGHT)
    assert (got.spend, got.requests) == (big * 9, 9)
    assert got.spend == Decimal("27000000.000000000009")
    (counters,) = await store.spend_by_key()
    assert (counters.spend, counters.requests) == (Decimal(0), 0)
    (model,) = await store.spend_by_model(token_hash=h(1))
    assert (model.spend, model.requests) == (big * 9, 9)


async def test_spend_by_model_for_one_key(store: Store) -> None:
    await store.record([
        row("a", h(1), Decimal("0.5"), model_group="big", deployment="big-0",
            prompt_tokens=100, completion_tokens=10, time=MIDNIGHT - US),
        row("b", h(1), Decimal("0.25"), model_group="big", deployment="big-0",
            prompt_tokens=1, completion_tokens=2, time=MIDNIGHT),
        row("c", h(1), None, model_group="small", deployment="small-0", provider="ollama",
            prompt_tokens=7, completion_tokens=0, time=MIDNIGHT + HOUR),
        row("d", h(2), Decimal(9), model_group="big", deployment="big-0", time=MIDNIGHT),
        row("e", None, Decimal(9), model_group="small", deployment="small-0",
            provider="ollama", time=MIDNIGHT),
    ])
    assert await store.spend_by_model(token_hash=h(1)) == [
        ModelSpend("big", "big-0", "openai", Decimal("0.75"), 2, 101, 12),
        ModelSpend("small", "small-0", "ollama", Decimal(0), 1, 7, 0),
    ]
    assert await store.spend_by_model(since=MIDNIGHT, until=MIDNIGHT + HOUR,
                                      token_hash=h(1)) == [
        ModelSpend("big", "big-0", "openai", Decimal("0.25"), 1, 1, 2)]
    assert await store.spend_by_model(until=MIDNIGHT, token_hash=h(1)) == [
        ModelSpend("big", "big-0", "openai", Decimal("0.5"), 1, 100, 10)]
    assert await store.spend_by_model(since=MIDNIGHT + HOUR + US, token_hash=h(1)) == []
    assert await store.spend_by_model(token_hash=h("nobody")) == []
    # without token_hash: every row, as before (master-key calls included)
    assert [(m.model_group, m.spend, m.requests) for m in await store.spend_by_model()] == [
        ("big", Decimal("9.75"), 3), ("small", Decimal(9), 2)]


async def test_window_bounds_must_be_aware(store: Store) -> None:
    naive = datetime(2024, 3, 2)
    with pytest.raises(ValueError):
        await store.spend_by_key(since=naive)
    with pytest.raises(ValueError):
        await store.spend_by_key(until=naive)
    with pytest.raises(ValueError):
        await store.spend_by_model(since=naive, token_hash=h(1))
