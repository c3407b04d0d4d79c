"""Catalogue (d), load and concurrency D1–D12: spend stays exact and gwd stays bounded under load.

Money is compared exactly, as Decimal read straight from the database: a key's
spend equals the sum of its ledger, and each call is one row.

Covered in other modules, or not applicable:

- D1 (1,000 concurrent calls on one key, exact spend): tests/e2e/test_spend.py::
  test_1000_concurrent_calls_spend_is_the_exact_sum (SQLite and PostgreSQL). Across
  3 replicas: test_d4_ here.
- D3 (budget reservation under concurrency, with no overshoot): the figures from the
  catalogue ($1.00 budget, $0.01 worst case per call, 1,000 concurrent calls) are in
  test_d3_d4_ here (one gwd on SQLite, then 3 replicas on PostgreSQL). The same
  property with a real upstream is tests/e2e/test_spend.py::
  test_budget_is_never_exceeded_by_200_concurrent_calls. gw answers an over-budget
  call with 400 ``budget_exceeded``, as SPEC §4 says, not 429.
- D6 (a replayed request_id): gw makes every request_id itself. A client cannot
  choose one, and gw takes no Idempotency-Key. A retried HTTP request is a new call,
  which the upstream bills again. So replays happen inside gw: a spend flush retried
  after a failure, a journal replayed at start, or a second billing callback. test_d6_
  covers these: the store takes the same rows from 10 concurrent writers on two
  connections, and a Call billed twice.
  tests/store/test_store_concurrency.py::
  test_spend_equals_ledger_sum_with_concurrent_batches_and_replays replays batches at random.
- D8 (gateway overhead): test_d8_ is a light smoke test with generous bounds. It
  shares this 2-core box with the client and the fake. The real figures (gw against
  a direct call and against LiteLLM, at a fixed rps) come from bench/ (bench/README.md).
- D9 (overload): test_d9_. The p99 of admitted calls against D8 is measured by
  bench/, not here.
- D10 (soak): bench/soak.py, a script rather than a test (issue 7.6). It runs mixed
  faults for minutes and checks RSS, open files and asyncio tasks against a baseline.
- D11 (database connections within pool × replicas): checked during test_d4_ through
  pg_stat_activity. Each replica has ``database_connection_pool_limit`` pooled
  connections plus one LISTEN connection.
- D12 (a per-key RPM limit across replicas): does not apply. SPEC.md defines no
  per-key rate limits. gw's ``rpm``/``tpm`` are routing weights between deployments,
  not limits. gw's only admission limits are budgets (D3/D4) and the overload bound (D9).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import orjson
import pytest

from gwd.auth import Identity
from gwd.call import Biller, Call
from gwd.config import Deployment
from gwd.metrics import Metrics
from gwd.pricing import PriceTable
from gwd.providers.base import Usage
from gwd.schema import validate
from gwd.spend import SpendRecorder
from gwd.store import open_store
from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.store.storekit import h, row
from tests.store.storekit import key as storekit_key
from tests.support.faultlab import MASTER, PRICES, cost, estimate
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, rows, totals
from tests.support.loadkit import (
    Replicas,
    budget_call,
    latencies,
    percentile,
    revoke_under_load,
    spend_load,
)
from tests.support.pg import create_database, drop_database, pg_url_or_skip

#: these cases put 1,000 concurrent calls on ONE key on purpose (budgets and spend under
#: load, not fairness): lift the per-key share of the slots (tests/catalogue/test_fairness.py)
ONE_KEY_AT_FULL_CONCURRENCY = {"max_parallel_requests_per_key_share": 1}
OUT_PRICE_FIXED = Decimal("0.0001")      # 100 output tokens -> $0.01 a call, nothing for input


def mock_config(database_url: str, **general: Any) -> dict[str, Any]:
    fixed = {"model": "mock/fixed", "mock_response": "x" * 400, "input_cost_per_token": "0",
             "output_cost_per_token": str(OUT_PRICE_FIXED)}
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m", **PRICES}},
                           {"model_name": "fixed", "litellm_params": fixed}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                                 **ONE_KEY_AT_FULL_CONCURRENCY, **general}}


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Three gwd replicas on one PostgreSQL database (pool of 5 each)."""
    base = pg_url_or_skip()
    url = create_database(base, "gw_load")
    tmp = tmp_path_factory.mktemp("replicas")
    config = mock_config(url, database_connection_pool_limit=Replicas.POOL,
                         database_connection_timeout=5)
    group = Replicas(url, [GwdProcess(config, tmp, name=f"r{i}") for i in range(3)])
    try:
        group.start_all()
        yield group
    finally:
        group.stop_all()
        drop_database(base, url)


