"""Claude Code itself against gwd: ``ANTHROPIC_BASE_URL`` + ``ANTHROPIC_AUTH_TOKEN``.

Runs the real CLI (``claude -p``) when it is installed; it is an npm package, not
a Python one, so the lock cannot bring it::

    npm install --prefix /opt/claude-code @anthropic-ai/claude-code
    export GW_TEST_CLAUDE_BIN=/opt/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64/claude

(or put ``claude`` on PATH). Without it the test is skipped, and
``test_anthropic_door.test_claude_code_request_sequence`` replays the requests
the CLI sends (recorded from version 2.1.197). Nothing leaves loopback: the CLI's
non-essential traffic is switched off and its only API is gwd, whose model group
is an ``anthropic/`` deployment at a fake upstream.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import assert_no_secret, config_secrets
from tests.fakes import AnthropicFake
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, rows

CLAUDE = os.environ.get("GW_TEST_CLAUDE_BIN") or shutil.which("claude")
PROVIDER_KEY = "sk-ant-cc-upstream-secret-2718281828"
IN_PRICE, OUT_PRICE = Decimal("0.000003"), Decimal("0.000015")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CLAUDE is None, reason="Claude Code is not installed "
                                 "(set GW_TEST_CLAUDE_BIN; see the module docstring)")]


def test_claude_code_prints_the_answer_and_its_calls_are_billed(tmp_path: Path) -> None:
    assert CLAUDE is not None
    with AnthropicFake("cc-fake", prompt_tokens=40, completion_tokens=6) as fake:
        fake.cache_read_tokens = 9
        db = tmp_path / "gw.db"
        config = {"model_list": [{"model_name": "team-claude", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5", "api_base": fake.base_url,
            "api_key": PROVIDER_KEY, "input_cost_per_token": str(IN_PRICE),
            "output_cost_per_token": str(OUT_PRICE)}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": f"sqlite:///{db}"}}
        with GwdProcess(config, tmp_path, name="cc") as proc:
            r = httpx.post(proc.base_url + "/key/generate", json={"max_budget": 1},
                           headers={"Authorization": f"Bearer {MASTER_KEY}"})
            key = r.json()["key"]
            home = tmp_path / "home"
            home.mkdir()
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
                   "ANTHROPIC_BASE_URL": proc.base_url, "ANTHROPIC_AUTH_TOKEN": key,
                   "ANTHROPIC_MODEL": "team-claude", "ANTHROPIC_SMALL_FAST_MODEL": "team-claude",
                   "ANTHROPIC_DEFAULT_HAIKU_MODEL": "team-claude",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
            done = subprocess.run([CLAUDE, "-p", "say hi"], env=env, capture_output=True,
                                  text=True, timeout=120, cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
            assert fake.reply_text in done.stdout
            deadline = time.monotonic() + 10
            while not (found := rows(f"sqlite:///{db}", key_hash(key))) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            log = proc.log_text()
        calls = [r for r in fake.requests if r.path == "/v1/messages"]
    assert calls and all(c.header("x-api-key") == PROVIDER_KEY for c in calls)
    assert all("claude-code" in (c.header("anthropic-beta") or "") for c in calls)
    assert all(key not in str(c.headers) for c in calls)
    assert len(found) == len(calls)
    for row in found:
        assert row.status == "success"
        assert row.cost == (40 + 9) * IN_PRICE + 6 * OUT_PRICE
    assert_no_secret(log, config_secrets(config), "gwd's log")
