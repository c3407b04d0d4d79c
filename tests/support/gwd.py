"""Run the real ``gwd`` as a separate process for end-to-end tests.

``GwdProcess(config_dict, tmp_path).start()`` writes the config as YAML, starts
``python -m gwd`` on a free loopback port, waits until ``/health/liveliness``
answers, and keeps everything gwd logs in ``.log_text()`` (so tests can scan
logs for secrets). ``stop()`` sends SIGTERM and returns the exit status.

With ``record=True`` (what the ``gwd`` fixture uses) clients reach gwd through a
:class:`~tests.support.recorder.Recorder`: ``base_url`` is the recorder's address
and ``recorder`` holds every byte gwd answered; ``port`` and ``direct_url`` stay
gwd's own (for tests about the listening socket itself). The recorder outlives
``stop()``/``start()`` (a restarted gwd keeps its address); ``close()`` ends it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.recorder import Recorder

MASTER_KEY = "sk-test-master-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class GwdProcess:
    def __init__(self, config: dict[str, Any], tmp_path: Path, *, name: str = "gwd",
                 env: dict[str, str] | None = None, extra_args: list[str] | None = None,
                 port: int | None = None, config_path: Path | None = None,
                 record: bool = False) -> None:
        self.config = config
        self.dir = tmp_path
        self.config_path = config_path or tmp_path / f"{name}.yaml"
        self.log_path = tmp_path / f"{name}.log"
        self.port = port or free_port()
        self.env = env or {}
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.record = record
        self.recorder: Recorder | None = None

    @property
    def base_url(self) -> str:
        return self.recorder.url if self.recorder is not None else self.direct_url

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_key(self) -> str | None:
        general = self.config.get("general_settings") or {}
        key = general.get("master_key")
        return key if isinstance(key, str) else None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gwd", "--config", str(self.config_path),
                "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]

    def start(self, wait: bool = True, timeout: float = 20.0) -> GwdProcess:
        write_config(self.config_path, self.config)
        while self.record and self.recorder is None:
            self.recorder = Recorder(self.port).start()
            if self.recorder.port == self.port:  # the OS reused the port free_port() freed
                self.recorder.stop()
                self.recorder = None
        # the machine's proxy settings are not the test's: gwd honours them (gwd/egress.py)
        inherited = {k: v for k, v in os.environ.items()
                     if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
        env = {**inherited, "PYTHONPATH": str(REPO), **self.env}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gwd exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                r = httpx.get(f"{self.direct_url}/health/liveliness", timeout=1.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gwd did not become ready:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def close(self) -> None:
        """Stop gwd and the recorder in front of it."""
        self.stop()
        if self.recorder is not None:
            self.recorder.stop()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = key or self.master_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def __enter__(self) -> GwdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def until(check: Callable[[], bool], limit: float) -> float:
    """Seconds until ``check()`` holds (fails past ``limit``), polling every 20 ms."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, "not within the limit"
        time.sleep(0.02)
    return time.monotonic() - started
