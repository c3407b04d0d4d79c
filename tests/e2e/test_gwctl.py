"""gwctl end to end: the real gwctl executable against a real gwd.

One gwd (module scope) serves most tests; the config-reload test starts its own,
since it rewrites the config. Every gwctl run goes through ``run()``, which also
checks the promises that hold for every run: no traceback, the master key never
printed, and no escape codes (neither stdout nor stderr is a terminal there).
More on generated files and completion: tests/unit/test_gwctl_generated.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gwd import __version__
from tests.conftest import GwdFactory, assert_no_secret, config_secrets
from tests.support.gwd import MASTER_KEY, REPO, GwdProcess, free_port, write_config

KEY_RE = re.compile(r"^sk-[A-Za-z0-9_-]{22}$")
ANSI = "\x1b["
COLOUR_SGR = re.compile(r"\x1b\[[0-9;]*?(?:3[0-9]|4[0-9]|9[0-7])(?:;[0-9]+)*m")
GENERATED = ("man/gwctl.1", "man/gwd.1", "completions/gwctl.bash", "completions/gwctl.zsh",
             "completions/gwctl.fish")
_SCRUB = ("GWCTL_URL", "GWCTL_MASTER_KEY", "GWCTL_TIMEOUT", "NO_COLOR", "FORCE_COLOR",
          "PY_COLORS", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS",
          "_GWCTL_COMPLETE", "GWCTL_PROFILE", "GWCTL_CONFIG")


def model(name: str, upstream: str, price_in: str = "0.000001",
          price_out: str = "0.000002") -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {
        "model": f"mock/{upstream}", "input_cost_per_token": float(price_in),
        "output_cost_per_token": float(price_out)}}


CONFIG: dict[str, Any] = {
    "model_list": [model("gpt-3.5-turbo", "gpt-3.5-turbo"), model("gpt-4", "gpt-4")],
    "general_settings": {"master_key": MASTER_KEY},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    proc = GwdProcess(CONFIG, tmp_path_factory.mktemp("gwctl"), name="gwd-gwctl").start()
    yield proc
    proc.stop()
    assert_no_secret(proc.log_text(), config_secrets(CONFIG), "gwd's log")


def env_for(url: str | None, key: str | None = MASTER_KEY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONPATH"] = str(REPO)
    env["GWCTL_CONFIG"] = str(REPO / "tests" / "no-such-gwctl-config.toml")  # hermetic
    if url is not None:
        env["GWCTL_URL"] = url
    if key is not None:
        env["GWCTL_MASTER_KEY"] = key
    return {**env, **extra}


def run(url: str | None, *args: str, key: str | None = MASTER_KEY, exe: list[str] | None = None,
        **extra: str) -> subprocess.CompletedProcess[str]:
    """Run gwctl (``python -m gwctl`` unless ``exe``) with stdin, stdout, stderr not ttys."""
    proc = subprocess.run([*(exe or [sys.executable, "-m", "gwctl"]), *args],
                          env=env_for(url, key, **extra), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert MASTER_KEY not in out, "gwctl printed the master key"
    assert ANSI not in out, f"escape codes without a terminal: {out!r}"
    return proc


def run_all(url: str | None, *commands: list[str], exe: str | None = None,
            **extra: str) -> list[subprocess.CompletedProcess[str]]:
    """Several independent gwctl runs at once (each still checked by ``run``)."""
    command = [exe] if exe else None
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run(url, *args, exe=command, **extra), commands))


def ok(url: str, *args: str, **kw: Any) -> str:
    proc = run(url, *args, **kw)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ok_json(url: str, *args: str) -> Any:
    proc = run(url, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)  # the whole of stdout, nothing else


def one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("gwctl: ")
    return proc.stderr


def new_key(url: str, *args: str) -> str:
    key = ok(url, "key", "create", "-q", *args).strip()
    assert KEY_RE.match(key), key
    return key


def mint(url: str, **body: Any) -> dict[str, Any]:
    """Set-up only: a key made with a direct POST /key/generate (not through gwctl)."""
    return post(url, "/key/generate", body, MASTER_KEY)


def post(url: str, path: str, body: Any, key: str) -> dict[str, Any]:
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def chat(url: str, key: str, model_name: str = "gpt-3.5-turbo") -> dict[str, Any]:
    return post(url, "/v1/chat/completions", {
        "model": model_name, "messages": [{"role": "user", "content": "Hello, gw"}]}, key)


# --- the executable ---------------------------------------------------------------

def test_installed_console_script_runs_against_gwd(server: GwdProcess) -> None:
    exe = shutil.which("gwctl")
    assert exe, "the gwctl console script is not installed: pip install -e '.[test]'"
    version, created = run_all(server.base_url, ["--version"], ["key", "create", "-q"],
                               exe=exe)
    assert version.stdout == f"gwctl {__version__}\n" and version.returncode == 0
    assert created.returncode == 0 and KEY_RE.match(created.stdout.strip())


# --- key create / info / list / update / delete ------------------------------------

def test_create_quiet_prints_only_the_key(server: GwdProcess) -> None:
    proc = run(server.base_url, "key", "create", "-q")
    assert proc.returncode == 0 and proc.stderr == ""
    assert KEY_RE.match(proc.stdout.removesuffix("\n")) and proc.stdout.count("\n") == 1


def test_create_with_every_option_round_trips_through_info(server: GwdProcess) -> None:
    url = server.base_url
    before = datetime.now(UTC)
    made = ok_json(url, "key", "create", "--models", "gpt-3.5-turbo,gpt-4", "-m", "gpt-4",
                   "--duration", "20m", "--alias", "gpt4=gpt-4", "--alias", "turbo=gpt-3.5-turbo",
                   "--max-budget", "2.5", "--name", "ci-key", "--metadata", "team=ops",
                   "--metadata", "note=a=b")
    key = made["key"]
    assert KEY_RE.match(key)
    assert made["models"] == ["gpt-3.5-turbo", "gpt-4"]
    assert made["aliases"] == {"gpt4": "gpt-4", "turbo": "gpt-3.5-turbo"}
    assert made["max_budget"] == 2.5 and made["key_alias"] == "ci-key"
    assert made["metadata"] == {"team": "ops", "note": "a=b"}
    expires = datetime.fromisoformat(made["expires"])
    assert before + timedelta(minutes=19) < expires <= datetime.now(UTC) + timedelta(minutes=20)

    as_json, as_table = run_all(url, ["key", "info", key, "--json"], ["key", "info", key])
    info = json.loads(as_json.stdout)["info"]
    assert info["token"] == key and info["spend"] == 0 and info["budget_remaining"] == 2.5
    assert (info["models"], info["aliases"], info["metadata"]) == (
        made["models"], made["aliases"], made["metadata"])
    table = as_table.stdout
    assert info["key_name"] in table and "ci-key" in table and "$2.50" in table
    assert "gpt-3.5-turbo, gpt-4" in table and "gpt4 -> gpt-4" in table
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in 19 min\)", table), table


def test_create_without_options_shows_a_panel_with_gwds_defaults(server: GwdProcess) -> None:
    proc = run(server.base_url, "key", "create")
    assert proc.returncode == 0
    assert re.search(r"sk-[A-Za-z0-9_-]{22}", proc.stdout)
    assert re.search(r"Models\s+all", proc.stdout)
    assert "(in 59 min)" in proc.stdout  # gwd's default duration: 1 hour
    assert "only its hash" in proc.stderr


def test_list_and_expired_keys(server: GwdProcess) -> None:
    url = server.base_url
    listed = mint(url, key_alias="listed-key", models=["gpt-4"])
    short = mint(url, key_alias="short-lived", duration="1s")
    time.sleep(1.1)
    as_json, as_table = run_all(url, ["key", "list", "--json"], ["key", "list"])
    keys = json.loads(as_json.stdout)["keys"]
    mine = [k for k in keys if k["key_name"] == listed["key_name"]]
    assert len(mine) == 1 and mine[0]["key_alias"] == "listed-key"
    # LiteLLM's "token" is the public key_id: the secret never comes back
    assert all(k["token"] == k["key_id"] for k in keys) and listed["key"] not in as_json.stdout
    rows = as_table.stdout.splitlines()
    row = next(line for line in rows if listed["key_name"] in line)
    assert "listed-key" in row and "gpt-4" in row and "(in 59 min)" in row
    row = next(line for line in rows if short["key_name"] in line)
    assert "(expired)" in row
    assert listed["key"] not in as_table.stdout, "the list must not show whole keys"


def test_update_changes_only_the_options_given(server: GwdProcess) -> None:
    url = server.base_url
    key = mint(url, models=["gpt-4"], max_budget=1, key_alias="before", duration="20m")["key"]
    shown = ok(url, "key", "update", key, "--max-budget", "7.25", "--name", "after",
               "--metadata", "owner=ci", "--duration", "3h")
    assert "updated" in shown and "$7.25" in shown and "(in 2 h 59 min)" in shown
    info = ok_json(url, "key", "info", key)["info"]
    assert (info["max_budget"], info["key_alias"], info["metadata"]) == (7.25, "after",
                                                                        {"owner": "ci"})
    assert info["models"] == ["gpt-4"]
    updated = ok_json(url, "key", "update", key, "--max-budget", "none")
    assert updated["info"]["max_budget"] is None and updated["key"] == key


def test_update_replaces_models_and_aliases(server: GwdProcess) -> None:
    key = mint(server.base_url, models=["gpt-4"])["key"]
    info = ok_json(server.base_url, "key", "update", key, "--models", "gpt-4,gpt-3.5-turbo",
                   "--alias", "fast=gpt-3.5-turbo")["info"]
    assert info["models"] == ["gpt-4", "gpt-3.5-turbo"]
    assert info["aliases"] == {"fast": "gpt-3.5-turbo"}
    info = ok_json(server.base_url, "key", "update", key, "--models", "")["info"]
    assert info["models"] == []  # '' = every model again


def test_delete_needs_yes_without_a_terminal_then_deletes(server: GwdProcess) -> None:
    url = server.base_url
    key, other = mint(url)["key"], mint(url)["key"]
    refused = run(url, "key", "delete", key)
    assert "--yes" in one_line_error(refused, 2)
    assert chat(url, key)["choices"]  # still works
    assert ok(url, "key", "delete", key, "--yes") == "Deleted 1 key(s).\n"
    gone, again, mixed = run_all(url, ["key", "info", key], ["key", "delete", key, "-y"],
                                 ["key", "delete", key, other, "--yes", "--json"])
    assert "No such key" in one_line_error(gone, 1) and "HTTP 404" in gone.stderr
    assert "None of these keys exist" in one_line_error(again, 1)
    assert json.loads(mixed.stdout) == {"deleted_keys": [other], "not_found": 1}


def _delete_at_a_terminal(url: str, key: str, answer: bytes) -> subprocess.CompletedProcess[str]:
    main_fd, tty_fd = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gwctl", "key", "delete", key],
                                env=env_for(url), stdin=tty_fd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.write(main_fd, answer)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(main_fd)
        os.close(tty_fd)
    assert "Traceback" not in err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_delete_asks_at_a_terminal_and_only_yes_deletes(server: GwdProcess) -> None:
    url = server.base_url
    key = mint(url)["key"]
    declined = _delete_at_a_terminal(url, key, b"n\n")
    assert declined.returncode == 1 and declined.stdout == ""
    assert "Delete 1 key(s)?" in declined.stderr and "nothing deleted" in declined.stderr
    assert chat(url, key)["choices"]
    accepted = _delete_at_a_terminal(url, key, b"y\n")
    assert accepted.returncode == 0 and accepted.stdout == "Deleted 1 key(s).\n"
    assert run(url, "key", "info", key).returncode == 1


def test_a_key_is_managed_by_its_key_id_without_the_secret(server: GwdProcess) -> None:
    url = server.base_url
    made = mint(url, key_alias="by-id")
    key, key_id = made["key"], made["key_id"]
    chat(url, key)
    info, listed, _ = run_all(url, ["key", "info", key_id, "--json"], ["key", "list"],
                              ["key", "update", key_id, "--name", "renamed"])
    by_id = json.loads(info.stdout)
    # no secret echoed: LiteLLM's "token" is the public key_id
    assert by_id["key"] is None and by_id["info"]["token"] == key_id
    assert by_id["info"]["requests"] == 1
    assert key_id in listed.stdout and key not in listed.stdout
    spend, days = run_all(url, ["spend", "--key", key_id, "--json"],
                          ["spend", "--by", "day", "--key", key_id, "--json"])
    assert json.loads(spend.stdout)["keys"][0]["key_alias"] == "renamed"
    assert json.loads(days.stdout)["total_requests"] == 1
    assert ok(url, "key", "delete", key_id, "--yes") == "Deleted 1 key(s).\n"
    assert run(url, "key", "info", key).returncode == 1


# --- exit statuses ---------------------------------------------------------------

def test_server_refusal_exits_1_with_its_message_on_one_line(server: GwdProcess) -> None:
    # (a refused option value is a usage error, 2: tests/e2e/test_gwctl_polish.py)
    missing, missing_json, wrong_key = run_all(
        server.base_url, ["key", "info", "key-0000000000000000"],
        ["key", "info", "--json", "key-0000000000000000"],
        ["--master-key", "sk-wrong", "models"])
    err = one_line_error(missing, 1)
    assert "HTTP 404" in err
    assert "HTTP 404" in one_line_error(missing_json, 1)  # --json: still nothing on stdout
    assert "HTTP 401" in one_line_error(wrong_key, 1)
    err = one_line_error(run(server.base_url, "key", "list", key=None), 1)
    assert "--master-key" in err  # says how to give one


def test_usage_errors_exit_2_with_clicks_message(server: GwdProcess) -> None:
    # the whole matrix runs in-process in tests/unit/test_gwctl_cli.py
    for proc in run_all(server.base_url, ["key", "create", "--alias", "no-equals-sign"],
                        ["spend", "--by", "week"], ["key", "info"], ["no-such-command"]):
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert "Usage: gwctl" in proc.stderr and "Error:" in proc.stderr


def test_unreachable_server_exits_3_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    nowhere = "http://no-such-host.invalid:8000"
    *refused, unknown = run_all(url, ["key", "list"], ["health", "--json"],
                                ["key", "create", "-q"], ["--url", nowhere, "models"])
    for proc in refused:
        assert one_line_error(proc, 3).startswith(f"gwctl: cannot reach gwd at {url}: ")
    assert one_line_error(unknown, 3).startswith(f"gwctl: cannot reach gwd at {nowhere}: ")


# --- reports --------------------------------------------------------------------

def test_spend_by_key_model_and_day_after_calls(server: GwdProcess) -> None:
    url = server.base_url
    key = mint(url, key_alias="spender")["key"]
    for _ in range(2):
        chat(url, key)
    chat(url, key, "gpt-4")
    runs = run_all(url, ["key", "info", key, "--json"], ["spend", "--by", "key", "--json"],
                   ["spend", "--key", key, "--json"],
                   ["spend", "--by", "model", "--key", key, "--since", "1h", "--json"],
                   ["spend", "--by", "model", "--json"],
                   ["spend", "--by", "day", "--key", key, "--json"],
                   ["spend", "--by", "model", "--key", key], ["spend"],
                   ["spend", "--by", "key", "--since", "1h", "--json"],
                   ["spend", "--key", key, "--since", "1h", "--json"],
                   ["spend", "--by", "key", "--since", "2020-01-01", "--until", "2020-01-02",
                    "--json"])
    assert all(r.returncode == 0 and r.stderr == "" for r in runs), [r.stderr for r in runs]
    info, by_key, one_key, mine, everyone, days = (json.loads(r.stdout) for r in runs[:6])
    info = info["info"]
    assert info["requests"] == 3 and info["spend"] > 0

    row = next(r for r in by_key["keys"] if r["key_name"] == info["key_name"])
    assert (row["spend"], row["requests"], row["key_alias"]) == (info["spend"], 3, "spender")
    assert one_key["keys"] == [row]
    assert Decimal(repr(by_key["total_spend"])) >= Decimal(repr(info["spend"]))

    assert {(r["model_group"], r["requests"]) for r in mine["models"]} == {
        ("gpt-3.5-turbo", 2), ("gpt-4", 1)}
    assert Decimal(repr(mine["total_spend"])) == Decimal(repr(info["spend"]))  # exact
    assert everyone["total_requests"] >= 3
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert [(d["day"], d["requests"]) for d in days["days"]] == [(today, 3)]

    table = runs[6].stdout
    total = next(line for line in table.splitlines() if "Total" in line)
    assert re.search(r"\b3\b", total) and "$" in total
    assert "gpt-3.5-turbo" in table and key not in table
    assert "Total" in runs[7].stdout and info["key_name"] in runs[7].stdout

    window, one_window, empty = (json.loads(r.stdout) for r in runs[8:11])
    in_window = next(r for r in window["keys"] if r["key_id"] == info["key_id"])
    assert (in_window["spend"], in_window["requests"]) == (info["spend"], 3)
    assert one_window["keys"] == [in_window]
    mine_then = next(r for r in empty["keys"] if r["key_id"] == info["key_id"])
    assert (mine_then["spend"], mine_then["requests"]) == (0, 0)  # listed, nothing spent


def test_spend_csv_is_a_header_and_rows(server: GwdProcess) -> None:
    url = server.base_url
    made = mint(url)
    chat(url, made["key"])
    headers = {"key": "key_id,key_name,key_alias,requests,spend,max_budget,expires",
               "model": "model_group,deployment,provider,requests,prompt_tokens,"
                        "completion_tokens,spend",
               "day": "day,requests,prompt_tokens,completion_tokens,spend"}
    runs = run_all(url, *[["spend", "--by", by, "--csv"] for by in headers],
                   ["spend", "--by", "day", "--key", made["key"], "--csv"])
    tables = {}
    for (by, header), proc in zip(headers.items(), runs[:3], strict=True):
        assert proc.stdout.splitlines()[0] == header
        tables[by] = list(csv.DictReader(io.StringIO(proc.stdout)))
        assert tables[by] and all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", r["spend"])
                                  for r in tables[by])  # plain decimals, never 1e-05
    assert any(r["key_id"] == made["key_id"] and r["requests"] == "1" for r in tables["key"])
    assert any(r["model_group"] == "gpt-3.5-turbo" for r in tables["model"])
    day = list(csv.DictReader(io.StringIO(runs[-1].stdout)))
    assert len(day) == 1 and day[0]["requests"] == "1"


def test_models_and_health(server: GwdProcess) -> None:
    models_json, models_table, health_json, health_table = run_all(
        server.base_url, ["models", "--json"], ["models"], ["health", "--json"], ["health"])
    assert [m["id"] for m in json.loads(models_json.stdout)["data"]] == [
        "gpt-3.5-turbo", "gpt-4"]
    assert "gpt-3.5-turbo" in models_table.stdout and "gpt-4" in models_table.stdout
    health = json.loads(health_json.stdout)
    assert health["status"] == "ok" and health["version"] == __version__
    assert "ok (sqlite)" in health_table.stdout and "mock/gpt-4" in health_table.stdout
    assert health_table.returncode == 0


def test_config_reload_good_then_bad_keeps_the_old_config(gwd: GwdFactory) -> None:
    proc = gwd(CONFIG)
    url = proc.base_url
    write_config(proc.config_path, {**CONFIG, "model_list": [
        *CONFIG["model_list"], model("brand-new", "brand-new")]})
    assert ok(url, "config", "reload").startswith("Config reloaded: 3 model group(s)")
    assert "brand-new" in [m["id"] for m in ok_json(url, "models")["data"]]

    proc.config_path.write_text("model_list: [unclosed\n")
    err = one_line_error(run(url, "config", "reload"), 1)
    assert "config not reloaded" in err and str(proc.config_path) in err
    assert "brand-new" in ok(url, "models")  # the last good config keeps serving
    assert chat(url, MASTER_KEY, "brand-new")["choices"]
    write_config(proc.config_path, CONFIG)
    assert ok_json(url, "config", "reload")["status"] == "reloaded"


# --- terminals and colour ----------------------------------------------------------

def _at_a_terminal(url: str, *args: str, **extra: str) -> str:
    """Run gwctl with stdout on a pseudo-terminal; what it wrote there."""
    main_fd, tty_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gwctl", *args], env=env_for(url, **extra),
                            stdin=subprocess.DEVNULL, stdout=tty_fd, stderr=subprocess.PIPE)
    os.close(tty_fd)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the terminal closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main_fd)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and b"Traceback" not in err, err
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(server: GwdProcess) -> None:
    url = server.base_url
    key = mint(url)["key"]
    assert COLOUR_SGR.search(_at_a_terminal(url, "key", "info", key))  # the test can see it
    assert not COLOUR_SGR.search(_at_a_terminal(url, "key", "info", key, NO_COLOR="1"))
    piped = run_all(url, ["key", "info", key], ["spend", "--by", "model"], ["key", "create"],
                    FORCE_COLOR="1")  # run() asserts: no escape codes at all
    assert all(proc.returncode == 0 for proc in piped) and "Spend" in piped[0].stdout


# --- generated files ---------------------------------------------------------------

def test_man_pages_and_completions_are_current(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "gwctl._gen", "--out", str(tmp_path)], check=True,
                   env=env_for(None), cwd=REPO, timeout=60)
    for rel in GENERATED:
        assert (tmp_path / rel).read_bytes() == (REPO / rel).read_bytes(), (
            f"{rel} is stale: run python -m gwctl._gen and commit the result")


def test_regenerate_block_unblock_and_list_by_name(server: GwdProcess) -> None:
    url = server.base_url
    made = mint(url, key_alias="rotate-me", duration="never")
    assert made["expires"] is None  # --duration never / "never": no expiry
    new = ok(url, "key", "regenerate", made["key_id"], "-q").strip()
    assert new.startswith("sk-") and new != made["key"]
    assert (chat_status(url, made["key"]), chat_status(url, new)) == (401, 200)
    blocked = ok_json(url, "key", "block", made["key_id"])
    assert blocked["blocked"] is True and chat_status(url, new) == 401
    assert "unblocked" in ok(url, "key", "unblock", made["key_id"])
    assert chat_status(url, new) == 200
    named = ok_json(url, "key", "list", "--name", "rotate-me")["keys"]
    assert [k["key_id"] for k in named] == [made["key_id"]]
    created = ok_json(url, "key", "create", "--duration", "never")
    assert created["expires"] is None


def chat_status(url: str, key: str) -> int:
    try:
        chat(url, key)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200
