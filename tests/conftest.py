"""Shared fixtures: real gwd processes, the PostgreSQL URL, and the secret canary.

Every gwd started through the ``gwd`` fixture sits behind a recording forwarder
(:mod:`tests.support.recorder`) and is stopped at the end of the test. Then the
canary (catalogue B20) reads what it left behind:

- its whole log: no master key, no provider key of its config, no extra secret
  given to the fixture, nor the SHA-256 of any of them; and no virtual key that
  appeared anywhere in its traffic (``sk-`` + 22 characters, sent or received);
- every byte it sent to clients: none of those secrets nor their SHA-256 either,
  and no SHA-256 of any virtual key seen in the traffic. A virtual key itself may
  appear in answers (its /key/generate answer, /key/info echoing the key it was
  given); the master key never.

A secret found fails the test that caused it. The scan costs a few milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gwd import GwdProcess
from tests.support.pg import pg_url_or_skip

PG_ENV = "GW_TEST_PG_URL"
#: a virtual key as gwd mints them: sk- and 22 url-safe characters, not part of a longer word
VIRTUAL_KEY = re.compile(rb"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")


def config_secrets(config: dict[str, Any]) -> list[str]:
    found = []
    general = config.get("general_settings") or {}
    if isinstance(general.get("master_key"), str):
        found.append(general["master_key"])
    for entry in config.get("model_list") or []:
        key = (entry.get("litellm_params") or {}).get("api_key")
        if isinstance(key, str) and not key.startswith("os.environ/"):
            found.append(key)
    return found


def assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret appeared in {where}"
        assert hashlib.sha256(secret.encode()).hexdigest() not in text, \
            f"a secret's hash appeared in {where}"


def sha256_hex(secret: str | bytes) -> str:
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).hexdigest()


def scan_gwd(proc: GwdProcess, secrets: list[str]) -> None:
    """The canary: ``proc``'s log and, when recorded, its answers (module docstring)."""
    where = proc.config_path.name
    log = proc.log_text()
    assert_no_secret(log, secrets, f"the log of {where}")
    if proc.recorder is None:
        return
    answered = proc.recorder.received()
    for secret in secrets:
        assert secret.encode() not in answered, f"a secret appeared in an answer of {where}"
        assert sha256_hex(secret).encode() not in answered, \
            f"a secret's hash appeared in an answer of {where}"
    seen = set(VIRTUAL_KEY.findall(proc.recorder.sent() + answered))
    for key in seen:
        assert sha256_hex(key).encode() not in answered, \
            f"a virtual key's hash appeared in an answer of {where}"
        assert key.decode() not in log, f"a virtual key appeared in the log of {where}"


GwdFactory = Callable[..., GwdProcess]


@pytest.fixture
def gwd(tmp_path: Path) -> Iterator[GwdFactory]:
    """Start real gwd processes: ``gwd(config_dict, **GwdProcess kwargs)``."""
    started: list[GwdProcess] = []

    def start(config: dict[str, Any], *, wait: bool = True, secrets: list[str] | None = None,
              **kwargs: Any) -> GwdProcess:
        name = kwargs.pop("name", f"gwd{len(started)}")
        kwargs.setdefault("record", True)
        proc = GwdProcess(config, tmp_path, name=name, **kwargs)
        proc.canaries = config_secrets(config) + (secrets or [])  # type: ignore[attr-defined]
        started.append(proc)
        return proc.start(wait=wait)

    try:
        yield start
    finally:
        for proc in started:
            proc.close()
    for proc in started:
        scan_gwd(proc, proc.canaries)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_url() -> str:
    return pg_url_or_skip()


def pytest_report_header() -> list[str]:
    url = os.environ.get(PG_ENV)
    return [f"postgresql: {'from ' + PG_ENV if url else 'not configured (' + PG_ENV + ')'}"]
