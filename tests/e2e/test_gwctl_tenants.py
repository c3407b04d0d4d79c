"""gwctl team|user|customer|org against a real gwd: create, info, list, update,
members, block, delete — and what they do to calls."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.e2e.test_gwctl import CONFIG, ok, ok_json, one_line_error, run
from tests.support.gwd import GwdProcess


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = GwdProcess(CONFIG, tmp_path_factory.mktemp("gwctl-tenants"), name="gwd-t").start()
    yield proc.base_url
    proc.stop()


def chat(url: str, key: str, model: str = "gpt-4") -> int:
    import httpx
    r = httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}],
                         "max_tokens": 5}, timeout=10)
    return r.status_code


def test_team_lifecycle_through_gwctl(url: str) -> None:
    ok(url, "org", "create", "--id", "acme", "--alias", "Acme")
    team = ok_json(url, "team", "create", "--id", "search", "--alias", "Search", "-m", "gpt-4",
                   "--max-budget", "5", "--org", "acme")
    assert team["team_id"] == "search" and team["models"] == ["gpt-4"]
    assert team["max_budget"] == 5 and team["organization_id"] == "acme"
    shown = ok(url, "team", "info", "search")
    assert "Search" in shown and "$5" in shown and "acme" in shown
    ok(url, "team", "member-add", "search", "alice", "--email", "bob@example.com", "--admin")
    members = ok_json(url, "team", "info", "search")["team_info"]["members_with_roles"]
    assert {m["role"] for m in members} == {"admin"} and len(members) == 2
    ok(url, "team", "member-remove", "search", "--email", "bob@example.com")
    key = ok_json(url, "user", "create", "--id", "carol", "-m", "gpt-4")["key"]
    assert chat(url, key) == 200 and chat(url, key, "gpt-3.5-turbo") == 403
    ok(url, "team", "update", "search", "--alias", "Search 2")
    assert ok_json(url, "team", "list")[0]["team_alias"] == "Search 2"
    ok(url, "customer", "create", "--id", "c1")
    ok(url, "customer", "block", "c1")
    assert ok_json(url, "customer", "info", "c1")["blocked"] is True
    ok(url, "customer", "unblock", "c1")
    ok(url, "team", "block", "search")
    assert ok_json(url, "team", "info", "search")["team_info"]["blocked"] is True
    ok(url, "team", "unblock", "search")
    spend = ok_json(url, "user", "info", "carol")["user_info"]["spend"]
    assert Decimal(str(spend)) > 0
    ok(url, "team", "delete", "search", "--yes")
    assert run(url, "team", "info", "search").returncode == 1
    ok(url, "org", "delete", "acme", "--yes")


def usage_error(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode == 2 and proc.stdout == "", (proc.returncode, proc.stdout)
    assert words in proc.stderr, proc.stderr


def test_gwctl_tenant_usage_and_server_errors(url: str) -> None:
    usage_error(run(url, "customer", "create"), "needs --id")
    usage_error(run(url, "user", "create", "--org", "x"), "teams only")
    usage_error(run(url, "team", "create", "--max-budget", "lots"), "not a number")
    usage_error(run(url, "team", "member-remove", "t"), "USER or --email")
    assert "No team" in one_line_error(run(url, "team", "info", "no-such-team"), 1)
