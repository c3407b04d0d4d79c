"""Spend (SPEC §5): exact per-request ledger and key totals under load, on both stores.

Every test compares three independent numbers: what each response said it
cost (the usage the client saw x the configured prices, in Decimal), the key's
stored spend, and the sum of its ledger rows read with plain SQL.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, ledger_rows, totals
from tests.support.mixedcalls import CHAT, TEXT, mixed_call
from tests.support.pg import create_database, drop_database

IN_PRICE, OUT_PRICE = Decimal("0.000001234567"), Decimal("0.000009876543")
MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'spend.db'}"
        return
    base = request.getfixturevalue("pg_url")
    url = create_database(base, "gw_spend")
    yield url
    drop_database(base, url)


def config(database_url: str, **general: Any) -> dict[str, Any]:
    prices = {"input_cost_per_token": str(IN_PRICE), "output_cost_per_token": str(OUT_PRICE)}
    return {"model_list": [
        {"model_name": "m", "litellm_params": {"model": "mock/m", **prices}},
        {"model_name": "m", "litellm_params": {"model": "mock/m2", **prices}},
        {"model_name": "e", "litellm_params": {"model": "mock/embed", **prices}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                             **general}}


def cost(usage: dict[str, int]) -> Decimal:
    return usage["prompt_tokens"] * IN_PRICE + usage.get("completion_tokens", 0) * OUT_PRICE


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


async def one_call(session: aiohttp.ClientSession, base: str, key: str, i: int
                   ) -> Decimal | None:
    """A call of one of four kinds; returns the cost the client can compute, None if refused."""
    answer = await mixed_call(session, base, key, i, text=f"call number {i} " + "x" * (i % 37),
                              max_tokens=5 + i % 20, embed_model="e")
    if answer.status != 200:
        return None
    assert answer.usage is not None
    if answer.kind in (CHAT, TEXT):
        assert Decimal(answer.headers["x-gw-response-cost"]) == cost(answer.usage)
    return cost(answer.usage)


async def load(base: str, key: str, calls: int, start: int = 0,
               concurrency: int = 100) -> list[Decimal | None]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(one_call(session, base, key, i)
                                      for i in range(start, start + calls)),
                                    return_exceptions=False)


async def test_1000_concurrent_calls_spend_is_the_exact_sum(gwd: GwdFactory,
                                                            database_url: str) -> None:
    proc = gwd(config(database_url))
    key = new_key(proc)
    costs = await load(proc.base_url, key, 1000)
    assert all(c is not None for c in costs)
    expected = sum(costs, Decimal(0))  # type: ignore[arg-type]
    info = httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER).json()
    assert info["info"]["requests"] == 1000  # /key/info counts every answered call at once
    t = totals(database_url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (1000, 1000)
    assert t.key_spend == t.ledger_sum == expected


@pytest.mark.postgres
async def test_two_replicas_spend_is_the_exact_sum(gwd: GwdFactory, pg_url: str) -> None:
    url = create_database(pg_url, "gw_spend2")
    try:
        a = gwd(config(url), name="a")
        b = gwd(config(url), name="b")
        key = new_key(a)
        costs = await asyncio.gather(load(a.base_url, key, 500, 0),
                                     load(b.base_url, key, 500, 500))
        expected = sum((c for part in costs for c in part), Decimal(0))  # type: ignore[misc]
        for proc in (a, b):  # each replica's /key/info flushes its own buffer first
            httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
        t = totals(url, key_hash(key))
        assert (t.key_requests, t.ledger_rows) == (1000, 1000)
        assert t.key_spend == t.ledger_sum == expected
    finally:
        a.stop()
        b.stop()
        drop_database(pg_url, url)


async def test_sigterm_mid_load_loses_nothing_that_was_answered(gwd: GwdFactory,
                                                                database_url: str) -> None:
    proc = gwd(config(database_url, spend_flush_interval=5))  # rows wait in memory
    key = new_key(proc)

    answered: list[Decimal] = []
    errors: list[str] = []

    async def stop_soon() -> None:  # stop while calls are in flight, after 200 answers
        while len(answered) < 200:
            await asyncio.sleep(0.01)
        proc.signal(signal.SIGTERM)

    async def tolerant(session: aiohttp.ClientSession, i: int) -> None:
        try:
            result = await one_call(session, proc.base_url, key, i)
        except aiohttp.ClientError as exc:
            errors.append(repr(exc))
            return
        if result is not None:
            answered.append(result)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as session:
        stopper = asyncio.create_task(stop_soon())
        await asyncio.gather(*(tolerant(session, i) for i in range(3000)))
        await stopper
    assert proc.proc is not None and proc.proc.wait(30) == 0
    assert 200 <= len(answered) < 3000 and errors  # some answered, some refused
    t = totals(database_url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (len(answered), len(answered))
    assert t.key_spend == t.ledger_sum == sum(answered, Decimal(0))


async def test_budget_is_never_exceeded_by_200_concurrent_calls(gwd: GwdFactory,
                                                                database_url: str) -> None:
    with OpenAIFake("up", prompt_tokens=40, completion_tokens=100) as fake:
        cfg = config(database_url)
        cfg["model_list"] = [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url,
            "input_cost_per_token": "0.00001", "output_cost_per_token": "0.00003"}}]
        proc = gwd(cfg)
        budget = Decimal("0.25")
        key = new_key(proc, max_budget=float(budget))
        body = {"model": "m", "max_tokens": 100,
                "messages": [{"role": "user", "content": "go"}]}

        async def call(session: aiohttp.ClientSession) -> tuple[int, str]:
            async with session.post(proc.base_url + "/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {key}"}) as r:
                data = await r.json()
                return r.status, data.get("error", {}).get("code", "")

        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            results = await asyncio.gather(*(call(session) for _ in range(200)))
        ok = sum(1 for status, _ in results if status == 200)
        refused = [(s, c) for s, c in results if s != 200]
        assert ok > 0 and refused
        assert all(r == (400, "budget_exceeded") for r in refused)
        assert len(fake.requests) == ok  # refused calls never went upstream
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)  # flush
        t = totals(database_url, key_hash(key))
        assert t.key_spend == t.ledger_sum == ok * (40 * Decimal("0.00001") +
                                                    100 * Decimal("0.00003"))
        assert t.key_spend <= budget


async def test_disconnect_mid_stream_is_billed_once(gwd: GwdFactory, database_url: str) -> None:
    with OpenAIFake("slow") as fake:
        fake.reply_text = " ".join(f"word{i}" for i in range(300))
        fake.set_default(Fault(stream_delay=0.01))
        cfg = config(database_url)
        cfg["model_list"] = [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url,
            "input_cost_per_token": str(IN_PRICE), "output_cost_per_token": str(OUT_PRICE)}}]
        proc = gwd(cfg)
        key = new_key(proc)
        with httpx.stream("POST", proc.base_url + "/v1/chat/completions",
                          headers={"Authorization": f"Bearer {key}"}, timeout=10,
                          json={"model": "m", "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}) as r:
            lines = r.iter_lines()
            for _ in range(20):
                next(lines)
        deadline = asyncio.get_running_loop().time() + 5
        while not fake.streams and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert fake.streams[0][0] == "closed_by_client"
        await asyncio.sleep(0.3)
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
        rows = ledger_rows(database_url, key_hash(key))
        assert len(rows) == 1
        status, row_cost, prompt, completion = rows[0]
        assert status == "client_closed" and 0 < completion < 300 * 2
        assert row_cost == prompt * IN_PRICE + completion * OUT_PRICE
        t = totals(database_url, key_hash(key))
        assert t.key_spend == row_cost and t.key_requests == 1


def test_unknown_price_records_tokens_with_null_cost_and_warns(gwd: GwdFactory,
                                                               tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'np.db'}"
    with OpenAIFake("np") as fake:
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/some-unpriced-model", "api_base": fake.base_url}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": url}})
        key = new_key(proc)
        r = httpx.post(proc.base_url + "/v1/chat/completions", timeout=10,
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 200 and "x-gw-response-cost" not in r.headers
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
        assert ledger_rows(url, key_hash(key)) == [("success", None, 10, 5)]
        assert "no price known" in proc.log_text()


def test_failed_calls_cost_nothing(gwd: GwdFactory, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    with OpenAIFake("down") as fake:
        fake.set_default(Fault(status=500))
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": url}})
        key = new_key(proc)
        r = httpx.post(proc.base_url + "/v1/chat/completions", timeout=10,
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 502
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
        assert ledger_rows(url, key_hash(key)) == [("error", Decimal(0), 0, 0)]
