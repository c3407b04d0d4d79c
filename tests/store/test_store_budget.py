"""Budget reservations, run against both backends: admit, refuse, partial, settle, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gwd.store import Store

from .storekit import h, key, row

K = h("budget")
BUDGET = Decimal(1)
PICO = Decimal("0.000000000001")


@pytest.fixture
async def spent(store: Store) -> Store:
    """A key with 0.4 of its 1 USD budget already spent."""
    await store.insert_key(key(K, max_budget=BUDGET))
    await store.record([row("spent", K, Decimal("0.4"))])
    return store


async def reserved(store: Store) -> Decimal:
    got = await store.get_key(K)
    assert got is not None
    return got.reserved


async def test_reservation_fitting_exactly_is_admitted_and_one_pico_more_is_not(
        spent: Store) -> None:
    assert await spent.reserve(K, "q1", Decimal("0.6") + PICO, BUDGET) is None
    assert await spent.reserve(K, "q2", Decimal("0.6"), BUDGET) == Decimal("0.6")
    assert await spent.reserve(K, "q3", PICO, BUDGET) is None
    assert await spent.reserve(K, "q4", Decimal(0), BUDGET) == 0  # nothing left, asks nothing
    assert await reserved(spent) == Decimal("0.6")


async def test_open_reservations_count_against_the_budget(spent: Store) -> None:
    assert await spent.reserve(K, "q1", Decimal("0.35"), BUDGET) == Decimal("0.35")
    assert await spent.reserve(K, "q2", Decimal("0.25"), BUDGET) == Decimal("0.25")
    assert await spent.reserve(K, "q3", Decimal("0.000000000001"), BUDGET) is None
    assert await reserved(spent) == Decimal("0.6")


async def test_partial_reserves_what_remains_while_anything_does(spent: Store) -> None:
    assert await spent.reserve(K, "q1", Decimal("0.5"), BUDGET, partial=True) == Decimal("0.5")
    assert await spent.reserve(K, "q2", Decimal("0.5"), BUDGET, partial=True) == Decimal("0.1")
    assert await spent.reserve(K, "q3", Decimal("0.5"), BUDGET, partial=True) is None
    assert await reserved(spent) == Decimal("0.6")


async def test_over_budget_key_refuses_even_partial(store: Store) -> None:
    await store.insert_key(key(K, max_budget=BUDGET))
    await store.record([row("big", K, Decimal("1.2"))])
    assert await store.reserve(K, "q1", PICO, BUDGET, partial=True) is None
    assert await store.reserve(K, "q2", Decimal(0), BUDGET) is None


async def test_retried_reserve_returns_the_same_reservation(spent: Store) -> None:
    assert await spent.reserve(K, "q1", Decimal("0.5"), BUDGET) == Decimal("0.5")
    assert await spent.reserve(K, "q1", Decimal("0.5"), BUDGET) == Decimal("0.5")
    assert await reserved(spent) == Decimal("0.5")


async def test_unknown_key_is_refused(store: Store) -> None:
    assert await store.reserve(h("ghost"), "q1", PICO, BUDGET) is None
    assert await store.reserve(h("ghost"), "q2", PICO, BUDGET, partial=True) is None


async def test_negative_amount_is_an_error(spent: Store) -> None:
    with pytest.raises(ValueError):
        await spent.reserve(K, "q1", Decimal("-0.1"), BUDGET)


async def test_record_settles_reservations_in_the_same_transaction(spent: Store) -> None:
    await spent.reserve(K, "q1", Decimal("0.3"), BUDGET)
    await spent.reserve(K, "q2", Decimal("0.2"), BUDGET)
    await spent.reserve(K, "failed", Decimal("0.1"), BUDGET)
    added = await spent.record([row("q1", K, Decimal("0.05"))], {"q1": K, "failed": K})
    got = await spent.get_key(K)
    assert added == 1 and got is not None
    assert (got.spend, got.reserved, got.requests) == (Decimal("0.45"), Decimal("0.2"), 2)
    # what was settled is free again: 1 - 0.45 - 0.2 = 0.35 remains exactly
    assert await spent.reserve(K, "q3", Decimal("0.35"), BUDGET) == Decimal("0.35")
    assert await spent.reserve(K, "q4", PICO, BUDGET) is None


async def test_settle_alone_closes_reservations(spent: Store) -> None:
    await spent.reserve(K, "q1", Decimal("0.3"), BUDGET)
    assert await spent.record([], {"q1": K}) == 0
    assert await reserved(spent) == 0


async def test_release_closes_reservations(spent: Store) -> None:
    await spent.reserve(K, "q1", Decimal("0.3"), BUDGET)
    await spent.reserve(K, "q2", Decimal("0.2"), BUDGET)
    await spent.release(["q1", "never-reserved"])
    await spent.release([])
    assert await reserved(spent) == Decimal("0.2")


async def test_expire_drops_only_older_reservations(spent: Store) -> None:
    await spent.reserve(K, "q1", Decimal("0.3"), BUDGET)
    await spent.reserve(K, "q2", Decimal("0.2"), BUDGET)
    now = datetime.now(UTC)
    assert await spent.expire_reservations(now - timedelta(minutes=5)) == 0
    assert await reserved(spent) == Decimal("0.5")
    assert await spent.expire_reservations(now + timedelta(seconds=5)) == 2
    assert await reserved(spent) == 0
    assert await spent.reserve(K, "q3", Decimal("0.6"), BUDGET) == Decimal("0.6")
