"""SpendRecorder.settle: a reserved call's row written through at once, counted once."""

from __future__ import annotations

from decimal import Decimal

from gwd.spend import SpendRecorder
from gwd.store.sqlite import SQLiteStore
from tests.unit.test_journal import HASH, FlakyStore, key_totals, row, store  # noqa: F401


async def test_settle_writes_the_row_and_closes_the_reservation_at_once(
        store: SQLiteStore) -> None:  # noqa: F811
    flaky = FlakyStore(store)
    recorder = SpendRecorder(flaky, 3600)  # type: ignore[arg-type]  # no flush on its own
    first = row(1, cost="0.011")
    assert await store.reserve(HASH, first.request_id, Decimal("0.02"), Decimal("0.02")) == \
        Decimal("0.02")
    recorder.add(first, reserved=True)
    assert await recorder.settle(first) is True
    key = await store.get_key(HASH)
    assert key is not None and (key.spend, key.reserved) == (Decimal("0.011"), 0)
    # the flush skips it: one ledger row, spend counted once
    calls = flaky.calls
    await recorder.flush()
    assert flaky.calls == calls and recorder.pending == 0
    assert await key_totals(store) == (Decimal("0.011"), 1, 1)
    assert await recorder.settle(first) is False   # already written: nothing to do


async def test_a_failed_settle_leaves_the_row_to_the_flush(store: SQLiteStore) -> None:  # noqa: F811
    flaky = FlakyStore(store)
    recorder = SpendRecorder(flaky, 3600)  # type: ignore[arg-type]
    first, plain = row(1, cost="0.5"), row(2, cost="0.25")
    await store.reserve(HASH, first.request_id, Decimal(1), Decimal(10))
    recorder.add(first, reserved=True)
    recorder.add(plain)
    flaky.down = True
    assert await recorder.settle(first) is False
    assert await recorder.settle(plain) is False    # not reserved: never written through
    flaky.down = False
    await recorder.flush()
    assert await key_totals(store) == (Decimal("0.75"), 2, 2)
    key = await store.get_key(HASH)
    assert key is not None and key.reserved == 0
