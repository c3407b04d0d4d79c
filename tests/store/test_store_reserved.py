"""The running total of open reservations (``gw_keys.reserved``), on both backends.

After any mix of reserve (whole, partial, retried), record (settling, replayed),
release and expire — also concurrent ones from two Store instances — every key's
counter equals the sum of its ``gw_reservations`` rows, and a key's spend plus its
reservations stays within its budget while calls cost no more than they reserved. A
database with open reservations from before the counter gets it filled in.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from gwd.money import quantize
from gwd.store import LedgerRow, Store, pg_schema, sqlite_schema

from .storekit import MISMATCHED, T0, h, key, open_sum, raw_scalar, row

MakeStore = Callable[[], Awaitable[Store]]
KEYS = [h(f"counted{n}") for n in range(3)]
BUDGETS = dict(zip(KEYS, (Decimal("1"), Decimal("0.05"), Decimal("0.3")), strict=True))
async def reserved(store: Store, token_hash: str) -> Decimal:
    got = await store.get_key(token_hash)
    assert got is not None
    return got.reserved


def money(rng: random.Random, most: Decimal) -> Decimal:
    """A random amount in [0, most], to the pico-dollar."""
    return quantize(most * Decimal(rng.randrange(0, 10**6)) / 10**6)


@dataclass
class Model:
    """What the store should hold: each open reservation, each key's spend."""

    open: dict[str, tuple[str, Decimal, datetime]] = field(default_factory=dict)
    spend: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def reserved(self, token_hash: str) -> Decimal:
        return sum((a for k, a, _ in self.open.values() if k == token_hash), Decimal(0))

    def remaining(self, token_hash: str) -> Decimal:
        return BUDGETS[token_hash] - self.spend[token_hash] - self.reserved(token_hash)


async def check(store: Store, url: str, model: Model) -> None:
    assert await raw_scalar(url, MISMATCHED) == 0
    for token_hash in KEYS:
        got = await store.get_key(token_hash)
        assert got is not None
        assert (got.spend, got.reserved) == (model.spend[token_hash], model.reserved(token_hash))
        assert got.spend + got.reserved <= BUDGETS[token_hash]


async def test_counter_equals_open_reservations_after_every_operation(
        store: Store, store_url: str) -> None:
    for token_hash, budget in BUDGETS.items():
        await store.insert_key(key(token_hash, max_budget=budget))
    rng = random.Random(2024)
    model = Model()
    done: list[tuple[list[LedgerRow], dict[str, str]]] = []
    mark = datetime.now(UTC)
    seen: Counter[str] = Counter()
    ops = ["reserve", "partial", "retry", "record", "replay", "release", "expire", "mark"]
    for step in range(240):
        op = rng.choices(ops, weights=[30, 15, 8, 22, 6, 10, 4, 5])[0]
        if op in ("reserve", "partial"):
            token_hash = rng.choice(KEYS)
            amount = money(rng, BUDGETS[token_hash] / 2)
            remaining = model.remaining(token_hash)
            got = await store.reserve(token_hash, f"r{step}", amount, BUDGETS[token_hash],
                                      partial=op == "partial")
            if op == "partial":
                expected = min(amount, remaining) if remaining > 0 else None
            else:
                expected = amount if amount <= remaining else None
            assert got == expected, (step, op)
            seen["refused" if got is None else "clipped" if got < amount else "admitted"] += 1
            if got is not None:
                model.open[f"r{step}"] = (token_hash, got, datetime.now(UTC))
        elif op == "retry" and model.open:
            request_id = rng.choice(sorted(model.open))
            token_hash, amount, _ = model.open[request_id]
            assert await store.reserve(token_hash, request_id, amount * 2 + 1,
                                       BUDGETS[token_hash]) == amount
            other = KEYS[(KEYS.index(token_hash) + 1) % len(KEYS)]
            assert await store.reserve(other, request_id, amount, BUDGETS[other]) is None
        elif op == "record" and model.open:
            chosen = rng.sample(sorted(model.open), min(len(model.open), rng.randrange(1, 4)))
            rows, settle = [], {}
            for request_id in chosen:
                token_hash, amount, _ = model.open.pop(request_id)
                settle[request_id] = token_hash
                if rng.random() < 0.2:
                    continue  # a failed call: its reservation closes without a ledger row
                cost = None if rng.random() < 0.1 else money(rng, amount / 3)
                rows.append(row(request_id, token_hash, cost))
                model.spend[token_hash] += cost or 0
            assert await store.record(rows, settle) == len(rows)
            done.append((rows, settle))
        elif op == "replay" and done:
            rows, settle = rng.choice(done)
            assert await store.record(rows, settle) == 0
        elif op == "release" and model.open:
            chosen = rng.sample(sorted(model.open), min(len(model.open), rng.randrange(1, 3)))
            await store.release([*chosen, f"never-{step}"])
            for request_id in chosen:
                del model.open[request_id]
        elif op == "mark":
            await asyncio.sleep(0.002)
            mark = datetime.now(UTC)
            await asyncio.sleep(0.002)
        elif op == "expire":
            old = [r for r, (_, _, made) in model.open.items() if made < mark]
            assert await store.expire_reservations(mark) == len(old)
            seen["expired"] += len(old)
            for request_id in old:
                del model.open[request_id]
        await check(store, store_url, model)
    assert len(done) > 20 and len(seen) == 4 and min(seen.values()) > 2, seen


