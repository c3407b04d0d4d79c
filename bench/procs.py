"""The processes the bench starts: spawn (optionally pinned), watch, measure, stop.

Each :class:`Proc` runs in its own session (process group) so that stopping it
stops its children too, and its stdout+stderr go to a log file read by a thread
that timestamps the first line matching the process's *ready* pattern (gwd's
"serving ..." line, uvicorn's "startup complete"). :class:`Procs` remembers every
process started and stops them all — also on Ctrl-C, SIGTERM or an exception.

CPU and memory come from ``/proc``: ``utime + stime`` (clock ticks) and ``VmHWM``
(peak resident set), summed over the process and its descendants.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """A process exited or never answered; the message ends with its log's tail."""


def http_get(port: int, path: str, timeout: float = 1.0) -> int:
    """Status of ``GET path`` on 127.0.0.1:port (raises OSError when nothing listens)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Proc:
    def __init__(self, name: str, argv: list[str], log: Path, *, port: int,
                 health: str = "/health/liveliness", ready: str | None = None,
                 cpu: int | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name, self.argv, self.log_path, self.port = name, argv, log, port
        self.health = health
        self._ready_re = re.compile(ready) if ready else None
        self.cpu = cpu
        self.env, self.cwd = env, cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0
        self.ready_at: float | None = None      # the ready line, seconds after spawn
        self.answered_at: float | None = None   # first successful health answer

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 60.0) -> None:
        """Spawn and wait for the first 2xx on the health path."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.ready_at = self.answered_at = None
        self.spawned = time.perf_counter()
        self.popen = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, env=self.env,
                                      cwd=self.cwd)
        if self.cpu is not None:  # before the child has had time to start any thread
            os.sched_setaffinity(self.popen.pid, {self.cpu})
        threading.Thread(target=self._pump, args=(self.popen,), daemon=True).start()
        deadline = self.spawned + timeout
        while time.perf_counter() < deadline:
            if self.popen.poll() is not None:
                raise StartError(f"{self.name} exited with {self.popen.returncode}\n"
                                 + self.tail())
            try:
                if 200 <= http_get(self.port, self.health, timeout=2.0) < 300:
                    self.answered_at = time.perf_counter() - self.spawned
                    return
            except OSError:
                pass
            time.sleep(0.002)
        raise StartError(f"{self.name} did not answer {self.health} within {timeout:.0f} s\n"
                         + self.tail())

    def _pump(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        with open(self.log_path, "ab") as log:
            for line in popen.stdout:
                if (self.ready_at is None and self._ready_re is not None
                        and self._ready_re.search(line.decode("utf-8", "replace"))):
                    self.ready_at = time.perf_counter() - self.spawned
                log.write(line)
                log.flush()

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text("utf-8", "replace").splitlines()
            return "\n".join(f"  | {line}" for line in text[-lines:])
        return ""

    def pids(self) -> list[int]:
        """This process and all its descendants."""
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in task.read_text().split()]
        return out

    def cpu_ms(self) -> float:
        """CPU time (user + system) used so far by the process tree, in ms."""
        ticks = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks * TICK_MS

    def peak_rss_mb(self) -> float:
        """Peak resident set (VmHWM) of the process tree, in MiB."""
        kib = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        kib += int(line.split()[1])
        return kib / 1024

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


class Procs:
    """Every process the bench started; ``stop_all`` is safe to call more than once."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def start(self, proc: Proc, timeout: float = 60.0) -> Proc:
        self.started.append(proc)
        proc.start(timeout)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            with contextlib.suppress(Exception):
                proc.stop()
        self.started.clear()


def cpu_busy_ms(cpu: int | None) -> float:
    """Busy time (everything but idle and iowait) of one CPU, or of all, from /proc/stat."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == name:
            ticks = [int(x) for x in fields[1:9]]
            return (sum(ticks) - ticks[3] - ticks[4]) * TICK_MS
    raise ValueError(f"no {name} in /proc/stat")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
