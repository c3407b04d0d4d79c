"""When the database misbehaves: gwd fails closed, answers fast, loses no spend, recovers alone.

Catalogue IDs: C15 (database down at start), C16 (down mid-run: 503 within the
pool timeout, answered calls journaled durably and written once it is back),
C17 (recovery with no restart), C18 (SQLite disk full), C19 (SQLite writer
contention), C20/C21 (SIGTERM and SIGKILL while the database is down), C24
(pool exhausted: 503, never 401; connections bounded), C25 (10% injected
database errors: the pool returns to baseline), B18 (faults inside auth: 503,
never 401 or an empty identity), I7 (the ledger stays exact through all of it)
and I9 (fail closed by default; fail open only when configured, and readiness
says so).

PostgreSQL is taken "down" without touching the shared server: gwd reaches it
through :class:`~tests.support.tcpproxy.TcpProxy`, which the test can cut, turn
into a black hole, slow down or make drop connections at random.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from tests.conftest import GwdFactory
from tests.support.diskfull import small_disk
from tests.support.gwd import MASTER_KEY, REPO, GwdProcess, free_port, until, write_config
from tests.support.ledger import key_hash, totals
from tests.support.pg import create_database, drop_database, fetch, run_async
from tests.support.tcpproxy import TcpProxy

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRICES = {"input_cost_per_token": "0.000001234567", "output_cost_per_token": "0.000009876543"}
Pg = tuple[str, TcpProxy]   # (the real database URL, the proxy gwd goes through)


def config(database_url: str, **general: Any) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m", **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                                 **general}}


@pytest.fixture
def pg(pg_url: str) -> Iterator[Pg]:
    url = create_database(pg_url, "gw_faults")
    proxy = TcpProxy.for_url(url).start()
    try:
        yield url, proxy
    finally:
        proxy.stop()
        drop_database(pg_url, url)


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def chat(proc: GwdProcess, key: str, text: str = "hi") -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "m", "max_tokens": 20,
                            "messages": [{"role": "user", "content": text}]})


def cost(r: httpx.Response | aiohttp.ClientResponse) -> Decimal:
    return Decimal(r.headers["x-gw-response-cost"])


def code(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, (r.json().get("error") or {}).get("code")


def journal_of(proc: GwdProcess) -> Path:
    return proc.config_path.with_name(proc.config_path.stem + ".spend-journal.jsonl")


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] \
        if path.exists() else []


def assert_spend(url: str, key: str, answered: list[Decimal]) -> None:
    t = totals(url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (len(answered), len(answered))
    assert t.key_spend == t.ledger_sum == sum(answered, Decimal(0))


def run_gwd(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gwd", "--config", str(config_path),
                           "--port", str(free_port())], capture_output=True, text=True,
                          timeout=30, cwd=REPO)


# C15 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://gw:pw-canary-0123456789@127.0.0.1:{port}/gw",       # nothing listens
    "postgresql://gw:pw-canary-0123456789@127.0.0.1:notaport/gw",     # malformed
])
def test_unreachable_postgres_at_start_is_one_line_exit_1_without_the_password(
        tmp_path: Path, url: str) -> None:
    url = url.format(port=free_port())
    out = run_gwd(write_config(tmp_path / "c.yaml", config(url)))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("gwd: cannot open the "
                                                                 "postgresql database")
    assert "pw-canary" not in out.stderr and url not in out.stderr


def test_unwritable_sqlite_path_at_start_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = f"sqlite:///{tmp_path / 'a-file' / 'gw.db'}"
    out = run_gwd(write_config(tmp_path / "c.yaml", config(url)))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("gwd: cannot open the sqlite database") and "Traceback" \
        not in out.stderr


# C16, C17, B18, I9 -----------------------------------------------------------------------

@pytest.mark.postgres
def test_postgres_down_mid_run_fails_closed_journals_spend_and_recovers(
        gwd: GwdFactory, pg: Pg) -> None:
    url, proxy = pg
    ttl = 1.5
    proc = gwd(config(proxy.url(url), key_cache_ttl=ttl))
    cached, fresh, budgeted = new_key(proc), new_key(proc), new_key(proc, max_budget=100)
    time.sleep(ttl)                                      # every cache entry is now stale
    answered = [cost(chat(proc, cached))]                # reloaded: cached for ttl seconds
    assert chat(proc, budgeted).status_code == 200
    proxy.down()
    for i in range(3):                                   # a short blip: cached keys serve
        r = chat(proc, cached, f"during the outage {i}")
        assert r.status_code == 200
        answered.append(cost(r))
    for key in (fresh, "sk-never-issued-0123456789abcdef"):
        started = time.monotonic()
        assert code(chat(proc, key)) == (503, "database_unavailable")   # never 401
        assert time.monotonic() - started < 2.0
    assert code(chat(proc, budgeted)) == (503, "database_unavailable")  # cannot reserve
    r = httpx.get(proc.base_url + "/health/readiness")
    assert (r.status_code, r.json()["db"]) == (503, "down")
    journal = journal_of(proc)
    until(lambda: len(journal_lines(journal)) >= 3, 5)  # answered calls are on disk
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    text = journal.read_text()
    assert cached not in text and fresh not in text and MASTER_KEY not in text
    assert all(isinstance(line["row"]["cost"], str) for line in journal_lines(journal))
    time.sleep(ttl)
    assert code(chat(proc, cached)) == (503, "database_unavailable")    # fail closed
    proxy.up()
    assert until(lambda: chat(proc, fresh).status_code == 200, 5) < 5    # no restart
    assert httpx.get(proc.base_url + "/health/readiness").status_code == 200
    httpx.get(proc.base_url + "/key/info", params={"key": cached}, headers=MASTER)  # flush
    assert_spend(url, cached, answered)
    until(lambda: journal.stat().st_size == 0, 5)


@pytest.mark.postgres
def test_a_silent_database_costs_a_caller_at_most_the_timeout(gwd: GwdFactory, pg: Pg) -> None:
    url, proxy = pg
    proc = gwd(config(proxy.url(url), key_cache_ttl=0.5))
    keys = [new_key(proc) for _ in range(2)]
    time.sleep(0.5)
    proxy.blackhole()                                    # packets vanish, nothing errors
    for key in keys:
        started = time.monotonic()
        assert code(chat(proc, key)) == (503, "database_unavailable")
        assert time.monotonic() - started < 2.6         # 2 s timeouts, plus slack
    started = time.monotonic()
    assert httpx.get(proc.base_url + "/health/readiness", timeout=10).status_code == 503
    assert time.monotonic() - started < 2.6
    proxy.up()
    assert until(lambda: chat(proc, keys[0]).status_code == 200, 5) < 5


@pytest.mark.postgres
def test_fail_open_is_opt_in_and_readiness_says_the_db_is_down(gwd: GwdFactory,
                                                               pg: Pg) -> None:
    url, proxy = pg
    proc = gwd(config(proxy.url(url), key_cache_ttl=0.3,
                      allow_requests_on_db_unavailable=True))
    key = new_key(proc)
    time.sleep(0.3)
    answered = [cost(chat(proc, key))]
    proxy.down()
    time.sleep(0.5)                                      # past the TTL
    for _ in range(2):
        r = chat(proc, key)
        assert r.status_code == 200
        answered.append(cost(r))
    unknown = "sk-never-issued-0123456789abcdef"
    assert code(chat(proc, unknown)) == (503, "database_unavailable")  # not cached: closed
    r = httpx.get(proc.base_url + "/health/readiness")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["db"]) == ("degraded", "down")
    assert "allow_requests_on_db_unavailable is on" in proc.log_text()
    proxy.up()
    until(lambda: chat(proc, unknown).status_code == 401, 5)
    httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    assert_spend(url, key, answered)


# C20, C21 --------------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_stopping_while_postgres_is_down_loses_no_answered_call(gwd: GwdFactory, pg: Pg,
                                                                how: str) -> None:
    url, proxy = pg
    cfg = config(proxy.url(url), key_cache_ttl=60)
    proc = gwd(cfg, name="a")
    key = new_key(proc)
    proxy.down()
    responses = [chat(proc, key, f"call {i}") for i in range(20)]
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    answered = [cost(r) for r in responses]
    journal = journal_of(proc)
    if how == "sigterm":
        started = time.monotonic()
        assert proc.stop() == 0 and time.monotonic() - started < 10
        assert "in the journal" in proc.log_text()
    else:   # the flusher moves rows to the journal within ~0.1 s; wait for it, then kill
        until(lambda: len(journal_lines(journal)) == 20, 5)
        proc.kill()
    lines = journal_lines(journal)
    assert len(lines) == 20 and sum((Decimal(x["row"]["cost"]) for x in lines),
                                    Decimal(0)) == sum(answered, Decimal(0))
    assert totals(url, key_hash(key)).ledger_rows == 0
    proxy.up()
    gwd(cfg, name="a")                                   # the next start replays it
    assert_spend(url, key, answered)
    assert journal.stat().st_size == 0


# C24, C25 --------------------------------------------------------------------------------

async def calls(proc: GwdProcess, key: str, n: int, concurrency: int
                ) -> list[tuple[int, str | None, Decimal | None]]:
    async def one(session: aiohttp.ClientSession, i: int
                  ) -> tuple[int, str | None, Decimal | None]:
        async with session.post(proc.base_url + "/v1/chat/completions",
                                headers={"Authorization": f"Bearer {key}"},
                                json={"model": "m", "max_tokens": 10,
                                      "messages": [{"role": "user", "content": f"n{i}"}]}) as r:
            body = await r.json()
            return (r.status, (body.get("error") or {}).get("code"),
                    cost(r) if r.status == 200 else None)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(one(session, i) for i in range(n)))


def gwd_connections(url: str) -> list[str]:
    rows = run_async(fetch(url, "SELECT state FROM pg_stat_activity WHERE datname = "
                               "current_database() AND application_name = 'gwd'"))
    return [r["state"] for r in rows]


@pytest.mark.postgres
async def test_an_exhausted_pool_gives_503_never_401(gwd: GwdFactory, pg: Pg) -> None:
    url, proxy = pg
    proc = gwd(config(proxy.url(url), key_cache_ttl=60, database_connection_pool_limit=2,
                      database_connection_timeout=0.5))
    key = new_key(proc, max_budget=1000)                 # every call reserves in the DB
    proxy.delay = 0.05                                   # each statement is slow
    results = await calls(proc, key, 60, 60)
    statuses = {(s, c) for s, c, _ in results}
    assert statuses <= {(200, None), (503, "database_unavailable")}
    assert (503, "database_unavailable") in statuses and (200, None) in statuses
    assert proxy.peak <= 2 + 1                           # the pool, plus LISTEN
    proxy.delay = 0
    after = await calls(proc, key, 20, 5)
    assert all(s == 200 for s, _, _ in after)            # no connection leaked
    httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    assert_spend(url, key, [c for _, _, c in results + after if c is not None])


@pytest.mark.postgres
async def test_the_pool_returns_to_baseline_after_injected_db_errors(gwd: GwdFactory,
                                                                     pg: Pg) -> None:
    url, proxy = pg
    proc = gwd(config(proxy.url(url), key_cache_ttl=60, database_connection_pool_limit=3))
    key = new_key(proc, max_budget=1000)
    proxy.fault_rate = 0.02                              # about 1 call in 10 hits a cut
    results = await calls(proc, key, 300, 20)
    refused = [r for r in results if r[0] != 200]
    assert refused and all(r[:2] == (503, "database_unavailable") for r in refused)
    assert len(refused) < 100
    proxy.fault_rate = 0
    after = await calls(proc, key, 100, 10)
    assert all(s == 200 for s, _, _ in after)            # 100% once the faults stop
    httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    assert_spend(url, key, [c for _, _, c in results + after if c is not None])
    states = gwd_connections(url)
    assert len(states) <= 3 and "idle in transaction" not in states


# C18, C19 --------------------------------------------------------------------------------

def test_sqlite_writer_contention_is_absorbed_by_busy_timeout(gwd: GwdFactory,
                                                              tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    proc = gwd(config(f"sqlite:///{db}", key_cache_ttl=60))
    key = new_key(proc, max_budget=100)
    held = threading.Event()

    def hold_the_lock() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(2)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(5)
    started = time.monotonic()
    results = asyncio.run(calls(proc, key, 10, 10))
    waited = time.monotonic() - started
    made = new_key(proc)                                  # a key write after the lock
    holder.join()
    assert all(s == 200 for s, _, _ in results) and made
    assert 1.0 < waited < 5.0                            # they waited for the lock, no error
    assert "locked" not in proc.log_text()
    httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    assert_spend(f"sqlite:///{db}", key, [c for _, _, c in results if c is not None])


def test_sqlite_disk_full_refuses_writes_keeps_spend_and_recovers(gwd: GwdFactory,
                                                                  tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        db = disk.directory / "gw.db"
        url = f"sqlite:///{db}"
        proc = gwd(config(url, key_cache_ttl=60))
        disk.pid = proc.proc.pid if proc.proc else None
        key, budgeted = new_key(proc), new_key(proc, max_budget=100)
        answered = [cost(chat(proc, key))]
        until(lambda: totals(url, key_hash(key)).ledger_rows == 1, 5)
        disk.fill(db)
        r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={})
        assert code(r) == (503, "database_unavailable")                 # a write: refused
        assert code(chat(proc, budgeted)) == (503, "database_unavailable")   # reserve: too
        for i in range(5):                                # cached, unbudgeted: served
            r = chat(proc, key, f"full {i}")
            assert r.status_code == 200
            answered.append(cost(r))
        time.sleep(0.3)                                   # flushes fail meanwhile
        assert totals(url, key_hash(key)).ledger_rows == 1
        disk.free()
        until(lambda: totals(url, key_hash(key)).ledger_rows == 6, 5)
        assert new_key(proc) and chat(proc, budgeted).status_code == 200
        httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
        assert_spend(url, key, answered)
        assert proc.stop() == 0
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        if disk.mode == "tmpfs":
            assert os.path.getsize(journal_of(proc)) == 0  # the journal took them meanwhile

