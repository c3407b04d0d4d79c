"""Load generators: ``wrk`` for throughput and latency, a tiny client for streams.

:func:`run_wrk` writes a Lua script that POSTs one chat completion with the
target's Authorization header, and whose ``done()`` prints the run's figures as
one JSON line (requests, errors, latency percentiles in µs), so nothing is
scraped from wrk's human-readable output.

:func:`stream_latency` sends streamed chat completions one at a time over one
keep-alive connection (``http.client``, no event loop in the way) and times
each: first byte (status line and headers), first token (the first SSE event
with non-empty content) and last byte (``data: [DONE]``).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"non_2xx":%d,"mean_us":%.1f,"p50_us":%d,' ..
    '"p90_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def chat_body(model: str, stream: bool = False) -> bytes:
    body: dict[str, Any] = {"model": model, "max_tokens": 16,
                            "messages": [{"role": "user", "content": "Hello, how are you?"}]}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


def run_wrk(url: str, model: str, key: str | None, *, connections: int, threads: int,
            duration: float, cpu: int | None = None) -> dict[str, Any]:
    """One wrk run; returns its JSON figures plus ``rps`` and ``errors``."""
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script = LUA.format(body=chat_body(model).decode(), auth=auth)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
            "-s", f.name, url]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True,
                             timeout=duration + 30).stdout
    finally:
        os.unlink(f.name)
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    res: dict[str, Any] = json.loads(line[8:])
    res["errors"] = sum(res[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "timeouts", "non_2xx"))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


@dataclass
class StreamTimes:
    ttfb_ms: float
    ttft_ms: float
    total_ms: float


def _one_stream(conn: http.client.HTTPConnection, path: str, body: bytes,
                headers: dict[str, str]) -> StreamTimes:
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    ttfb = time.perf_counter() - t0
    if resp.status != 200:
        raise RuntimeError(f"stream answered HTTP {resp.status}: {resp.read()[:300]!r}")
    ttft = done = None
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        if line.startswith(b"data: [DONE]"):
            done = time.perf_counter() - t0
            continue
        if ttft is None:
            choices = json.loads(line[6:]).get("choices") or [{}]
            if (choices[0].get("delta") or {}).get("content"):
                ttft = time.perf_counter() - t0
    if ttft is None or done is None:
        raise RuntimeError("stream ended without a token or without [DONE]")
    return StreamTimes(ttfb * 1000, ttft * 1000, done * 1000)


def stream_latency(port: int, path: str, model: str, key: str | None,
                   requests: int) -> dict[str, float]:
    """Median first-byte / first-token / last-byte times of ``requests`` streams (c=1)."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = chat_body(model, stream=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        _one_stream(conn, path, body, headers)  # warm the connection
        times = [_one_stream(conn, path, body, headers) for _ in range(requests)]
    finally:
        conn.close()
    return {"ttfb_ms": statistics.median(t.ttfb_ms for t in times),
            "ttft_ms": statistics.median(t.ttft_ms for t in times),
            "total_ms": statistics.median(t.total_ms for t in times),
            "requests": float(requests)}
