"""Issue 21, fairness: no tenant can starve the others, and abuse cannot flood the log.

Each case is what a user with one valid key could do to the real ``gwd`` process:
trickle bodies on many connections, trickle headers, hold many slow calls, hang up
mid-body, send unparseable requests by the hundred. Small slot limits and short
deadlines keep each case cheap; the mechanisms are the ones the defaults use.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.faultlab import MASTER, PRICES
from tests.support.gwd import MASTER_KEY, REPO, GwdProcess, write_config

BODY = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


def config(tmp_path: Path, api_base: str | None = None, **general: Any) -> dict[str, Any]:
    m = {"model": "openai/gpt-4o", "api_base": api_base, "api_key": "sk-up-fair-0123456789"} \
        if api_base else {"model": "mock/m", "mock_response": "ok"}
    return {"model_list": [{"model_name": "m", "litellm_params": {**m, **PRICES}},
                           {"model_name": "other", "litellm_params": {"model": "mock/o"}}],
            "general_settings": {"master_key": MASTER_KEY,
                                 "database_url": f"sqlite:///{tmp_path / 'fair.db'}",
                                 **general}}


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def head(key: str, length: int, path: str = "/v1/chat/completions") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    sock.settimeout(timeout)
    started = time.monotonic()
    out = bytearray()
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (TimeoutError, OSError):
        pass
    return bytes(out), time.monotonic() - started


def test_a_key_trickling_bodies_on_many_connections_starves_no_other_key(
        gwd: GwdFactory, tmp_path: Path) -> None:
    """The issue's scenario, with 4 slots instead of 1,024: a key that may spend nothing
    and use no model trickles 100,076-byte bodies a byte at a time on 16 connections.
    Another key's calls are all served, at their normal latency."""
    proc = gwd(config(tmp_path, global_max_parallel_requests=4))
    abuser = new_key(proc, models=["other"], max_budget=0)
    victim = new_key(proc)
    with httpx.Client(base_url=proc.direct_url, timeout=10) as client:
        calm = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.post("/v1/chat/completions", content=BODY, headers={
                "Authorization": f"Bearer {victim}"}).status_code == 200
            calm.append(time.perf_counter() - started)
        socks = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(16)]
        stop = threading.Event()

        def trickle() -> None:
            for s in socks:
                s.sendall(head(abuser, 100_076))
            while not stop.wait(0.2):
                for s in socks:
                    try:
                        s.sendall(b" ")
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            time.sleep(0.5)   # every trickling request is in gwd's hands by now
            answers, busy = [], []
            for _ in range(20):
                started = time.perf_counter()
                r = client.post("/v1/chat/completions", content=BODY,
                                headers={"Authorization": f"Bearer {victim}"})
                busy.append(time.perf_counter() - started)
                answers.append(r.status_code)
        finally:
            stop.set()
            thread.join()
            for s in socks:
                s.close()
    assert answers == [200] * 20
    assert max(busy) < max(0.5, 10 * max(calm)), (calm, busy)


def test_a_body_not_sent_within_the_deadline_is_refused_with_408(
        gwd: GwdFactory, tmp_path: Path) -> None:
    proc = gwd(config(tmp_path, request_body_timeout=1))
    key = new_key(proc)
    with socket.create_connection(("127.0.0.1", proc.port)) as sock:
        sock.sendall(head(key, len(BODY)) + BODY[:10])   # ... and the rest never comes
        answer, took = read_until_closed(sock, 20)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert took < 15, took   # the deadline, then at most aiohttp's 10 s lingering close
    assert "Traceback" not in proc.log_text()


