"""gw side by side: the upstream direct, the floor, gwd (SQLite, PostgreSQL), LiteLLM.

    python bench/run.py [--quick] [--duration S] [--rounds N] [--skip-litellm]
                        [--litellm PATH] [--pg-url URL | --skip-pg] [--no-pin] [--out PATH]

Starts a shared fake upstream and every target as its own process, then runs
the scenarios in rounds, alternating targets (rotating the order each round) so
that machine noise hits all alike. Per target and round: wrk saturating (c=32,
no upstream delay; CPU read from /proc around it), wrk at c=1 with the upstream
delayed, and sequential streamed calls. Then peak RSS, spend rows (gwd), and
restarts for start-up times. Prints the Markdown report and writes it with the
raw JSON to bench/results/. Every process started is stopped, and the scratch
PostgreSQL database dropped, however the run ends.

Pinning (default, when there are ≥ 2 CPUs): every target runs on CPU 0, alone
while it is measured; wrk, the shared upstream and this script run on CPU 1.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import load
import report
import targets as tg
from procs import Proc, Procs, cpu_busy_ms, free_port
from targets import Target

RESULTS = tg.BENCH / "results"
DEFAULT_LITELLM = "/work/litellm-venv/bin/litellm"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 round of 3 s runs (about a minute)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 5; quick 3)")
    p.add_argument("--rounds", type=int, help="rounds over all targets (default 5; quick 1)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--delay-ms", type=float, default=50.0, help="upstream delay for c=1")
    p.add_argument("--chunks", type=int, default=8, help="content chunks per stream")
    p.add_argument("--chunk-gap-ms", type=float, default=1.0)
    p.add_argument("--stream-requests", type=int, help="streams per target and round")
    p.add_argument("--restarts", type=int, help="extra starts per target for start-up times")
    p.add_argument("--skip-litellm", action="store_true")
    p.add_argument("--litellm", default=os.environ.get("GW_BENCH_LITELLM", DEFAULT_LITELLM),
                   help="the litellm executable (env GW_BENCH_LITELLM)")
    p.add_argument("--pg-url", default=os.environ.get(
        "GW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin connection; a scratch database is created and dropped")
    p.add_argument("--skip-pg", action="store_true")
    p.add_argument("--gwd-tree", type=Path, default=tg.REPO,
                   help="run gwd from this checkout (e.g. a git worktree), default this repo")
    p.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    p.add_argument("--out", type=Path, help="JSON path (the .md goes next to it)")
    a = p.parse_args()
    a.duration = a.duration or (3.0 if a.quick else 5.0)
    a.rounds = a.rounds or (1 if a.quick else 5)
    a.stream_requests = a.stream_requests or (15 if a.quick else 30)
    a.restarts = a.restarts if a.restarts is not None else (0 if a.quick else 2)
    return a


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs = Procs()
        self.work = Path(tempfile.mkdtemp(prefix="gwbench-"))
        self.stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.logs = RESULTS / "logs" / self.stamp
        pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
        self.target_cpu: int | None = 0 if pin else None  # every target
        self.load_cpu: int | None = 1 if pin else None    # wrk, the shared upstream, this script
        self.pg_db: str | None = None
        self.notes: list[str] = []
        self.targets: list[Target] = []
        self.loadavg = os.getloadavg()[0]

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        a, cpu = self.args, self.target_cpu
        if self.load_cpu is not None:
            os.sched_setaffinity(0, {self.load_cpu})
        # as `pip install` does: an installed gwd starts from bytecode, whatever
        # PYTHONDONTWRITEBYTECODE says in this shell (LiteLLM's venv is compiled already)
        compileall.compile_dir(str(a.gwd_tree / "gwd"), quiet=1)
        upstream = self._start_upstream().port
        self.targets = [tg.direct(free_port(), a.delay_ms, self.logs, cpu, self._shape())]
        self.targets.append(tg.floor(free_port(), upstream, a.delay_ms, self.logs, cpu))
        self.targets.append(tg.gwd("gwd-sqlite", free_port(), upstream, a.delay_ms,
                                   f"sqlite:///{self.work / 'gw.sqlite3'}", self.work,
                                   self.logs, cpu, a.gwd_tree))
        if a.skip_pg:
            self.notes.append("gwd-pg skipped (--skip-pg).")
        else:
            try:
                self.pg_db, url = tg.create_database(a.pg_url)
                self.targets.append(tg.gwd("gwd-pg", free_port(), upstream, a.delay_ms, url,
                                           self.work, self.logs, cpu, a.gwd_tree))
            except Exception as exc:  # no server, no rights: measure the rest
                self.notes.append(f"gwd-pg skipped: cannot create a database ({exc}).")
        if a.skip_litellm:
            self.notes.append("LiteLLM skipped (--skip-litellm).")
        elif not os.access(a.litellm, os.X_OK):
            self.notes.append(f"LiteLLM skipped: {a.litellm} not found (see bench/README.md).")
        else:
            self.targets.append(tg.litellm(a.litellm, free_port(), upstream, a.delay_ms,
                                           self.work, self.logs, cpu, dict(os.environ)))
        for t in self.targets:
            print(f"starting {t.name} …", flush=True)
            self.procs.start(t.proc, timeout=180)
            if t.name.startswith("gwd"):
                t.key = tg.mint_key(t)
            self.sanity(t)

    def _shape(self) -> list[str]:
        """The upstream's stream shape options (the same for both upstream processes)."""
        return ["--chunks", str(self.args.chunks), "--chunk-gap-ms", str(self.args.chunk_gap_ms)]

    def _start_upstream(self) -> Proc:
        port = free_port()
        proc = Proc("upstream", [sys.executable, str(tg.BENCH / "upstream.py"), "--port",
                                 str(port), *self._shape()],
                    self.logs / "upstream.log", port=port, cpu=self.load_cpu)
        return self.procs.start(proc, timeout=20)

    def sanity(self, t: Target) -> None:
        """One plain call must come back as a chat.completion with usage."""
        status, headers, body = tg.post_json(t.proc.port, t.path(False),
                                             json.loads(load.chat_body(t.model(False))), t.key)
        if status != 200 or not body.get("choices") or not body.get("usage"):
            raise RuntimeError(f"{t.name}: sanity call answered {status}: {body}")
        if t.name.startswith("gwd") and "x-gw-response-cost" not in headers:
            raise RuntimeError(f"{t.name}: no x-gw-response-cost header: spend not recorded?")

    # ------------------------------------------------------------------ measuring
    def wrk(self, t: Target, slow: bool, duration: float) -> dict[str, Any]:
        a = self.args
        conns, threads = (1, 1) if slow else (a.connections, a.threads)
        return load.run_wrk(t.url(slow), t.model(slow), t.key, connections=conns,
                            threads=threads, duration=duration, cpu=self.load_cpu)

    def saturate(self, t: Target) -> dict[str, Any]:
        cpu0, busy0 = t.proc.cpu_ms(), cpu_busy_ms(self.target_cpu)
        sat = self.wrk(t, slow=False, duration=self.args.duration)
        used, busy = t.proc.cpu_ms() - cpu0, cpu_busy_ms(self.target_cpu) - busy0
        sat["cpu_ms_per_req"] = used / max(sat["requests"], 1)
        # how much of its CPU's busy time the target itself used; the rest is the kernel's
        # network work and, on a shared machine, other people's processes
        sat["cpu_share"] = used / busy if busy else None
        return sat

    def one_round(self, t: Target, sat: dict[str, Any]) -> dict[str, Any]:
        c1 = self.wrk(t, slow=True, duration=self.args.duration)
        stream = load.stream_latency(t.proc.port, t.path(True), t.model(True), t.key,
                                     self.args.stream_requests)
        print(f"  {t.name:11} {sat['rps']:9,.0f} rps  p99 {sat['p99_us'] / 1000:7.2f} ms  "
              f"c=1 p50 {c1['p50_us'] / 1000:7.3f} ms  TTFT {stream['ttft_ms']:7.3f} ms  "
              f"cpu {sat['cpu_ms_per_req']:.3f} ms/req ({100 * (sat['cpu_share'] or 0):.0f}% of "
              f"its CPU)  errors {sat['errors'] + c1['errors']}",
              flush=True)
        return {"sat": sat, "c1": c1, "stream": stream}

    def measure(self) -> dict[str, Any]:
        a = self.args
        results: dict[str, Any] = {t.name: {"rounds": []} for t in self.targets}
        for t in self.targets:  # warm-up: pools, caches, first-call paths
            results[t.name]["warmup"] = self.wrk(t, slow=False,
                                                 duration=2.0 if a.quick else a.duration)
        for r in range(a.rounds):
            print(f"round {r + 1}/{a.rounds}", flush=True)
            k = r % len(self.targets)
            order = self.targets[k:] + self.targets[:k]
            # scenario by scenario: the targets' saturating runs follow each other within
            # seconds, so a change in the machine's speed hits the pairs being compared alike
            sats = {t.name: self.saturate(t) for t in order}
            for t in order:
                results[t.name]["rounds"].append(self.one_round(t, sats[t.name]))
        for t in self.targets:
            res = results[t.name]
            res["rss_mb"] = t.proc.peak_rss_mb()
            res["startup"] = [{"answer_s": t.proc.answered_at, "ready_s": t.proc.ready_at}]
            if t.name.startswith("gwd") and t.key:
                info = tg.get_json(t.proc.port, f"/key/info?key={t.key}", t.key)["info"]
                # + 1 sanity call, + 1 warm-up stream per round; wrk counts only completed
                # calls, gwd also bills those cut off when wrk stops
                answered = 1 + res["warmup"]["requests"] + sum(
                    x["sat"]["requests"] + x["c1"]["requests"] + x["stream"]["requests"] + 1
                    for x in res["rounds"])
                res["spend"] = {"ledger_requests": info["requests"], "spend_usd": info["spend"],
                                "answered_calls": answered}
        return results

    def restarts(self, results: dict[str, Any]) -> None:
        """Start each target again ``--restarts`` times, alone: every other target is
        stopped first, so none of them (LiteLLM's background tasks, say) shares its core."""
        for t in self.targets:
            t.proc.stop()
        for t in self.targets:
            for _ in range(self.args.restarts):
                t.proc.start(timeout=180)
                results[t.name]["startup"].append({"answer_s": t.proc.answered_at,
                                                   "ready_s": t.proc.ready_at})
                t.proc.stop()

    # ------------------------------------------------------------------ tear-down
    def cleanup(self) -> None:
        self.procs.stop_all()
        if self.pg_db is not None:
            try:
                tg.drop_database(self.args.pg_url, self.pg_db)
                self.pg_db = None
            except Exception as exc:
                print(f"could not drop database {self.pg_db}: {exc}", file=sys.stderr)
        shutil.rmtree(self.work, ignore_errors=True)

    def meta(self, started: str) -> dict[str, Any]:
        a = self.args
        pinning = ("targets pinned to CPU 0; wrk, shared upstream and client on CPU 1"
                   if self.target_cpu is not None else "no pinning")
        return {"started": started, "machine": f"{platform.node()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}", "rounds": a.rounds,
                "duration_s": a.duration, "delay_ms": a.delay_ms, "pinning": pinning,
                "saturating": f"-t{a.threads} -c{a.connections} -d{a.duration:g}s",
                "stream_requests": a.stream_requests, "chunks": a.chunks,
                "chunk_gap_ms": a.chunk_gap_ms, "logs": str(self.logs),
                "loadavg_start": self.loadavg, "loadavg_end": os.getloadavg()[0],
                "gwd_tree": str(a.gwd_tree), "gwd_commit": git_describe(a.gwd_tree)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def git_describe(tree: Path) -> str | None:
    """The checkout's commit, with "+dirty" when gwd/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "gwd"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job ignores it
        signal.signal(sig, _interrupt)
    bench = Bench(args)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    try:
        bench.setup()
        results = bench.measure()
        bench.restarts(results)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        sys.exit(130)
    finally:
        bench.cleanup()
    raw: dict[str, Any] = {"meta": bench.meta(started), "targets": results,
                           "notes": bench.notes}
    raw["meta"]["wall_s"] = round(time.perf_counter() - t0, 1)
    summary = report.summarize(raw)
    raw["summary"], raw["goals"] = summary, report.goals(summary)
    text = report.markdown(raw, summary)
    print("\n" + text)
    out = args.out or RESULTS / f"bench-{bench.stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str))
    out.with_suffix(".md").write_text(text)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
