"""Spend reports, run against both backends: by key, by model, by UTC day, and the logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gwd.store import DaySpend, KeySpend, ModelSpend, Store

from .storekit import h, key, kid, row

MIDNIGHT = datetime(2024, 3, 2, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


async def test_spend_by_key_lists_every_key_highest_first(store: Store) -> None:
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    await store.insert_key(key(h(1), key_alias="low", max_budget=Decimal(3)))
    await store.insert_key(key(h(2), key_alias="high", expires=expires))
    await store.insert_key(key(h(3), key_name="sk-...idle"))
    await store.record([row("a", h(1), Decimal("0.1")), row("b", h(2), Decimal("0.7")),
                        row("c", h(2), None), row("d", None, Decimal(5))])
    assert await store.spend_by_key() == [
        KeySpend(h(2), "sk-...abcd", "high", Decimal("0.7"), 2, None, expires, kid(h(2))),
        KeySpend(h(1), "sk-...abcd", "low", Decimal("0.1"), 1, Decimal(3), None, kid(h(1))),
        KeySpend(h(3), "sk-...idle", None, Decimal(0), 0, None, None, kid(h(3))),
    ]


async def test_spend_by_key_is_empty_without_keys(store: Store) -> None:
    await store.record([row("d", None, Decimal(5))])
    assert await store.spend_by_key() == []


async def test_spend_by_model_groups_and_filters_by_time(store: Store) -> None:
    await store.record([
        row("a", h(1), Decimal("0.5"), model_group="big", deployment="big-0", provider="openai",
            prompt_tokens=100, completion_tokens=10, time=MIDNIGHT - timedelta(hours=1)),
        row("b", None, Decimal("0.25"), model_group="big", deployment="big-0",
            provider="openai", prompt_tokens=1, completion_tokens=2, time=MIDNIGHT),
        row("c", h(2), None, model_group="big", deployment="big-1", provider="azure",
            prompt_tokens=7, completion_tokens=0, time=MIDNIGHT),
        row("d", h(2), Decimal("0.3"), model_group="small", deployment="small-0",
            provider="ollama", prompt_tokens=5, completion_tokens=5,
            time=MIDNIGHT + timedelta(hours=1)),
    ])
    assert await store.spend_by_model() == [
        ModelSpend("big", "big-0", "openai", Decimal("0.75"), 2, 101, 12),
        ModelSpend("small", "small-0", "ollama", Decimal("0.3"), 1, 5, 5),
        ModelSpend("big", "big-1", "azure", Decimal(0), 1, 7, 0),
    ]
    assert await store.spend_by_model(since=MIDNIGHT, until=MIDNIGHT + timedelta(hours=1)) == [
        ModelSpend("big", "big-0", "openai", Decimal("0.25"), 1, 1, 2),
        ModelSpend("big", "big-1", "azure", Decimal(0), 1, 7, 0),
    ]
    assert await store.spend_by_model(until=MIDNIGHT - timedelta(days=1)) == []


async def test_spend_by_day_splits_at_utc_midnight(store: Store) -> None:
    await store.record([
        row("last", h(1), Decimal("0.1"), time=MIDNIGHT - timedelta(microseconds=1)),
        # 01:30 at +02:00 is 23:30 UTC the day before
        row("local", h(2), Decimal("0.2"), time=datetime(2024, 3, 2, 1, 30, tzinfo=PLUS2)),
        row("first", h(1), Decimal("0.4"), time=MIDNIGHT),
        row("later", h(1), None, time=MIDNIGHT + timedelta(days=1, hours=5)),
    ])
    assert await store.spend_by_day() == [
        DaySpend("2024-03-01", Decimal("0.3"), 2, 20, 40),
        DaySpend("2024-03-02", Decimal("0.4"), 1, 10, 20),
        DaySpend("2024-03-03", Decimal(0), 1, 10, 20),
    ]
    assert await store.spend_by_day(token_hash=h(1)) == [
        DaySpend("2024-03-01", Decimal("0.1"), 1, 10, 20),
        DaySpend("2024-03-02", Decimal("0.4"), 1, 10, 20),
        DaySpend("2024-03-03", Decimal(0), 1, 10, 20),
    ]
    assert await store.spend_by_day(since=MIDNIGHT, until=MIDNIGHT + timedelta(days=1),
                                    token_hash=h(1)) == [
        DaySpend("2024-03-02", Decimal("0.4"), 1, 10, 20)]
    assert await store.spend_by_day(token_hash=h("nobody")) == []


async def test_spend_logs_filter_and_page_newest_first(store: Store) -> None:
    rows = [row(f"r{n}", h(n % 2), Decimal(n) / 100, time=MIDNIGHT + timedelta(minutes=n))
            for n in range(10)]
    await store.record(rows[::-1])
    newest_first = rows[::-1]
    assert await store.spend_logs() == newest_first
    assert await store.spend_logs(limit=3) == newest_first[:3]
    assert await store.spend_logs(limit=3, offset=8) == newest_first[8:]
    own = [r for r in newest_first if r.key_hash == h(1)]
    assert await store.spend_logs(token_hash=h(1)) == own
    window = await store.spend_logs(since=rows[2].time, until=rows[5].time)
    assert window == [rows[4], rows[3], rows[2]]  # since inclusive, until exclusive
    assert await store.spend_logs(token_hash=h(0), since=rows[2].time, until=rows[5].time,
                                  limit=1, offset=1) == [rows[2]]
    assert await store.spend_logs(limit=0) == []
    with pytest.raises(ValueError):
        await store.spend_logs(limit=-1)


async def test_spend_logs_break_time_ties_by_request_id(store: Store) -> None:
    await store.record([row(rid, None, time=MIDNIGHT) for rid in ["b", "a", "c", "B"]])
    assert [r.request_id for r in await store.spend_logs()] == ["c", "b", "a", "B"]


async def test_spend_log_finds_one_row_by_request_id(store: Store) -> None:
    await store.record([row("req_a", h(1), Decimal("0.5"), prompt_tokens=3,
                            completion_tokens=4, time=MIDNIGHT),
                        row("req_b", None, None, time=MIDNIGHT)])
    found = await store.spend_log("req_a")
    assert found is not None
    assert (found.request_id, found.key_hash, found.cost, found.prompt_tokens,
            found.completion_tokens, found.time) == ("req_a", h(1), Decimal("0.5"), 3, 4,
                                                     MIDNIGHT)
    master = await store.spend_log("req_b")
    assert master is not None and (master.key_hash, master.cost) == (None, None)
    assert await store.spend_log("req_c") is None
    assert await store.spend_log("req_a' OR '1'='1") is None  # a bound parameter


async def test_spend_logs_by_response_id_find_the_rows_of_an_answer_id(store: Store) -> None:
    """LiteLLM looks calls up by the id of their answer (``chatcmpl-...``); an upstream
    may give several answers one id: all of them, newest first."""
    later = MIDNIGHT + timedelta(seconds=1)
    await store.record([row("req_a", h(1), response_id="chatcmpl-1", time=MIDNIGHT),
                        row("req_b", None, response_id="chatcmpl-2", time=MIDNIGHT),
                        row("req_c", h(1), response_id="chatcmpl-2", time=later),
                        row("req_d", h(1), time=later)])
    assert [r.request_id for r in await store.spend_logs_by_response_id("chatcmpl-1")] == \
        ["req_a"]
    both = await store.spend_logs_by_response_id("chatcmpl-2")
    assert [(r.request_id, r.response_id) for r in both] == \
        [("req_c", "chatcmpl-2"), ("req_b", "chatcmpl-2")]
    assert [r.request_id for r in await store.spend_logs_by_response_id("chatcmpl-2", 1)] \
        == ["req_c"]
    assert await store.spend_logs_by_response_id("req_d") == []
    assert await store.spend_logs_by_response_id("chatcmpl-1' OR '1'='1") == []
    found = await store.spend_log("req_d")
    assert found is not None and found.response_id is None
