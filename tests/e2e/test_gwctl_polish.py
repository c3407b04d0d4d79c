"""gwctl polish end to end (the real executable against a real gwd): one exit-status rule
for bad option values, tables that fit 80 columns, list limits and filters, the /v1
hint, the warning for models gwd does not serve. Runs through test_gwctl's ``run()``
(no traceback, no master key, no escape codes) with its environment, plus a profile
file path that does not exist so the machine's own profile never leaks in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gwctl.output import usd
from tests.e2e.test_gwctl import CONFIG, mint, ok, ok_json, one_line_error, run, run_all
from tests.support.gwd import MASTER_KEY, GwdProcess

NARROW = {"COLUMNS": "80"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    proc = GwdProcess(CONFIG, tmp_path_factory.mktemp("gwctl-polish"), name="gwd-polish")
    proc.start()
    yield proc
    proc.stop()


def call(url: str, key: str, times: int) -> None:
    import urllib.request

    for _ in range(times):
        req = urllib.request.Request(url + "/v1/chat/completions", method="POST", data=json.dumps(
            {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 333}]}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


def test_a_value_gwd_refuses_is_a_usage_error_like_one_gwctl_refuses(
        server: GwdProcess) -> None:
    url = server.base_url
    by_gwd, by_gwd_json, by_gwctl, not_found, wrong_key = run_all(
        url, ["key", "create", "--duration", "5x"],
        ["key", "create", "--json", "--max-budget", "1e12"],
        ["key", "create", "--max-budget", "lots"], ["key", "info", "key-0000000000000000"],
        ["--master-key", "sk-wrong", "key", "list"])
    assert "invalid duration '5x'" in one_line_error(by_gwd, 2)
    assert "HTTP 400" in one_line_error(by_gwd_json, 2) and by_gwd_json.stdout == ""
    assert by_gwctl.returncode == 2
    assert "HTTP 404" in one_line_error(not_found, 1)   # refusals that are not bad values
    assert "HTTP 401" in one_line_error(wrong_key, 1)


def test_tables_fit_80_columns_without_splitting_amounts_or_ids(server: GwdProcess) -> None:
    url = server.base_url
    made = [mint(url, key_alias=f"a-rather-long-key-name-number-{i}", models=["gpt-4"],
                 max_budget=1234.5678) for i in range(2)]
    for info in made:
        call(url, info["key"], 3)
    listed = {k["key_id"]: k for k in ok_json(url, "key", "list")["keys"]}
    table, spend = run_all(url, ["key", "list"], ["spend"], **NARROW)
    for proc in (table, spend):
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, proc.stdout
        for info in made:
            row = listed[info["key_id"]]
            assert usd(row["spend"]) in proc.stdout and row["spend"] > 0  # never split
            assert info["key_id"][:12] + "…" in proc.stdout   # shortened, on one line
            assert info["key_id"] not in proc.stdout
    assert "$1,234.5678" in table.stdout
    headings = table.stdout.splitlines()[2].split()  # title, blank line, headings
    assert headings == ["ID", "Name", "Spend", "Budget", "Models", "Expires"], headings
    assert "in 59 min" in table.stdout and "UTC" not in table.stdout  # compact expiry
    wide = ok(url, "key", "list", "--wide")
    assert all(info["key_id"] in wide for info in made)


def test_key_list_limit_and_filters(server: GwdProcess) -> None:
    url = server.base_url
    mint(url, key_alias="Filter-Me-alpha", models=["gpt-3.5-turbo"])
    mint(url, key_alias="filter-me-beta")  # all models
    mint(url, key_alias="other", models=["gpt-4"])

    def names(*args: str) -> list[str]:
        return sorted(k["key_alias"] for k in ok_json(url, "key", "list", *args)["keys"]
                      if (k["key_alias"] or "").lower().startswith(("filter-me", "other")))

    assert names("--name", "FILTER-me") == ["Filter-Me-alpha", "filter-me-beta"]
    assert names("--name", "filter-me", "--model", "gpt-4") == ["filter-me-beta"]
    assert names("--model", "gpt-3.5-turbo", "--name", "alpha") == ["Filter-Me-alpha"]
    assert len(ok_json(url, "key", "list", "--limit", "2")["keys"]) == 2
    assert len(ok_json(url, "key", "list", "--limit", "1", "--name", "filter-me")["keys"]) == 1
    assert run(url, "key", "list", "--limit", "0").returncode == 2
    table = ok(url, "key", "list", "--name", "filter-me", "--limit", "1")
    assert table.startswith("1 key(s)")


def test_a_url_ending_in_v1_works_with_a_hint(server: GwdProcess) -> None:
    proc = run(None, "--url", server.base_url + "/v1/", "models", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["data"]
    assert f"using {server.base_url} (without /v1)" in proc.stderr


def test_models_gwd_does_not_serve_draw_a_warning_not_a_refusal(server: GwdProcess) -> None:
    url = server.base_url
    proc = run(url, "key", "create", "-q", "--models", "gpt-4,gtp-4o")
    assert proc.returncode == 0 and re.fullmatch(r"sk-\S{22}\n", proc.stdout)
    assert "'gtp-4o'" in proc.stderr and "'gpt-4'" not in proc.stderr
    key_id = ok_json(url, "key", "info", proc.stdout.strip())["info"]["key_id"]
    proc = run(url, "key", "update", key_id, "--models", "nope")
    assert proc.returncode == 0 and "'nope'" in proc.stderr
    quiet = run(url, "key", "create", "-q", "--models", "gpt-4")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_the_profile_file_supplies_url_and_master_key(server: GwdProcess,
                                                      tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text(f'url = "http://127.0.0.1:1"\n\n[profiles.here]\nurl = "{server.base_url}"\n'
                    f'master_key = "{MASTER_KEY}"\n')
    file.chmod(0o600)
    proc = run(None, "--profile", "here", "key", "list", "--json", key=None,
               GWCTL_CONFIG=str(file))
    assert proc.returncode == 0 and "keys" in json.loads(proc.stdout)
    assert proc.stderr == ""
    file.chmod(0o644)
    proc = run(None, "key", "list", key=None, GWCTL_CONFIG=str(file), GWCTL_PROFILE="here")
    assert proc.returncode == 0 and "chmod 600" in proc.stderr
    assert one_line_error(run(None, "models", key=None, GWCTL_CONFIG=str(file)), 3)