async def test_d2_1000_streams_half_disconnecting_are_each_billed_once_exactly(
        gwd: GwdFactory, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd2.db'}"
    with OpenAIFake("streams", prompt_tokens=10, completion_tokens=60) as fake:
        fake.reply_text = " ".join(f"t{i:03d}" for i in range(40))   # 199 chars: 50 estimated
        fake.set_default(Fault(stream_delay=0.01))
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url, **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": db,
                                 **ONE_KEY_AT_FULL_CONCURRENCY}})
        key = new_key(proc)
        rng = random.Random(2)

        async def one(session: aiohttp.ClientSession, i: int) -> tuple[str, str, bool]:
            stop_at = rng.randrange(2, 40) if i % 2 else None   # half hang up at a random chunk
            async with session.post(proc.direct_url + "/v1/chat/completions",   # heavy:
                                    headers={"Authorization": f"Bearer {key}"},  # no recorder
                                    json={"model": "m", "stream": True, "messages": [
                                        {"role": "user", "content": f"n{i}"}]}) as r:
                assert r.status == 200
                text, seen = "", 0
                async for line in r.content:
                    if line.startswith(b"data: {"):
                        seen += 1
                        for choice in orjson.loads(line[6:])["choices"]:
                            text += choice["delta"].get("content") or ""
                        if seen == stop_at:
                            r.close()
                            return r.headers["x-request-id"], text, True
                return r.headers["x-request-id"], text, False

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:
            results = await asyncio.gather(*(one(session, i) for i in range(1000)))
        await asyncio.sleep(1.0)      # gwd notices the last hang-ups as the upstream goes on
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER, timeout=10)
        ledger = {r.request_id: r for r in rows(db, key_hash(key))}
        assert len(ledger) == 1000 and set(ledger) == {rid for rid, _, _ in results}
        t = totals(db, key_hash(key))
        assert (t.key_requests, t.ledger_rows) == (1000, 1000)
        assert t.key_spend == t.ledger_sum == sum((r.cost or Decimal(0) for r in ledger.values()),
                                                  Decimal(0))
        for request_id, text, hung_up in results:
            row = ledger[request_id]
            assert row.cost == cost(row.prompt_tokens, row.completion_tokens)
            assert row.completion_tokens >= estimate(text)       # billed >= delivered
            if not hung_up:
                assert (row.status, row.completion_tokens) == ("success", 60)
        closed = [r for r in ledger.values() if r.status == "client_closed"]
        assert len(closed) >= 250 and all(r.usage_estimated for r in closed)


@pytest.mark.parametrize("where", ["D3-one-gwd-sqlite",
                                   pytest.param("D4-three-replicas-postgres",
                                                marks=pytest.mark.postgres)])
