"""``gwd --workers N``: N worker processes sharing one port (SO_REUSEPORT), one supervisor.

The supervisor starts each worker as ``python -m gwd ... --worker`` (a fresh
interpreter, not a fork of a process with threads), forwards SIGTERM/SIGINT
(drain and stop) and SIGHUP (reload) to every worker, and restarts a worker
that dies unexpectedly (at most once per second each). It exits with 0 when
every worker stopped cleanly, else 1. The kernel spreads new connections over
the workers. The workers share a private directory through which any one of them
answers ``/metrics`` for all (:mod:`gwd.metrics_workers`).

Each worker is a full gwd with its own caches and spend buffer — a replica on
the same machine. They share the database: PostgreSQL as usual, and SQLite
safely too (one writer at a time through BEGIN IMMEDIATE, budgets reserved in
the database, key changes noticed by polling the store).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from .metrics_workers import DIR_ENV, INDEX_ENV

log = logging.getLogger("gwd")

RESTART_DELAY = 1.0
POLL = 0.2


def worker_command(argv: Sequence[str]) -> list[str]:
    """The worker's command line: this gwd's arguments without ``--workers``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers="):
            continue
        out.append(arg)
    return [sys.executable, "-m", "gwd", *out, "--worker"]


class Supervisor:
    def __init__(self, command: list[str], count: int) -> None:
        self.command = command
        self.count = count
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self.started_at = [0.0] * count
        self.stopping = False
        self.metrics_dir = tempfile.mkdtemp(prefix="gwd-metrics-")  # one /metrics for all

    def _spawn(self, index: int) -> None:
        env = {**os.environ, DIR_ENV: self.metrics_dir, INDEX_ENV: str(index)}
        self.procs[index] = subprocess.Popen(self.command, env=env)
        self.started_at[index] = time.monotonic()

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> int:
        try:
            return self._run()
        finally:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._forward)
        for index in range(self.count):
            self._spawn(index)
        log.info("gwd supervisor: %d workers started", self.count)
        codes: dict[int, int] = {}
        while True:
            for index, proc in enumerate(self.procs):
                if proc is None or index in codes:
                    continue
                code = proc.poll()
                if code is None:
                    continue
                if self.stopping:
                    codes[index] = code
                elif code == 1 and time.monotonic() - self.started_at[index] < RESTART_DELAY:
                    # died at start (bad config, port, database): stop everything
                    log.error("gwd worker %d could not start; stopping", index)
                    self._forward(signal.SIGTERM, None)
                    codes[index] = code
                else:
                    log.error("gwd worker %d exited with %s; restarting it", index, code)
                    self._spawn(index)
            if self.stopping and all(p is None or p.poll() is not None for p in self.procs):
                for index, proc in enumerate(self.procs):
                    if proc is not None:
                        codes.setdefault(index, proc.returncode)
                return 0 if all(c == 0 for c in codes.values()) else 1
            time.sleep(POLL)
