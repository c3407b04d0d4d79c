"""Shared fixtures: real gwd processes, the PostgreSQL URL, and the secret canary.

Every gwd started through the ``gwd`` fixture is stopped at the end of the test,
and its whole log is scanned for the master key and every provider key of its
config (and their SHA-256): a secret in a log line fails the test that caused it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.gwd import GwdProcess
from tests.support.pg import pg_url_or_skip

PG_ENV = "GW_TEST_PG_URL"


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


GwdFactory = Callable[..., GwdProcess]


@pytest.fixture
def gwd(tmp_path: Path) -> Iterator[GwdFactory]:
    """Start real gwd processes: ``gwd(config_dict, **GwdProcess kwargs)``."""
    started: list[GwdProcess] = []

    def start(config: dict[str, Any], *, wait: bool = True, secrets: list[str] | None = None,
              **kwargs: Any) -> GwdProcess:
        name = kwargs.pop("name", f"gwd{len(started)}")
        proc = GwdProcess(config, tmp_path, name=name, **kwargs)
        proc.canaries = config_secrets(config) + (secrets or [])  # type: ignore[attr-defined]
        started.append(proc)
        return proc.start(wait=wait)

    yield start
    for proc in started:
        proc.stop()
        assert_no_secret(proc.log_text(), proc.canaries,  # type: ignore[attr-defined]
                         f"the log of {proc.config_path.name}")


@pytest.fixture(scope="session")
def pg_url() -> str:
    return pg_url_or_skip()


def pytest_report_header() -> list[str]:
    url = os.environ.get(PG_ENV)
    return [f"postgresql: {'from ' + PG_ENV if url else 'not configured (' + PG_ENV + ')'}"]