async def test_d3_d4_a_1_dollar_budget_admits_at_most_100_of_1000_concurrent_1_cent_calls(
        request: pytest.FixtureRequest, gwd: GwdFactory, tmp_path: Path, where: str) -> None:
    if where.startswith("D3"):
        db = f"sqlite:///{tmp_path / 'd3.db'}"
        procs = [gwd(mock_config(db))]
        bases = [procs[0].direct_url]          # heavy: past the fixture's recorder
    else:
        group: Replicas = request.getfixturevalue("replicas")
        db, procs = group.url, group.procs
        bases = [proc.base_url for proc in procs]
    key = new_key(procs[0], max_budget=1.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:
        results = await asyncio.gather(*(budget_call(session, bases[i % len(bases)], key)
                                         for i in range(1000)))
    admitted, busy = results.count((200, None)), results.count((503, "database_unavailable"))
    # a reservation that waited past the database timeout is refused (503, fail closed): it
    # is a refusal like budget_exceeded, with no upstream call and no row
    assert set(results) <= {(200, None), (400, "budget_exceeded"), (503, "database_unavailable")}
    assert admitted == 100 or (0 < admitted < 100 and busy), (admitted, busy)
    for proc in procs:
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER, timeout=10)
    t = totals(db, key_hash(key))
    assert t.ledger_rows == t.key_requests == admitted             # refused calls left no row
    assert t.key_spend == t.ledger_sum == admitted * 100 * OUT_PRICE_FIXED <= Decimal("1.00")


@pytest.mark.postgres
async def test_d4_d11_1000_calls_across_3_replicas_are_exact_within_the_pool_bound(
        replicas: Replicas) -> None:
    key = new_key(replicas.procs[0])
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        conn = await asyncpg.connect(replicas.url, timeout=10)
        try:
            while not done.is_set():
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")
                peak = max(peak, count)
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    watcher = asyncio.create_task(watch())
    try:
        costs = await spend_load(replicas.procs, key, 1000)
    finally:
        done.set()
        await watcher
    expected = sum(costs, Decimal(0))
    replicas.flush(key)
    t = totals(replicas.url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (1000, 1000)
    assert t.key_spend == t.ledger_sum == expected
    assert 0 < peak <= (Replicas.POOL + 1) * 3       # D11: pool + LISTEN, per replica


@pytest.mark.postgres
async def test_d5_restarting_all_3_replicas_at_once_keeps_counters_equal_to_the_db(
        replicas: Replicas) -> None:
    key = new_key(replicas.procs[0])
    before = sum(await spend_load(replicas.procs, key, 300), Decimal(0))
    replicas.flush(key)
    replicas.stop_all()
    replicas.start_all()                        # all three at once, on spend already recorded
    for proc in replicas.procs:                 # each shows the database's figure, not N x
        info = replicas.info(proc, key)
        assert (Decimal(repr(info["spend"])), info["requests"]) == (before, 300)
    after = sum(await spend_load(replicas.procs, key, 300), Decimal(0))
    replicas.flush(key)
    t = totals(replicas.url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (600, 600)
    assert t.key_spend == t.ledger_sum == before + after
    assert sum(replicas.metric_spend(p) for p in replicas.procs) == after  # fresh, not re-seeded


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'd6.db'}"
        return
    base = pg_url_or_skip()
    url = create_database(base, "gw_d6")
    yield url
    drop_database(base, url)


async def test_d6_the_same_rows_replayed_10_times_at_once_count_once(store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]     # two replicas' connections
    for store in stores:
        await store.open()
    try:
        token = h("d6")
        await stores[0].insert_key(storekit_key(token))
        batch = [row(f"d6-{i}", token, Decimal(i + 1) / 10**7) for i in range(50)]
        added = await asyncio.gather(*(stores[n % 2].record(batch) for n in range(10)))
        assert sum(added) == 50
        record = await stores[1].get_key(token)
        assert record is not None
        assert (record.spend, record.requests) == (sum((r.cost or Decimal(0) for r in batch),
                                                       Decimal(0)), 50)
        # a second billing callback for one call is a no-op too
        recorder = SpendRecorder(stores[0])
        biller = Biller(PriceTable.packaged(), recorder, Metrics())
        dep = Deployment(id="d6", model_name="m", provider="openai", model="gpt-4o",
                         litellm_model="openai/gpt-4o", api_base="http://127.0.0.1:9",
                         input_cost_per_token=Decimal("0.000001"),
                         output_cost_per_token=Decimal("0.000002"))
        call = Call(request=validate("chat", {"model": "m", "messages": [
            {"role": "user", "content": "x"}]}, 50), identity=Identity(False, record),
            group="m", deployments=(dep,))
        first = biller.bill(call, dep, Usage(10, 5), "success")
        assert biller.bill(call, dep, Usage(99, 99), "success") == first == Decimal("0.00002")
        biller.bill(call, dep, None, "error")
        assert recorder.pending == 1
        await recorder.flush()
        await recorder.flush()
        record = await stores[0].get_key(token)
        assert record is not None and record.requests == 51
        assert len(await stores[0].spend_logs(token_hash=token, limit=1000)) == 51
    finally:
        for store in stores:
            await store.close()


@pytest.mark.postgres
async def test_d7_a_key_deleted_under_load_is_refused_by_every_replica_within_5_s(
        replicas: Replicas) -> None:
    key = new_key(replicas.procs[0])
    report = await revoke_under_load(replicas.procs, key, before=1.0, after=2.5)
    assert report.rps >= 100, f"only {report.rps:.0f} requests/s"
    assert report.statuses <= {200, 401}
    assert report.late_on_deleting_replica == 0        # refused at once where it was deleted
    assert max(report.propagation) <= 5.0, report.propagation
    ledger = rows(replicas.url, key_hash(key))
    assert len(ledger) == report.answered               # billed: what was answered, only
    assert all(r.status == "success" for r in ledger)


async def test_d8_gwd_adds_little_latency_over_calling_the_upstream_directly(
        gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("fast") as fake:
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url, **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY,
                                 "database_url": f"sqlite:///{tmp_path / 'd8.db'}"}})
        direct = await latencies(fake.base_url + "/v1/chat/completions", {}, 500)
        # gwd's own port: the fixture's recording forwarder would add its own latency
        via = await latencies(proc.direct_url + "/v1/chat/completions", MASTER, 500)
    p50 = percentile(via, 50) - percentile(direct, 50)
    p99 = percentile(via, 99) - percentile(direct, 99)
    shown = f"overhead p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    assert p50 <= 0.030 and p99 <= 0.200, shown


