"""Catalogue (c), faults that need a gwd of their own: C13 (memory), C20 (SIGTERM), C21.

These sit apart from tests/catalogue/test_faults.py, whose cases share one gwd.
C13 measures gwd's peak RSS (``VmHWM`` in /proc/<pid>/status) around a 200 MB
upstream body (why 200 rather than 100 MB: see ``HUGE``). C20 stops gwd while 100
calls are in flight. C21 checks PostgreSQL durability settings. See test_faults.py's
docstring for the whole C1–C26 map.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.faultlab import MASTER, PRICES, ScriptedFake, cost
from tests.support.gwd import MASTER_KEY
from tests.support.ledger import key_hash, totals
from tests.support.pg import fetch, run_async

OK_COST = cost(10, 5)   # what the fakes report: 10 prompt + 5 completion tokens


def vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status memory figure, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


MB = 1024 * 1024
# gwd keeps at most 64 MiB of a non-streamed answer (gwd/upstream.py: a base64 embeddings
# batch of 2048 x 3072 dimensions is 34 MB) and 8 MiB of one stream event. 64 MiB plus
# its overhead peaks at 75-97 MB, which is too close to a 100 MB body to tell bounded from
# unbounded. So the body here is 200 MB: kept whole, it would cost at least 400 MB (the
# pieces and then the joined copy); bounded, it costs under 150 MB.
BODY_MB = 200
HUGE = {"C13-json-body": ("application/json", [b'{"pad": "', *[b"a" * MB] * BODY_MB, b'"}']),
        "C13-one-sse-event": ("text/event-stream",
                              [b'data: {"pad": "', *[b"a" * MB] * BODY_MB, b'"}\n\n'])}


@pytest.mark.parametrize("kind", list(HUGE), ids=list(HUGE))
def test_c13_a_huge_upstream_body_is_refused_with_bounded_memory(gwd: GwdFactory,
                                                                 tmp_path: Path,
                                                                 kind: str) -> None:
    content_type, script = HUGE[kind]
    with ScriptedFake("huge") as huge:
        proc = gwd({"model_list": [{"model_name": "big", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": huge.base_url, **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY,
                                 "database_url": f"sqlite:///{tmp_path / 'c13.db'}"}})
        assert proc.proc is not None
        body = {"model": "big", "messages": [{"role": "user", "content": "hi"}],
                "stream": content_type == "text/event-stream"}
        url = proc.base_url + "/v1/chat/completions"
        assert httpx.post(url, json=body, headers=MASTER, timeout=30).status_code == 200
        peak_before = vm(proc.proc.pid, "VmHWM")
        huge.content_type, huge.script = content_type, script
        r = httpx.post(url, json=body, headers=MASTER, timeout=60)
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
        grown = vm(proc.proc.pid, "VmHWM") - peak_before
        assert grown < 150 * MB, f"gwd's peak RSS grew by {grown / MB:.0f} MB"


async def test_c20_sigterm_with_100_calls_in_flight_half_streaming_finishes_them_all(
        gwd: GwdFactory, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c20.db'}"
    with OpenAIFake("slow") as slow:
        slow.reply_text = " ".join(f"w{i}" for i in range(30))
        slow.set_default(Fault(delay=1.0, stream_delay=0.03))
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": slow.base_url, **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": db,
                                 "drain_timeout": 20}})
        key = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={}).json()["key"]

        async def one(session: aiohttp.ClientSession, i: int) -> tuple[int, bytes]:
            body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "x"}],
                                    "stream": i % 2 == 0}
            async with session.post(proc.base_url + "/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {key}"}) as r:
                return r.status, await r.read()

        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as session:
            calls = asyncio.gather(*(one(session, i) for i in range(100)))
            while len(slow.requests) < 100:
                await asyncio.sleep(0.02)
            stopped = time.monotonic()
            proc.signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            with pytest.raises(httpx.ConnectError):  # gwd's own port no longer accepts
                httpx.get(proc.direct_url + "/health/readiness", timeout=2)
            results = await calls
        drained = time.monotonic() - stopped
        assert proc.proc is not None and proc.proc.wait(20) == 0
        assert [status for status, _ in results] == [200] * 100 and drained < 20
        assert all(raw.rstrip().endswith(b"data: [DONE]") for _, raw in results[::2])
        completed = [s for s in slow.streams if s[0] == "completed"]
        assert len(completed) == 50 and len(slow.requests) == 100
    t = totals(db, key_hash(key))
    assert (t.ledger_rows, t.key_requests) == (100, 100)
    assert t.key_spend == t.ledger_sum == 100 * OK_COST


@pytest.mark.postgres
def test_c21_gwd_never_turns_synchronous_commit_off(pg_url: str) -> None:
    source = "\n".join(p.read_text() for p in (Path(__file__).parents[2] / "gwd").rglob("*.py"))
    assert "synchronous_commit" not in source.lower()
    assert run_async(fetch(pg_url, "SHOW synchronous_commit"))[0][0] == "on"
