"""Profile gwd's hot path under saturating load with py-spy, and summarise the samples.

Starts the fake upstream and gwd on SQLite (pinned as in run.py), mints a
virtual key, warms up, then runs ``wrk -t2 -c32`` (non-stream chat, virtual key)
while ``py-spy record`` samples gwd. py-spy's raw output (folded stacks) is
summarised here: self time and inclusive time per function and per package
("gwd.middleware", "aiohttp.web_protocol", "asyncio", ...), as a share of the
samples in which a gwd thread held the GIL (``py-spy --gil``: idle threads and
the event loop's waits are left out; time in C code called from Python, e.g.
uvloop's, counts for the calling Python function). ``--svg`` also writes a flame graph.

    pip install py-spy
    python bench/hotpath.py [--duration 15] [--svg /tmp/gwd.svg] [--gwd-tree PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import load
import targets as tg
from procs import Proc, Procs, free_port

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def package(path: str) -> str:
    """'…/site-packages/aiohttp/web_protocol.py' -> 'aiohttp.web_protocol'."""
    for marker in ("site-packages/", "/lib/python3", "/work/main/", str(tg.REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    path = re.sub(r"^\.?\d+/", "", path).removesuffix(".py").removesuffix("/__init__")
    return path.replace("/", ".") or "?"


def summarise(folded: str, top: int) -> str:
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if frames[0].startswith("thread "):
            threads[frames.pop(0).partition(": ")[2] or "?"] += count
        names = []
        for frame in frames:
            m = FRAME.match(frame)
            names.append(f"{package(m['file'])}:{m['func']}" if m else frame)
        if names:
            self_fn[names[-1]] += count
            self_pkg[names[-1].split(":")[0]] += count
        for name in set(names):
            incl_fn[name] += count
    out = [f"{total} samples while a gwd thread held the GIL, by thread: "
           + ", ".join(f"{k} {100 * n / total:.1f}%" for k, n in threads.most_common()),
           "", "self time by module:"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in self_pkg.most_common(top)]
    out += ["", "self time by function:"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in self_fn.most_common(top)]
    out += ["", "inclusive time, gwd's own functions:"]
    own = [(k, n) for k, n in incl_fn.most_common() if k.startswith("gwd.")][:top]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in own]
    out += ["", "inclusive time, everything:"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in incl_fn.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rate", type=int, default=100,
                   help="py-spy samples per second (250 slows gwd by ~25%%)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--svg", type=Path, help="also write a flame graph here")
    p.add_argument("--raw", type=Path, help="keep py-spy's folded stacks here")
    p.add_argument("--gwd-tree", type=Path, default=tg.REPO)
    p.add_argument("--nonblocking", action="store_true",
                   help="do not pause gwd to sample (less overhead, torn stacks)")
    p.add_argument("--floor", action="store_true", help="profile bench/floor.py instead")
    p.add_argument("--pg-url", help="profile gwd on this PostgreSQL database instead of SQLite")
    args = p.parse_args()
    if shutil.which("py-spy") is None:
        sys.exit("profile: py-spy is not installed (pip install py-spy)")
    pin = len(os.sched_getaffinity(0)) >= 2
    target_cpu, load_cpu = (0, 1) if pin else (None, None)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})
    work = Path(tempfile.mkdtemp(prefix="gwprof-"))
    procs = Procs()
    try:
        port = free_port()
        procs.start(Proc("upstream", [sys.executable, str(tg.BENCH / "upstream.py"),
                                      "--port", str(port)], work / "upstream.log", port=port,
                         cpu=load_cpu))
        if args.floor:
            gwd = tg.floor(free_port(), port, 50, work, target_cpu)
            procs.start(gwd.proc)
        else:
            db = args.pg_url or f"sqlite:///{work / 'gw.sqlite3'}"
            gwd = tg.gwd("gwd", free_port(), port, 50, db, work, work, target_cpu,
                         args.gwd_tree)
            procs.start(gwd.proc)
            gwd.key = tg.mint_key(gwd)
        url, model = gwd.url(False), gwd.model(False)
        cpu0 = gwd.proc.cpu_ms()
        base = load.run_wrk(url, model, gwd.key, connections=32, threads=2, duration=5,
                            cpu=load_cpu)
        per_req_us = 1000 * (gwd.proc.cpu_ms() - cpu0) / max(base["requests"], 1)
        print(f"without py-spy: {base['rps']:,.0f} rps, {per_req_us:.0f} µs CPU per request "
              f"(so 1% of the samples ≈ {per_req_us / 100:.1f} µs per request)", flush=True)
        raw = args.raw or work / "stacks.txt"
        spy = ["py-spy", "record", "--pid", str(gwd.proc.pid), "--rate", str(args.rate),
               "--duration", str(int(args.duration)), "--threads", "--gil",
               *(["--nonblocking"] if args.nonblocking else []), "--format", "raw",
               "-o", str(raw)]
        result: dict[str, object] = {}
        wrk = threading.Thread(target=lambda: result.update(load.run_wrk(
            url, model, gwd.key, connections=32, threads=2, duration=args.duration + 1,
            cpu=load_cpu)))
        wrk.start()
        subprocess.run(spy, check=True, capture_output=True)
        wrk.join()
        print(f"under py-spy: {result.get('rps', 0):,.0f} rps, errors {result.get('errors')}\n")
        print(summarise(raw.read_text(), args.top))
        if args.svg:
            svg = ["py-spy", "record", "--pid", str(gwd.proc.pid), "--rate", str(args.rate),
                   "--duration", "5", "--gil", "--nonblocking", "-o", str(args.svg)]
            wrk = threading.Thread(target=load.run_wrk, args=(url, model, gwd.key),
                                   kwargs={"connections": 32, "threads": 2, "duration": 6,
                                           "cpu": load_cpu})
            wrk.start()
            subprocess.run(svg, check=True, capture_output=True)
            wrk.join()
            print(f"\nflame graph: {args.svg}")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