async def test_concurrent_mix_from_two_stores_keeps_the_counter_exact(
        store: Store, make_store: MakeStore, store_url: str) -> None:
    other = await make_store()
    for token_hash, budget in BUDGETS.items():
        await store.insert_key(key(token_hash, max_budget=budget))
    rng = random.Random(77)
    plans = [(rng.choice(KEYS), rng.random(), rng.random() < 0.3, rng.randrange(1, 10**6))
             for _ in range(400)]

    async def call(n: int) -> None:
        token_hash, fate, partial, size = plans[n]
        target = store if n % 2 else other
        budget = BUDGETS[token_hash]
        amount = quantize(budget / 10 * size / 10**6)
        got = await target.reserve(token_hash, f"c{n}", amount, budget, partial=partial)
        if got is None:
            return
        await asyncio.sleep(0)
        if fate < 0.6:  # a call costing no more than it reserved
            cost = quantize(got * Decimal(size % 1000) / 1000)
            await target.record([row(f"c{n}", token_hash, cost)], {f"c{n}": token_hash})
        elif fate < 0.85:
            await target.release([f"c{n}"])
        # else: left open (for expire_reservations, or to the end)

    async def expire(n: int) -> None:
        await asyncio.sleep(0.005 * n)
        await (store if n % 2 else other).expire_reservations(datetime.now(UTC))

    async def check_keys(within_budget: bool) -> None:
        assert await raw_scalar(store_url, MISMATCHED) == 0
        for token_hash in KEYS:
            got = await other.get_key(token_hash)
            logged = await store.spend_logs(token_hash=token_hash, limit=10_000)
            assert got is not None and got.reserved == await open_sum(store_url, token_hash)
            assert got.spend == sum((r.cost or Decimal(0) for r in logged), Decimal(0))
            assert got.spend + got.reserved <= BUDGETS[token_hash] or not within_budget

    await asyncio.gather(*(call(n) for n in range(250)))
    await check_keys(within_budget=True)
    # expiring while calls settle: a call may settle after its reservation expired (and
    # its room went to another call), so only the counter is checked exactly here
    await asyncio.gather(*(call(n) for n in range(250, len(plans))),
                         *(expire(n) for n in range(6)))
    await check_keys(within_budget=False)
    await store.expire_reservations(datetime.now(UTC) + timedelta(seconds=1))
    assert [await reserved(other, k) for k in KEYS] == [0, 0, 0]


