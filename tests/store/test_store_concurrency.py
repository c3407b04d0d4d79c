"""Exactness under concurrency, run against both backends and from two Store instances
(two processes sharing a SQLite file / two replicas with their own PostgreSQL pools)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal

from gwd.store import LedgerRow, Store

from .storekit import MISMATCHED, h, key, open_sum, raw_scalar, row

MakeStore = Callable[[], Awaitable[Store]]
KEYS = [h(f"key{n}") for n in range(5)]


def ledger(rng: random.Random, count: int) -> list[LedgerRow]:
    rows = []
    for n in range(count):
        cost = None if n % 17 == 0 else Decimal(rng.randrange(1, 10**9)) / 10**12
        rows.append(row(f"req-{n:05d}", KEYS[n % len(KEYS)], cost,
                        prompt_tokens=rng.randrange(1000), completion_tokens=rng.randrange(1000)))
    return rows


async def test_spend_equals_ledger_sum_with_concurrent_batches_and_replays(
        store: Store, make_store: MakeStore) -> None:
    other = await make_store()
    for token_hash in KEYS:
        await store.insert_key(key(token_hash))
    rng = random.Random(1234)
    rows = ledger(rng, 1000)
    batches: list[list[LedgerRow]] = []
    position = 0
    while position < len(rows):
        size = rng.randrange(1, 60)
        batches.append(rows[position:position + size])
        position += size
    # replays: a tenth of the batches are sent again (whole or overlapping), concurrently
    replays = [rng.choice(batches) + rng.sample(rows, 5) for _ in range(len(batches) // 10)]
    work = batches + replays
    rng.shuffle(work)
    queue: asyncio.Queue[list[LedgerRow]] = asyncio.Queue()
    for batch in work:
        queue.put_nowait(batch)
    added: list[int] = []

    async def writer(target: Store) -> None:
        while not queue.empty():
            added.append(await target.record(queue.get_nowait()))

    await asyncio.gather(*(writer(store if n % 2 else other) for n in range(20)))

    assert sum(added) == len(rows)
    expected_spend: dict[str, Decimal] = defaultdict(Decimal)
    expected_requests: dict[str, int] = defaultdict(int)
    for r in rows:
        assert r.key_hash is not None
        expected_spend[r.key_hash] += r.cost or 0
        expected_requests[r.key_hash] += 1
    for token_hash in KEYS:
        got = await other.get_key(token_hash)
        assert got is not None
        assert (got.spend, got.requests) == (expected_spend[token_hash],
                                             expected_requests[token_hash])
        logged = await store.spend_logs(token_hash=token_hash, limit=10_000)
        assert got.spend == sum((r.cost or Decimal(0) for r in logged), Decimal(0))
    assert len(await store.spend_logs(limit=10_000)) == len(rows)
    by_key = {k.token_hash: k.spend for k in await store.spend_by_key()}
    assert by_key == dict(expected_spend)


async def test_concurrent_reservations_never_over_admit(
        store: Store, make_store: MakeStore, store_url: str) -> None:
    other = await make_store()
    token_hash = h("budget")
    budget = Decimal("1.000000000000")
    await store.insert_key(key(token_hash, max_budget=budget))
    await store.record([row("earlier", token_hash, Decimal("0.123456789012"))])
    rng = random.Random(99)
    amounts = [Decimal(rng.randrange(1, 2 * 10**10)) / 10**12 for _ in range(200)]

    async def ask(n: int, amount: Decimal) -> tuple[Decimal, Decimal | None]:
        target = store if n % 2 else other
        return amount, await target.reserve(token_hash, f"q{n}", amount, budget,
                                            partial=n % 5 == 0)

    results = await asyncio.gather(*(ask(n, a) for n, a in enumerate(amounts)))
    taken = sum((got for _, got in results if got is not None), Decimal(0))
    spend = Decimal("0.123456789012")
    assert spend + taken <= budget
    got_key = await store.get_key(token_hash)
    assert got_key is not None and got_key.reserved == taken
    assert await open_sum(store_url, token_hash) == taken  # the counter is the rows' sum
    assert await raw_scalar(store_url, MISMATCHED) == 0
    remaining = budget - spend - taken
    for n, (amount, got) in enumerate(results):
        partial = n % 5 == 0
        if got is None:  # refused only if it would not fit even in what is left now
            assert remaining == 0 if partial else amount > remaining
        elif partial:
            assert 0 < got <= amount
        else:
            assert got == amount
    assert sum(1 for _, got in results if got is not None) > 10


async def test_reserve_then_settle_under_concurrency_keeps_spend_within_budget(
        store: Store, make_store: MakeStore) -> None:
    other = await make_store()
    token_hash = h("settle")
    budget = Decimal("0.5")
    await store.insert_key(key(token_hash, max_budget=budget))

    async def call(n: int) -> None:
        target = store if n % 2 else other
        worst = Decimal("0.01")
        if await target.reserve(token_hash, f"c{n}", worst, budget) is None:
            return
        await asyncio.sleep(0)
        await target.record([row(f"c{n}", token_hash, worst - Decimal("0.003"))],
                            {f"c{n}": token_hash})

    await asyncio.gather(*(call(n) for n in range(150)))
    got = await store.get_key(token_hash)
    assert got is not None and got.reserved == 0
    assert got.spend <= budget
    assert got.spend == got.requests * Decimal("0.007")
    assert got.requests >= 50  # 0.5 / 0.01 calls fit at once; settling frees room for more
