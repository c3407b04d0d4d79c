"""Issue 21, operator visibility: every failure leaves one structured line in gwd's log.

Each case drives the real ``gwd`` process into the failure and reads its log: an
upstream 500, a refused connection, a deployment entering and leaving cooldown, a
reload over HTTP (changing the master key) and by SIGHUP (a broken file), a database
that goes away and comes back, and the access log's reason for each non-2xx. The
``gwd`` fixture's canary then checks that no key, master key or hash is in the log.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.faultlab import MASTER, PRICES
from tests.support.gwd import MASTER_KEY, GwdProcess, until, write_config
from tests.support.pg import create_database, drop_database
from tests.support.tcpproxy import TcpProxy

PROVIDER_KEY = "sk-up-oplog-0123456789abcdef"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def config(api_base: str, database_url: str | None = None, **general: Any) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": api_base, "api_key": PROVIDER_KEY, **PRICES}}],
        "router_settings": {"num_retries": 0, "allowed_fails": 0, "cooldown_time": 1},
        "general_settings": {"master_key": MASTER_KEY, **(
            {"database_url": database_url} if database_url else {}), **general}}


def events(proc: GwdProcess, name: str) -> list[dict[str, str]]:
    """The fields of every ``event=<name>`` line in gwd's log."""
    out = []
    for line in proc.log_text().splitlines():
        _, found, rest = line.partition(f"event={name} ")
        if found:
            out.append(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return out


def new_key(proc: GwdProcess) -> tuple[str, str]:
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={}, timeout=10)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    info = httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    return key, info.json()["info"]["key_id"]


def chat(proc: GwdProcess, key: str) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", json=BODY, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_upstream_500_is_one_line_with_the_reason_and_the_key_id(
        gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("five") as fake:
        fake.set_default(Fault(status=500))
        proc = gwd(config(fake.base_url + "/v1"))
        key, key_id = new_key(proc)
        r = chat(proc, key)
        assert r.status_code == 502
    lines = events(proc, "upstream_failure")
    assert len(lines) == 1, lines
    assert lines[0]["reason"] == "5xx" and "HTTP 500" in lines[0]["detail"]
    assert (lines[0]["key_id"], lines[0]["request_id"]) == (key_id, r.headers["x-request-id"])
    assert lines[0]["deployment"] and lines[0]["model_group"] == "m"


def test_a_refused_connection_and_the_cooldown_it_starts_and_ends_are_logged(
        gwd: GwdFactory, tmp_path: Path) -> None:
    proc = gwd(config(f"http://127.0.0.1:{closed_port()}/v1"))
    key, key_id = new_key(proc)
    assert chat(proc, key).status_code == 502
    (failure,) = events(proc, "upstream_failure")
    assert (failure["reason"], failure["key_id"]) == ("connect", key_id)
    (start,) = events(proc, "deployment_cooldown_start")
    assert start["deployment"] == failure["deployment"] and float(start["seconds"]) == 1
    assert events(proc, "deployment_cooldown_end") == []
    time.sleep(1.2)   # the cooldown is over: the next call logs its end, then fails again
    assert chat(proc, key).status_code == 502
    (end,) = events(proc, "deployment_cooldown_end")
    assert end["deployment"] == failure["deployment"]
    assert len(events(proc, "deployment_cooldown_start")) == 2
    assert len(events(proc, "upstream_failure")) == 2


def test_reloads_are_logged_by_trigger_with_what_changed_and_no_secret(
        gwd: GwdFactory, tmp_path: Path) -> None:
    new_master = "sk-new-master-key-fedcba9876543210"
    with OpenAIFake("a") as fake:
        base = config(fake.base_url + "/v1")
        proc = gwd(base, secrets=[new_master])
        changed = {**base, "general_settings": {**base["general_settings"],
                                                "master_key": new_master}}
        changed["model_list"] = [*base["model_list"], {"model_name": "extra", "litellm_params": {
            "model": "mock/extra"}}]
        write_config(proc.config_path, changed)
        r = httpx.post(proc.base_url + "/config/reload", headers=MASTER, timeout=10)
        assert r.status_code == 200, r.text
        (done,) = events(proc, "config_reloaded")
        assert done["trigger"] == "http"
        assert set(done["changed"].split(",")) == {"+extra", "general_settings.master_key"}
        proc.config_path.write_text("model_list: [\n")
        proc.signal(signal.SIGHUP)
        until(lambda: events(proc, "config_reload_failed") != [], 10)
        (failed,) = events(proc, "config_reload_failed")
        assert failed["trigger"] == "sighup" and "YAML error" in failed["error"]
        write_config(proc.config_path, changed)
        proc.signal(signal.SIGHUP)
        until(lambda: len(events(proc, "config_reloaded")) == 2, 10)
        assert events(proc, "config_reloaded")[1]["changed"] == "nothing"
        assert events(proc, "config_reloaded")[1]["trigger"] == "sighup"


@pytest.mark.postgres
def test_a_database_fault_and_its_recovery_are_one_line_each(
        gwd: GwdFactory, pg_url: str) -> None:
    url = create_database(pg_url, "gw_oplog")
    proxy = TcpProxy.for_url(url).start()
    try:
        with OpenAIFake("a") as fake:
            proc = gwd(config(fake.base_url + "/v1", proxy.url(url),
                              database_connection_timeout=0.5))
            proxy.down()
            for i in range(5):   # keys never seen: each needs the database
                r = chat(proc, f"sk-never-issued-{i:04d}-0123456789ab")
                assert r.status_code == 503
            until(lambda: events(proc, "database_fault") != [], 10)
            proxy.up()
            until(lambda: events(proc, "database_recovered") != [], 10)
            (fault,) = events(proc, "database_fault")
            (back,) = events(proc, "database_recovered")
            assert fault["backend"] == back["backend"] == "postgresql"
            assert fault["during"] == "POST /v1/chat/completions" and fault["reason"]
            assert float(back["down_seconds"]) > 0
            assert "password" not in fault["reason"].lower()
    finally:
        proxy.stop()
        drop_database(pg_url, url)


def test_the_access_log_gives_the_reason_of_every_non_2xx(
        gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("a") as fake:
        fake.enqueue(Fault(status=500))
        proc = gwd(config(fake.base_url + "/v1", access_log=True))
        key, _ = new_key(proc)
        assert httpx.post(proc.base_url + "/v1/chat/completions", json=BODY).status_code == 401
        assert httpx.post(proc.base_url + "/v1/chat/completions", json={**BODY, "model": "x"},
                          headers={"Authorization": f"Bearer {key}"}).status_code == 400
        assert chat(proc, key).status_code == 502
        assert httpx.get(proc.base_url + "/nope").status_code == 404
        assert chat(proc, key).status_code == 200
    lines = [orjson.loads(line) for line in proc.log_text().splitlines()
             if line.startswith("{")]
    by_status = {line["status"]: line for line in lines if line["path"] != "/key/generate"}
    assert by_status[401]["error_code"] and "API key" in by_status[401]["reason"]
    assert by_status[400]["error_code"] == "model_not_found"
    assert re.search(r"HTTP 500", by_status[502]["reason"])
    assert by_status[404]["reason"]
    assert "reason" not in by_status[200]