def test_headers_not_sent_within_the_deadline_close_the_connection(
        gwd: GwdFactory, tmp_path: Path) -> None:
    proc = gwd(config(tmp_path, request_header_timeout=1))
    with socket.create_connection(("127.0.0.1", proc.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")  # no end
        answer, took = read_until_closed(sock, 10)
    assert answer == b"" and took < 5, (answer, took)
    with socket.create_connection(("127.0.0.1", proc.port)) as sock:  # nothing at all
        answer, took = read_until_closed(sock, 10)
    assert answer == b"" and took < 5, (answer, took)


async def test_one_key_holds_at_most_its_share_of_the_slots(
        gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("slow") as fake:
        fake.set_default(Fault(delay=1.5))
        proc = gwd(config(tmp_path, fake.base_url, global_max_parallel_requests=4))
        greedy, other = new_key(proc), new_key(proc)

        async def call(session: aiohttp.ClientSession, key: str
                       ) -> tuple[int, str, str | None]:
            async with session.post(proc.direct_url + "/v1/chat/completions", data=BODY,
                                    headers={"Authorization": f"Bearer {key}",
                                             "Content-Type": "application/json"}) as r:
                data = await r.json()
                return r.status, (data.get("error") or {}).get("code", ""), \
                    r.headers.get("Retry-After")

        async with aiohttp.ClientSession() as session:
            held = [asyncio.create_task(call(session, greedy)) for _ in range(2)]
            while len(fake.requests) < 2:
                await asyncio.sleep(0.01)
            refused = await call(session, greedy)      # a third: past the key's half
            others = await asyncio.gather(*(call(session, other) for _ in range(2)))
            served = await asyncio.gather(*held)
    assert refused == (429, "parallel_request_limit", "1")
    assert [s[0] for s in served + others] == [200] * 4
    assert len(fake.requests) == 4                      # the refused call never went upstream


def test_clients_hanging_up_mid_body_log_no_traceback(gwd: GwdFactory, tmp_path: Path) -> None:
    proc = gwd(config(tmp_path), extra_args=["--log-level", "debug"])
    key = new_key(proc)
    before = len(proc.log_text().splitlines())
    for _ in range(10):
        with socket.create_connection(("127.0.0.1", proc.port)) as sock:
            sock.sendall(head(key, 1000) + b'{"model": "m", ')
            time.sleep(0.05)
    time.sleep(0.5)
    assert httpx.get(proc.direct_url + "/health/liveliness").status_code == 200
    log = proc.log_text()
    assert "Traceback" not in log and "ConnectionResetError" not in log, log[-3000:]
    new = log.splitlines()[before:]
    assert len([line for line in new if "client hung up" in line]) == 10, new
    assert len(new) < 30, new   # one debug line each, a few others (the health check's)


def test_log_volume_is_bounded_under_a_flood_of_bad_requests(
        gwd: GwdFactory, tmp_path: Path) -> None:
    proc = gwd(config(tmp_path), extra_args=["--log-level", "debug"])
    before = len(proc.log_text().splitlines())
    started = time.monotonic()
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", proc.port)) as sock:
            sock.sendall(b"GARBAGE \x01\r\n\r\n")
            read_until_closed(sock, 5)
    windows = int((time.monotonic() - started) // 10) + 1   # LogBudget: 20 lines per 10 s
    lines = proc.log_text().splitlines()[before:]
    server = [line for line in lines if "aiohttp.server" in line]
    assert 1 <= len(server) <= 20 * windows, (windows, server[:40])
    assert len(server) < 300 / 2 and len(lines) < 20 * windows + 20


def _gwd(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    path = write_config(tmp_path / "port.yaml", config(tmp_path))
    return subprocess.Popen([sys.executable, "-m", "gwd", "--config", str(path),
                             "--host", "127.0.0.1", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_a_port_outside_1_to_65535_is_a_usage_error(tmp_path: Path) -> None:
    for port in ("99999", "-1", "65536", "http"):
        proc = _gwd(tmp_path, "--port", port)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 2, (port, out)
        assert "--port" in out and "1 to 65535" in out, out


def test_port_0_picks_a_free_port_and_logs_it(tmp_path: Path) -> None:
    proc = _gwd(tmp_path, "--port", "0")
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+) ", line)
            if found:
                break
        else:
            raise AssertionError("no serving line")
        port = int(found.group(1))
        assert port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/health/liveliness").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
