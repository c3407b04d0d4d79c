"""Starting and stopping gwd: flags, bad configs, binding rules, weak master keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gwd import __version__
from tests.conftest import GwdFactory
from tests.support.gwd import REPO, free_port, write_config

MOCK: dict[str, Any] = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}]}


def run_gwd(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gwd", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_version_and_help() -> None:
    out = run_gwd("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"gwd {__version__}"
    helped = run_gwd("--help")
    assert helped.returncode == 0
    for flag in ("--config", "--host", "--port", "--log-level", "--allow-weak-master-key"):
        assert flag in helped.stdout


def test_missing_config_flag_is_a_usage_error() -> None:
    out = run_gwd()
    assert out.returncode == 2 and "--config" in out.stderr


@pytest.mark.parametrize("text, fragment", [
    ("model_list: [\n", "YAML error"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: nope/x}\n", "unknown provider"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4, "
     "api_key: os.environ/GW_TEST_SURELY_UNSET}\n", "GW_TEST_SURELY_UNSET is not set"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4, rpm: many}\n",
     "rpm: must be a number"),
])
def test_bad_config_exits_nonzero_with_one_line(tmp_path: Path, text: str,
                                                fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = run_gwd("--config", str(path), "--port", str(free_port()))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(path) in lines[0] and fragment in lines[0]
    assert "Traceback" not in out.stderr


def test_no_master_key_binds_loopback_and_says_so(tmp_path: Path) -> None:
    path = write_config(tmp_path / "open.yaml", MOCK)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gwd", "--config", str(path), "--port",
                             str(port)], stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = ""
        while "serving" not in line:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            assert line, "gwd exited early"
            if "no master_key" in line:
                assert "127.0.0.1" in line
        assert "http://127.0.0.1:" in line
        r = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5)
        assert r.status_code == 200  # open proxy: no key needed
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.stderr.close()  # type: ignore[union-attr]


def test_weak_master_key_is_refused_on_a_public_address(tmp_path: Path) -> None:
    path = write_config(tmp_path / "weak.yaml",
                        {**MOCK, "general_settings": {"master_key": "sk-1234"}})
    out = run_gwd("--config", str(path), "--port", str(free_port()))
    assert out.returncode == 1
    assert "weak" in out.stderr and "--allow-weak-master-key" in out.stderr
    assert "sk-1234" not in out.stderr


def test_weak_master_key_is_allowed_on_loopback_with_a_warning(gwd: GwdFactory) -> None:
    proc = gwd({**MOCK, "general_settings": {"master_key": "sk-1234"}})
    r = httpx.get(proc.base_url + "/v1/models", headers=proc.headers(), timeout=5)
    assert r.status_code == 200
    assert "weak" in proc.log_text()


def test_weak_master_key_on_a_public_address_with_the_override(gwd: GwdFactory) -> None:
    proc = gwd({**MOCK, "general_settings": {"master_key": "sk-1234"}},
               extra_args=["--host", "0.0.0.0", "--allow-weak-master-key"])
    assert httpx.get(proc.base_url + "/health/liveliness", timeout=5).status_code == 200


def test_port_in_use_is_a_clean_error(gwd: GwdFactory, tmp_path: Path) -> None:
    first = gwd(MOCK)
    path = write_config(tmp_path / "second.yaml", MOCK)
    out = run_gwd("--config", str(path), "--host", "127.0.0.1", "--port", str(first.port))
    assert out.returncode != 0 and "cannot listen" in out.stderr
    assert "Traceback" not in out.stderr