async def test_d9_calls_past_the_parallel_limit_are_shed_fast_with_no_upstream_call(
        gwd: GwdFactory, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd9.db'}"
    with OpenAIFake("busy") as fake:
        fake.set_default(Fault(delay=1.5))
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url, **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": db,
                                 "global_max_parallel_requests": 20}})
        keys = [new_key(proc), new_key(proc)]  # one key may hold only half the slots
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}

        async def one(session: aiohttp.ClientSession, i: int = 0
                      ) -> tuple[int, str, str | None, float]:
            started = time.perf_counter()
            headers = {"Authorization": f"Bearer {keys[i % 2]}"}
            async with session.post(proc.direct_url + "/v1/chat/completions", json=body,
                                    headers=headers) as r:   # timed: not via the recorder
                data = await r.json()
                return (r.status, (data.get("error") or {}).get("code", ""),
                        r.headers.get("Retry-After"), time.perf_counter() - started)

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            admitted = [asyncio.create_task(one(session, i)) for i in range(20)]
            while len(fake.requests) < 20:               # all 20 are now in flight upstream
                await asyncio.sleep(0.01)
            shed = await asyncio.gather(*(one(session, i) for i in range(40)))
            served = await asyncio.gather(*admitted)
            after = await one(session)                   # capacity is back once they end
        assert {s[:3] for s in shed} == {(503, "overloaded", "1")}
        times = sorted(s[3] for s in shed)
        assert percentile(times, 50) <= 0.050 and times[-1] <= 0.5, times
        assert [s[0] for s in served] == [200] * 20 and after[0] == 200
        assert len(fake.requests) == 21                  # the shed calls never went upstream
        for key in keys:
            httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER,
                      timeout=10)
        t = [totals(db, key_hash(key)) for key in keys]
        assert [(x.ledger_rows, x.key_requests) for x in t] == [(11, 11), (10, 10)]  # no row
        assert [x.key_spend == x.ledger_sum for x in t] == [True, True]   # for the shed ones
        assert t[0].key_spend + t[1].key_spend == 21 * cost(10, 5)
