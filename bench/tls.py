"""The TLS path measured beside plain HTTP: what HTTPS upstreams cost gwd, and what
keep-alive saves (one handshake per connection instead of one per call).

Two levels, in one run, with a CA and certificates made for the run (``trustme``, from
the test extra) and bench/upstream.py serving the same answers over HTTP and HTTPS:

* **client** — ``gwd.http1.Pool`` alone, in this process on uvloop: latency of
  sequential calls (c=1) and throughput with ``--concurrency`` callers, for plain
  HTTP and TLS, each kept alive and with a fresh connection per call (the handshake
  every time); and, at c=1, TLS through a CONNECT proxy on loopback
  (tests/support/connectproxy.py, a small Python proxy: it adds its own cost).
* **gwd** — ``python -m gwd`` with two model groups, one on the http port and one on
  the https port (``ssl_verify`` = the run's CA), loaded with ``wrk`` (saturation,
  ``-c32``) and timed at c=1; rounds alternate between the two.

    python bench/tls.py [--rounds 3] [--duration 5] [--calls 2000]

Prints Markdown; absolute figures depend on the machine, the ratios less so.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import load
import targets as tg
from procs import Proc, Procs, free_port

sys.path.insert(0, str(tg.REPO))

from gwd.egress import Egress, ProxyEnv, TLSContexts  # noqa: E402
from gwd.http1 import Pool  # noqa: E402
from tests.support.connectproxy import ConnectProxy  # noqa: E402

PATH = "/v1/chat/completions"
TIMEOUTS = {"connect_timeout": 10, "first_byte_timeout": 10, "idle_timeout": 10,
            "total_timeout": 30}


def certificates(work: Path) -> tuple[str, str, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = (work / "ca.pem", work / "server.pem", work / "server.key")
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return str(paths[0]), str(paths[1]), str(paths[2])


# ---------------------------------------------------------------------------- client level
async def _call(pool: Pool, url: str, body: bytes) -> None:
    resp = await pool.request(url, {"Content-Type": "application/json"}, body, **TIMEOUTS)
    await resp.read(1 << 20)
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}")


async def _latency(url: str, egress: Egress | None, calls: int, fresh: bool) -> list[float]:
    body = load.chat_body(tg.FAST)
    pool = Pool(egress)
    times: list[float] = []
    try:
        for i in range(calls + 20):
            if fresh:
                await pool.close()
                pool = Pool(egress)
            t0 = time.perf_counter()
            await _call(pool, url, body)
            if i >= 20:  # warm-up left out
                times.append((time.perf_counter() - t0) * 1e6)
    finally:
        await pool.close()
    return times


async def _throughput(url: str, egress: Egress | None, concurrency: int, duration: float,
                      fresh: bool) -> float:
    body = load.chat_body(tg.FAST)
    shared = Pool(egress)
    done = 0
    stop = time.perf_counter() + duration

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            pool = Pool(egress) if fresh else shared
            await _call(pool, url, body)
            if fresh:
                await pool.close()
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await shared.close()
    return done / elapsed


async def client_level(http_port: int, https_port: int, ca: str, args: argparse.Namespace
                       ) -> list[dict[str, Any]]:
    plain = f"http://127.0.0.1:{http_port}{PATH}"
    tls = f"https://localhost:{https_port}{PATH}"
    contexts = TLSContexts()
    verified = Egress(contexts.get(ca), None)
    rows: list[dict[str, Any]] = []
    modes: list[tuple[str, str, Egress | None, bool]] = [
        ("plain, kept alive", plain, None, False),
        ("TLS, kept alive", tls, verified, False),
        ("plain, new connection per call", plain, None, True),
        ("TLS, new connection per call (handshake each call)", tls, verified, True),
    ]
    for name, url, egress, fresh in modes:
        times = await _latency(url, egress, args.calls, fresh)
        rps = await _throughput(url, egress, args.concurrency, args.duration, fresh)
        rows.append({"mode": name, "p50_us": statistics.median(times),
                     "p90_us": statistics.quantiles(times, n=10)[-1], "rps": rps})
    with ConnectProxy() as proxy:
        via = Egress(contexts.get(ca), ProxyEnv.from_env({"HTTPS_PROXY": proxy.url()}))
        for name, fresh in (("TLS through a CONNECT proxy, tunnel kept alive", False),
                            ("TLS through a CONNECT proxy, new tunnel per call", True)):
            times = await _latency(tls, via, args.calls // 2, fresh)
            rows.append({"mode": name, "p50_us": statistics.median(times),
                         "p90_us": statistics.quantiles(times, n=10)[-1], "rps": None})
    return rows


# ---------------------------------------------------------------------------- gwd level
def gwd_level(procs: Procs, http_port: int, https_port: int, ca: str, work: Path,
              args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    master = "sk-bench-" + secrets.token_hex(16)
    price = {"input_cost_per_token": 0.0000005, "output_cost_per_token": 0.0000015}
    config = tg.write_config(work / "gwd-tls.yaml", {
        "model_list": [
            {"model_name": "plain", "litellm_params": {
                "model": "openai/gpt-3.5-turbo", "api_key": "sk-upstream",
                "api_base": f"http://127.0.0.1:{http_port}/v1", **price}},
            {"model_name": "tls", "litellm_params": {
                "model": "openai/gpt-3.5-turbo", "api_key": "sk-upstream",
                "api_base": f"https://localhost:{https_port}/v1", **price}}],
        "litellm_settings": {"ssl_verify": ca},
        "general_settings": {"master_key": master,
                             "database_url": f"sqlite:///{work / 'gwd-tls.sqlite3'}"}})
    port = free_port()
    gwd = procs.start(Proc("gwd", [sys.executable, "-m", "gwd", "--config", str(config),
                                   "--host", "127.0.0.1", "--port", str(port)],
                           work / "gwd.log", port=port, ready=r"gwd \S+ serving",
                           env={**_env(), "PYTHONPATH": str(tg.REPO)}, cwd=tg.REPO))
    url = f"http://127.0.0.1:{gwd.port}{PATH}"
    out: dict[str, dict[str, list[float]]] = {g: {"rps": [], "p50_us": [], "c1_p50_us": []}
                                              for g in ("plain", "tls")}
    for group in ("plain", "tls"):   # warm both (the TLS one makes its handshakes here)
        load.run_wrk(url, group, master, connections=32, threads=2, duration=1)
    for _ in range(args.rounds):
        for group in ("plain", "tls"):
            res = load.run_wrk(url, group, master, connections=32, threads=2,
                               duration=args.duration)
            if res["errors"]:
                raise RuntimeError(f"{group}: {res['errors']} errors under load")
            out[group]["rps"].append(res["rps"])
            out[group]["p50_us"].append(res["p50_us"])
            one = load.run_wrk(url, group, master, connections=1, threads=1,
                               duration=max(1, round(args.duration / 2)))
            out[group]["c1_p50_us"].append(one["p50_us"])
    return out


def _env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}


# ---------------------------------------------------------------------------- report
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="gwd level: alternating rounds")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    p.add_argument("--calls", type=int, default=2000, help="client level: calls timed at c=1")
    p.add_argument("--concurrency", type=int, default=16, help="client level: callers")
    args = p.parse_args()
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix="gw-bench-tls-") as tmp:
        work = Path(tmp)
        ca, cert, key = certificates(work)
        http_port, https_port = free_port(), free_port()
        procs.start(Proc("upstream", [sys.executable, str(tg.BENCH / "upstream.py"),
                                      "--port", str(http_port), "--tls-port", str(https_port),
                                      "--tls-cert", cert, "--tls-key", key],
                         work / "upstream.log", port=http_port, ready="upstream serving on"))
        try:
            import uvloop
            rows = uvloop.run(client_level(http_port, https_port, ca, args))
            server = gwd_level(procs, http_port, https_port, ca, work, args)
        finally:
            procs.stop_all()
    print("### Client level: gwd.http1.Pool alone (uvloop, one process)\n")
    print(f"| mode | c=1 p50 µs | c=1 p90 µs | c={args.concurrency} calls/s |")
    print("|---|---:|---:|---:|")
    for row in rows:
        rps = f"{row['rps']:,.0f}" if row["rps"] is not None else "—"
        print(f"| {row['mode']} | {row['p50_us']:,.0f} | {row['p90_us']:,.0f} | {rps} |")
    print("\n### gwd: plain vs TLS upstream (median of the rounds)\n")
    print("| upstream | wrk -c32 req/s | -c32 p50 µs | c=1 p50 µs |")
    print("|---|---:|---:|---:|")
    med = {g: {k: statistics.median(v) for k, v in m.items()} for g, m in server.items()}
    for group in ("plain", "tls"):
        m = med[group]
        print(f"| {group} | {m['rps']:,.0f} | {m['p50_us']:,.0f} | {m['c1_p50_us']:,.0f} |")
    print(f"\nTLS/plain through gwd: throughput {med['tls']['rps'] / med['plain']['rps']:.2f}x, "
          f"c=1 latency {med['tls']['c1_p50_us'] / med['plain']['c1_p50_us']:.2f}x")


if __name__ == "__main__":
    main()
