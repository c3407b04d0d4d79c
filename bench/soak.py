"""A bounded soak (catalogue D10, issue 7.6): mixed traffic and faults for minutes, then checks
that gwd's memory, open files and asyncio tasks come back to their baseline.

    python bench/soak.py                      # 3 minutes (1 of warm-up) at 80 rps, 5 % faults
    python bench/soak.py --minutes 10 --rps 150 --fault-rate 0.1 --database-url postgresql://...

It starts three fake OpenAI upstreams in this process (tests/fakes). Two of them
misbehave on ``--fault-rate`` of their requests: 5xx, 429, a reset, garbage, a
slow answer that trips the first-byte timeout, a stream cut or stalled mid-way, or
no usage. The third always behaves; a fourth answers after 0.6 s, for the callers
that hang up before the answer. One gwd sits in front of them, with short timeouts.
The driver sends an open-loop mix at ``--rps``: chat, streamed chat, text
completions and embeddings. A quarter of the calls use a key with a budget, so the
reservation path runs too. 10 % of the streams hang up after two chunks, and 5 % of
the other calls hang up before the answer.

Every ``--sample`` seconds it reads gwd's resident memory (VmRSS) and open
descriptors from /proc, and its asyncio task count from ``gw_asyncio_tasks`` on
/metrics (read with the master key, so there is no public endpoint). Then it prints
a table and a verdict:

- RSS at the end of the traffic, and once idle again, is at most 10 % above RSS at
  the end of the warm-up;
- open descriptors and asyncio tasks are back to their idle baseline (within a
  small slack) once the traffic stops and idle keep-alive connections expire;
- the key's spend equals the sum of its ledger rows.

The exit status is 0 on PASS and 1 on FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes import Fault, OpenAIFake  # noqa: E402  (needs the repo on the path)

MASTER = "sk-soak-master-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {MASTER}"}
FAULTS = [Fault(status=500), Fault(status=503), Fault(status=429, headers={"Retry-After": "1"}),
          Fault(reset=True), Fault(garbage=b"<html>oops</html>"), Fault(delay=3.0),
          Fault(stream_cut_after=3), Fault(stream_delay=3.0), Fault(no_usage=True)]
FD_SLACK, TASK_SLACK, RSS_GROWTH = 5, 3, 0.10


class ChaosFake(OpenAIFake):
    """Misbehaves on a fraction of requests, picking a fault at random."""

    def __init__(self, name: str, rate: float, seed: int) -> None:
        super().__init__(name)
        self.rate = rate
        self.rng = random.Random(seed)

    def _next_fault(self) -> Fault:
        if self.rng.random() < self.rate:
            return self.rng.choice(FAULTS)
        return Fault()


@dataclass
class Sample:
    phase: str
    t: float
    rss_mb: float
    fds: int
    tasks: int
    in_flight: int
    calls: int


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def gauges(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with session.get(base + "/metrics", headers=AUTH) as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("gw_asyncio_tasks", "gw_in_flight_requests"):
            out[name] = float(value)
    return out


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.samples: list[Sample] = []
        self.outcomes: Counter[str] = Counter()
        self.calls = 0
        self.started = time.monotonic()

    # ---------------------------------------------------------------- processes
    def start_gwd(self, bases: list[str], slow: str) -> None:
        groups = [(group, base) for group in ("chat", "embed") for base in bases]
        deployments = [{"model_name": group, "litellm_params": {
            "model": "openai/gpt-4o", "api_base": base, "api_key": "sk-soak-provider-000000",
            "input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}}
            for group, base in [*groups, ("slow", slow)]]
        db = self.args.database_url or f"sqlite:///{self.work / 'soak.db'}"
        config = {"model_list": deployments,
                  "general_settings": {"master_key": MASTER, "database_url": db},
                  "router_settings": {"num_retries": 2, "connect_timeout": 1,
                                      "first_byte_timeout": 2, "stream_idle_timeout": 2,
                                      "cooldown_time": 1}}
        path = self.work / "soak.yaml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        log = open(self.work / "gwd.log", "wb")  # noqa: SIM115 - lives as long as gwd
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gwd", "--config", str(path), "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
            env={**os.environ, "PYTHONPATH": str(REPO)})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- traffic
    async def one(self, session: aiohttp.ClientSession, key: str) -> None:
        kind = self.rng.choices(["chat", "stream", "completions", "embeddings"],
                                [40, 30, 15, 15])[0]
        headers = {"Authorization": f"Bearer {key}"}
        text = f"soak {self.calls} " + "z" * self.rng.randrange(60)
        if kind == "embeddings":
            path, body = "/v1/embeddings", {"model": "embed", "input": [text, "more"]}
        elif kind == "completions":
            path, body = "/v1/completions", {"model": "chat", "prompt": text, "max_tokens": 20}
        else:
            path = "/v1/chat/completions"
            body = {"model": "chat", "max_tokens": 20, "stream": kind == "stream",
                    "messages": [{"role": "user", "content": text}]}
        hang_up = self.rng.random() < (0.10 if kind == "stream" else 0.05)
        if hang_up and kind != "stream":   # to a slow upstream: gone before it answers
            body["model"] = "slow"
        timeout = aiohttp.ClientTimeout(total=0.2 if hang_up and kind != "stream" else 30)
        try:
            async with session.post(self.base + path, json=body, headers=headers,
                                    timeout=timeout) as r:
                if kind == "stream" and r.status == 200:
                    seen = 0
                    async for _ in r.content:
                        seen += 1
                        if hang_up and seen >= 4:
                            r.close()
                            self.outcomes["stream hung up"] += 1
                            return
                else:
                    await r.read()
                self.outcomes[str(r.status)] += 1
        except TimeoutError:
            self.outcomes["client hung up"] += 1
        except aiohttp.ClientError as exc:
            self.outcomes[type(exc).__name__] += 1

    async def drive(self, session: aiohttp.ClientSession, keys: list[str], seconds: float,
                    phase: str) -> None:
        """Open loop: one call every 1/rps seconds, at most 400 in flight."""
        gate = asyncio.Semaphore(400)
        tasks: set[asyncio.Task[None]] = set()
        interval, next_at = 1 / self.args.rps, time.monotonic()
        end, next_sample = next_at + seconds, next_at

        async def guarded(key: str) -> None:
            async with gate:
                await self.one(session, key)

        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                await self.sample(session, phase)
                next_sample = now + self.args.sample
            self.calls += 1
            task = asyncio.create_task(guarded(keys[1 if self.calls % 4 == 0 else 0]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await self.sample(session, phase + " end")
        await asyncio.gather(*tasks)

    async def sample(self, session: aiohttp.ClientSession, phase: str) -> Sample:
        assert self.proc is not None
        pid = self.proc.pid
        g = await gauges(session, self.base)
        s = Sample(phase, time.monotonic() - self.started, rss_mb(pid),
                   len(os.listdir(f"/proc/{pid}/fd")), int(g.get("gw_asyncio_tasks", -1)),
                   int(g.get("gw_in_flight_requests", -1)), self.calls)
        self.samples.append(s)
        return s

    async def settle(self, phase: str, baseline: Sample, limit: float = 60) -> Sample:
        """Sample while idle until descriptors and tasks are back near the baseline (or
        ``limit`` seconds pass: idle upstream keep-alive connections close after 30 s)."""
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as session:
            while True:
                s = await self.sample(session, phase)
                if (s.fds <= baseline.fds + FD_SLACK and s.tasks <= baseline.tasks + TASK_SLACK
                        and s.in_flight == 0) or time.monotonic() > deadline:
                    return s
                await asyncio.sleep(self.args.sample)

    async def run(self) -> bool:
        fakes = [ChaosFake(f"chaos{i}", self.args.fault_rate, self.args.seed + i).start()
                 for i in range(2)] + [OpenAIFake("steady").start()]
        slow = OpenAIFake("slow").start()
        slow.set_default(Fault(delay=0.6))
        fakes.append(slow)
        try:
            self.start_gwd([f.base_url for f in fakes[:3]], slow.base_url)
            await self.wait_ready()
            async with aiohttp.ClientSession() as session:
                keys = [await self.new_key(session, {}),
                        await self.new_key(session, {"max_budget": 1_000_000})]
                baseline = await self.sample(session, "idle baseline")
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                await self.drive(session, keys, self.args.warmup, "warm-up")
                warm = self.samples[-1]
                trim = asyncio.create_task(trim_fakes(fakes))
                await self.drive(session, keys, self.args.minutes * 60 - self.args.warmup,
                                 "traffic")
                loaded = self.samples[-1]
                trim.cancel()
            idle = await self.settle("idle after", baseline)
            exact = await self.spend_exact(keys)
        finally:
            self.stop()
            for fake in fakes:
                fake.stop()
        return self.report(baseline, warm, loaded, idle, exact)

    async def wait_ready(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(self.base + "/health/liveliness") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit("gwd did not start; see " + str(self.work / "gwd.log"))

    async def new_key(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> str:
        async with session.post(self.base + "/key/generate", json=body, headers=AUTH) as r:
            return str((await r.json())["key"])

    async def spend_exact(self, keys: list[str]) -> bool | None:
        """Key spend == ledger sum for every key (SQLite only: read with plain SQL)."""
        async with aiohttp.ClientSession() as session:
            for key in keys:   # /key/info writes gwd's spend buffer first
                async with session.get(self.base + "/key/info", params={"key": key},
                                       headers=AUTH) as r:
                    await r.read()
        if self.args.database_url:
            return None
        with sqlite3.connect(self.work / "soak.db") as conn:
            rows = conn.execute(
                "SELECT k.spend, k.requests, coalesce(sum(l.cost), 0), count(l.request_id) "
                "FROM gw_keys k LEFT JOIN gw_spend_log l ON l.key_hash = k.token_hash "
                "GROUP BY k.token_hash").fetchall()
        return all(Decimal(s) == Decimal(t) and n == c for s, n, t, c in rows)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(40)

    # ---------------------------------------------------------------- verdict
    def report(self, baseline: Sample, warm: Sample, loaded: Sample, idle: Sample,
               exact: bool | None) -> bool:
        print(f"{'phase':<16}{'t (s)':>8}{'calls':>8}{'RSS MB':>9}{'fds':>6}{'tasks':>7}"
              f"{'in flight':>11}")
        for s in self.samples:
            print(f"{s.phase:<16}{s.t:>8.0f}{s.calls:>8}{s.rss_mb:>9.1f}{s.fds:>6}{s.tasks:>7}"
                  f"{s.in_flight:>11}")
        seconds = self.args.minutes * 60
        print(f"\n{self.calls} calls in {seconds:.0f} s ({self.calls / seconds:.0f} rps); "
              "outcomes: " + ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common()))
        loaded_samples = [s for s in self.samples if s.phase.startswith("traffic")]
        half = loaded_samples[len(loaded_samples) // 2:]
        if len(half) >= 2 and half[-1].t > half[0].t:
            slope = (half[-1].rss_mb - half[0].rss_mb) / (half[-1].t - half[0].t) * 60
            print(f"RSS trend over the second half of the traffic: {slope:+.2f} MB/min "
                  "(information: allocator high-water marks grow in steps, then level off)")
        log = (self.work / "gwd.log").read_text(errors="replace")
        checks = {
            f"RSS end of traffic {loaded.rss_mb:.1f} MB <= warm-up {warm.rss_mb:.1f} MB "
            f"+ {RSS_GROWTH:.0%}": loaded.rss_mb <= warm.rss_mb * (1 + RSS_GROWTH),
            f"RSS idle after {idle.rss_mb:.1f} MB <= warm-up {warm.rss_mb:.1f} MB "
            f"+ {RSS_GROWTH:.0%}": idle.rss_mb <= warm.rss_mb * (1 + RSS_GROWTH),
            f"fds idle after {idle.fds} <= baseline {baseline.fds} + {FD_SLACK}":
                idle.fds <= baseline.fds + FD_SLACK,
            f"asyncio tasks idle after {idle.tasks} <= baseline {baseline.tasks} + "
            f"{TASK_SLACK}": idle.tasks <= baseline.tasks + TASK_SLACK,
            f"no traceback in gwd's log ({log.count('Traceback')})": "Traceback" not in log,
        }
        if exact is not None:
            checks["key spend == sum of ledger rows, for every key"] = exact
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}")
        verdict = all(checks.values())
        print(f"\nverdict: {'PASS' if verdict else 'FAIL'}  (gwd log: {self.work / 'gwd.log'})")
        return verdict


async def trim_fakes(fakes: list[OpenAIFake]) -> None:
    """The fakes record every request; forget them now and then (the soak's own memory)."""
    while True:
        await asyncio.sleep(10)
        for fake in fakes:
            fake.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="traffic, warm-up included")
    p.add_argument("--warmup", type=float, default=60.0,
                   help="seconds of warm-up traffic (the catalogue: 5 minutes for a 1 h soak)")
    p.add_argument("--rps", type=float, default=80.0, help="calls per second (open loop)")
    p.add_argument("--fault-rate", type=float, default=0.05,
                   help="fraction of requests the two chaos upstreams fail")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if args.minutes * 60 <= args.warmup:
        p.error("--minutes must be longer than --warmup")
    # the fakes run in this process: a gwd hanging up on them is expected, not news
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    work = Path(tempfile.mkdtemp(prefix="gw-soak-"))
    raise SystemExit(0 if asyncio.run(Soak(args, work).run()) else 1)


if __name__ == "__main__":
    main()
