"""Load drivers for the catalogue's load tests (tests/catalogue/test_load.py).

- :class:`Replicas`: several gwd processes on one PostgreSQL database, started and
  stopped all at once, with their logs scanned for secrets when they stop.
- :func:`spend_load`: N calls of four kinds (chat, streamed chat with usage, text
  completion, embeddings: tests/support/mixedcalls.py) spread over replicas. Each call
  returns the cost the client can work out from the usage it saw.
- :func:`budget_call`, :func:`latencies`, :func:`percentile`.
- :func:`revoke_under_load`: keep calling a key on every replica, delete it part
  way, and report when each replica last admitted it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import aiohttp
import httpx

from tests.conftest import assert_no_secret
from tests.support.faultlab import MASTER, cost
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.mixedcalls import mixed_call


@dataclass
class Replicas:
    POOL: ClassVar[int] = 5
    url: str
    procs: list[GwdProcess]

    def start_all(self) -> None:
        for proc in self.procs:
            proc.start(wait=False)
        for proc in self.procs:
            proc.wait_ready()

    def stop_all(self) -> None:
        """SIGTERM to every replica at once, then wait for each to exit 0."""
        for proc in self.procs:
            if proc.proc is not None:
                proc.signal(signal.SIGTERM)
        for proc in self.procs:
            code = proc.stop()
            assert code == 0, f"exit {code}; log: {proc.log_text()!r}"
            assert_no_secret(proc.log_text(), [MASTER_KEY], f"the log of {proc.config_path}")

    def info(self, proc: GwdProcess, key: str) -> dict[str, Any]:
        r = httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER,
                      timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json()["info"])

    def flush(self, key: str) -> None:
        """Every replica writes what it buffered (``/key/info`` flushes first)."""
        for proc in self.procs:
            self.info(proc, key)

    @staticmethod
    def metric_spend(proc: GwdProcess) -> Decimal:
        """The sum of ``gw_spend_usd_total`` this process reports (exact decimal text)."""
        text = httpx.get(proc.base_url + "/metrics", headers=MASTER, timeout=10).text
        return sum((Decimal(line.rpartition(" ")[2]) for line in text.splitlines()
                    if line.startswith("gw_spend_usd_total{")), Decimal(0))


async def _one_call(session: aiohttp.ClientSession, base: str, key: str, i: int) -> Decimal:
    answer = await mixed_call(session, base, key, i, text=f"call {i} " + "y" * (i % 29),
                              max_tokens=3 + i % 17)
    assert answer.status == 200, answer.text
    return cost(*answer.tokens)


async def spend_load(procs: list[GwdProcess], key: str, calls: int,
                     concurrency: int = 200) -> list[Decimal]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        return list(await asyncio.gather(*(
            _one_call(session, procs[i % len(procs)].base_url, key, i) for i in range(calls))))


async def budget_call(session: aiohttp.ClientSession, base: str,
                      key: str) -> tuple[int, str | None]:
    """One $0.01 call on the ``fixed`` group at ``base``: (status, error code or None)."""
    async with session.post(base + "/v1/chat/completions",
                            headers={"Authorization": f"Bearer {key}"},
                            json={"model": "fixed", "max_tokens": 100,
                                  "messages": [{"role": "user", "content": "go"}]}) as r:
        data = await r.json()
        return r.status, (data.get("error") or {}).get("code")


async def latencies(url: str, headers: dict[str, str], calls: int,
                    concurrency: int = 10) -> list[float]:
    """Seconds each of ``calls`` chat calls took, ``concurrency`` at a time (after a warm-up)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
    out: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(n: int, record: bool) -> None:
            for _ in range(n):
                started = time.perf_counter()
                async with session.post(url, json=body, headers=headers) as r:
                    await r.read()
                    assert r.status == 200
                if record:
                    out.append(time.perf_counter() - started)
        await asyncio.gather(*(worker(5, False) for _ in range(concurrency)))
        await asyncio.gather(*(worker(calls // concurrency, True) for _ in range(concurrency)))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


@dataclass
class Revocation:
    rps: float
    answered: int                                   # 200s, before and after the delete
    statuses: set[int]
    late_on_deleting_replica: int                   # 200s started there after the delete
    propagation: list[float] = field(default_factory=list)  # per other replica, seconds


async def revoke_under_load(procs: list[GwdProcess], key: str, before: float, after: float,
                            workers_per_replica: int = 8) -> Revocation:
    """Call ``key`` on every replica in a loop; delete it on ``procs[0]`` after ``before``
    seconds; stop ``after`` seconds later."""
    seen: list[tuple[int, float, int]] = []         # (replica, started, status)
    stop = asyncio.Event()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    async def worker(session: aiohttp.ClientSession, replica: int) -> None:
        url = procs[replica].base_url + "/v1/chat/completions"
        while not stop.is_set():
            started = time.monotonic()
            async with session.post(url, json=body,
                                    headers={"Authorization": f"Bearer {key}"}) as r:
                await r.read()
                seen.append((replica, started, r.status))

    connector = aiohttp.TCPConnector(limit=len(procs) * workers_per_replica)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        tasks = [asyncio.create_task(worker(session, n % len(procs)))
                 for n in range(len(procs) * workers_per_replica)]
        await asyncio.sleep(before)
        async with aiohttp.ClientSession() as admin, \
                admin.post(procs[0].base_url + "/key/delete", headers=MASTER,
                           json={"keys": [key]}) as r:   # its own session: no queueing
            assert r.status == 200, await r.text()
        deleted = time.monotonic()
        await asyncio.sleep(after)
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    propagation = []
    for replica in range(1, len(procs)):
        mine = [(t, s) for r, t, s in seen if r == replica]
        assert any(s == 401 for _, s in mine), f"replica {replica} never refused the key"
        propagation.append(max([t - deleted for t, s in mine if s == 200], default=0.0))
    return Revocation(
        rps=len(seen) / elapsed, answered=sum(1 for _, _, s in seen if s == 200),
        statuses={s for _, _, s in seen},
        late_on_deleting_replica=sum(1 for r, t, s in seen if r == 0 and t > deleted and
                                     s == 200),
        propagation=propagation)
