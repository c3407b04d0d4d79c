"""``gwd --workers N``: several processes on one port, one database, exact spend."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx

from tests.conftest import GwdFactory
from tests.support.gwd import MASTER_KEY
from tests.support.ledger import key_hash, totals

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def test_two_workers_share_the_port_and_the_ledger(gwd: GwdFactory,
                                                         tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
        "model": "mock/m", "input_cost_per_token": "0.000001",
        "output_cost_per_token": "0.000002"}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": url}},
        extra_args=["--workers", "2"])
    assert proc.proc is not None
    assert len(children(proc.proc.pid)) == 2
    key = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={}).json()["key"]
    costs = []
    async with aiohttp.ClientSession() as session:
        async def call(i: int) -> None:
            async with session.post(proc.base_url + "/v1/chat/completions",
                                    headers={"Authorization": f"Bearer {key}"},
                                    json={"model": "m", "messages": [
                                        {"role": "user", "content": f"n{i}"}]}) as r:
                assert r.status == 200
                costs.append(r.headers["x-gw-response-cost"])
        await asyncio.gather(*(call(i) for i in range(400)))
    assert proc.stop() == 0  # SIGTERM reaches both workers; each flushes its spend
    t = totals(url, key_hash(key))
    assert (t.key_requests, t.ledger_rows) == (400, 400)
    assert t.key_spend == t.ledger_sum == sum((Decimal(c) for c in costs), Decimal(0))


def test_a_worker_that_dies_is_restarted(gwd: GwdFactory) -> None:
    proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": MASTER_KEY}},
               extra_args=["--workers", "2"])
    assert proc.proc is not None
    first = children(proc.proc.pid)
    subprocess.run(["kill", "-9", str(first[0])], check=True)
    until = time.monotonic() + 10
    while time.monotonic() < until:
        now = children(proc.proc.pid)
        if len(now) == 2 and first[0] not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the killed worker was not replaced")
    assert httpx.get(proc.base_url + "/health/liveliness", timeout=5).status_code == 200


def test_workers_flag_is_validated() -> None:
    out = subprocess.run([sys.executable, "-m", "gwd", "--config", "x.yaml", "--workers", "0"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--workers" in out.stderr