# a database from before the counter -------------------------------------------------
COUNTER = {"sqlite": "0007_reserved_counter", "postgres": "0006_reserved_counter"}
OLD_KEY = {
    "sqlite": "INSERT INTO gw_keys (token_hash, key_name, created_at, key_id, spend)"
              " VALUES (?, 'sk-...old', 1700000000000000, ?, ?)",
    "postgres": "INSERT INTO gw_keys (token_hash, key_name, created_at, key_id, spend)"
                " VALUES ($1, 'sk-...old', $4, $2, $3)",
}
OLD_RESERVATION = {
    "sqlite": "INSERT INTO gw_reservations (request_id, token_hash, amount, created_at)"
              " VALUES (?, ?, ?, 1700000000000000)",
    "postgres": "INSERT INTO gw_reservations (request_id, token_hash, amount, created_at)"
                " VALUES ($1, $2, $3, $4)",
}
#: key -> (spend, open reservations), as an older gwd left them (one key was deleted)
BEFORE = {
    h("old-a"): (Decimal("0.4"), {"a1": Decimal("0.1"), "a2": Decimal("0.25")}),
    h("old-b"): (Decimal("0"), {}),
    h("old-c"): (Decimal("0.000000000003"), {"c1": Decimal("0.000000000001")}),
}
GHOST = h("deleted-before-the-upgrade")


async def _database_before_the_counter(url: str) -> None:
    keys = [(t, f"key-{n:016x}", spend) for n, (t, (spend, _)) in enumerate(BEFORE.items())]
    reservations = [(r, t, a) for t, (_, rs) in BEFORE.items() for r, a in rs.items()]
    reservations.append(("ghost", GHOST, Decimal("0.5")))
    if url.startswith("sqlite:///"):
        schema = sqlite_schema.MIGRATIONS
        n_old = [m.name for m in schema].index(COUNTER["sqlite"])
        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
        try:
            assert len(sqlite_schema.migrate(conn, schema[:n_old])) == n_old
            conn.executemany(OLD_KEY["sqlite"],
                             [(t, i, int(s * 10**12)) for t, i, s in keys])
            conn.executemany(OLD_RESERVATION["sqlite"],
                             [(r, t, int(a * 10**12)) for r, t, a in reservations])
        finally:
            conn.close()
        return
    n_old = [m.name for m in pg_schema.MIGRATIONS].index(COUNTER["postgres"])
    pg = await asyncpg.connect(url, timeout=10)
    try:
        assert len(await pg_schema.migrate(pg, pg_schema.MIGRATIONS[:n_old])) == n_old
        await pg.executemany(OLD_KEY["postgres"], [(t, i, s, T0) for t, i, s in keys])
        await pg.executemany(OLD_RESERVATION["postgres"],
                             [(r, t, a, T0) for r, t, a in reservations])
    finally:
        await pg.close()


async def test_open_reservations_from_before_the_counter_are_counted_after_upgrading(
        store_url: str, make_store: MakeStore) -> None:
    await _database_before_the_counter(store_url)
    assert await raw_scalar(store_url, "SELECT count(*) FROM gw_migrations") < len(
        (sqlite_schema if store_url.startswith("sqlite:") else pg_schema).MIGRATIONS)
    store = await make_store()  # applies the counter's migration
    for token_hash, (spend, reservations) in BEFORE.items():
        got = await store.get_key(token_hash)
        assert got is not None and got.spend == spend
        assert got.reserved == sum(reservations.values(), Decimal(0))
    assert await raw_scalar(store_url, MISMATCHED) == 0
    # the backfilled counter is what reservations are checked against: 1 - 0.4 - 0.35
    a = h("old-a")
    assert await store.reserve(a, "new1", Decimal("0.25") + Decimal("1e-12"), Decimal(1)) is None
    assert await store.reserve(a, "new2", Decimal("0.25"), Decimal(1)) == Decimal("0.25")
    # and closing an old reservation takes it off, however it is closed
    await store.release(["a1"])
    assert await store.record([row("a2", a, Decimal("0.2"))], {"a2": a}) == 1
    got = await store.get_key(a)
    assert got is not None and (got.spend, got.reserved) == (Decimal("0.6"), Decimal("0.25"))
    assert await store.expire_reservations(datetime.now(UTC)) == 3  # new2, c1, the ghost's
    assert await raw_scalar(store_url, MISMATCHED) == 0
    assert [await reserved(store, t) for t in BEFORE] == [0, 0, 0]
