"""The JSON access log of a real gwd: one line per request, the right fields, no secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import GwdFactory, assert_no_secret
from tests.fakes import OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess

PROVIDER_KEY = "sk-provider-access-log-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake("upstream") as started:
        yield started


def config(fake: OpenAIFake, access_log: bool) -> dict[str, Any]:
    return {"model_list": [{"model_name": "g", "model_info": {"id": "dep-1"}, "litellm_params": {
                "model": "openai/gpt-4o", "api_base": fake.base_url, "api_key": PROVIDER_KEY,
                "input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}}],
            "general_settings": {"master_key": MASTER_KEY, "access_log": access_log}}


def access_lines(proc: GwdProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]


def exercise(proc: GwdProcess) -> tuple[str, dict[str, httpx.Response]]:
    """One request of each kind; returns the virtual key and the responses by name."""
    master = proc.headers()
    made = httpx.post(proc.base_url + "/key/generate", headers=master,
                      json={"key_alias": "ci-bot"})
    virtual = made.json()["key"]
    mine = {"Authorization": f"Bearer {virtual}"}
    url = proc.base_url
    out = {
        "generate": made,
        "chat": httpx.post(url + "/v1/chat/completions", headers=mine,
                           json={"model": "g", "messages": MESSAGES}),
        "stream": httpx.post(url + "/chat/completions", headers=mine,
                             json={"model": "g", "messages": MESSAGES, "stream": True}),
        "info": httpx.get(url + "/key/info", params={"key": virtual}, headers=mine),
        "unknown_model": httpx.post(url + "/v1/chat/completions", headers=mine,
                                    json={"model": "nope", "messages": MESSAGES}),
        "bad_key": httpx.get(url + "/v1/models", headers={"Authorization": "Bearer sk-bogus"}),
        "no_route": httpx.get(url + "/no/such/route", headers=master),
        "metrics": httpx.get(url + "/metrics", headers=master),
    }
    return virtual, out


def test_access_log_has_one_json_line_per_request_and_no_secret(
        gwd: GwdFactory, fake: OpenAIFake) -> None:
    proc = gwd(config(fake, access_log=True))
    virtual, responses = exercise(proc)
    key_id = responses["generate"].json()["key_id"]
    spend = httpx.get(proc.base_url + "/spend/logs", headers=proc.headers()).json()["logs"]
    proc.stop()

    lines = access_lines(proc)
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == len(lines)  # request ids are unique
    for name, resp in responses.items():
        assert resp.headers["x-request-id"] in by_id, name  # errors included
        assert by_id[resp.headers["x-request-id"]]["status"] == resp.status_code, name
    probes = [line for line in lines if line["path"] == "/health/liveliness"]
    assert len(lines) == len(responses) + 1 + len(probes)  # + the /spend/logs read

    chat = by_id[responses["chat"].headers["x-request-id"]]
    assert chat == {**chat, "method": "POST", "path": "/v1/chat/completions", "status": 200,
                    "key_id": key_id, "key_alias": "ci-bot", "model_group": "g",
                    "deployment": "dep-1", "call_status": "success", "prompt_tokens": 10,
                    "completion_tokens": 5, "cost": 0.00002}
    assert chat["latency_ms"] >= 0 and chat["time"].endswith("+00:00")
    assert chat["request_id"] in {row["request_id"] for row in spend}  # the ledger's id
    stream = by_id[responses["stream"].headers["x-request-id"]]
    assert stream["call_status"] == "success" and stream["completion_tokens"] == 5
    info = by_id[responses["info"].headers["x-request-id"]]
    assert info["path"] == "/key/info"  # never the query string, which has the key
    refused = by_id[responses["unknown_model"].headers["x-request-id"]]
    assert refused["status"] == 400 and "deployment" not in refused
    bad = by_id[responses["bad_key"].headers["x-request-id"]]
    assert bad["status"] == 401 and "key_id" not in bad
    assert by_id[responses["metrics"].headers["x-request-id"]]["key_id"] == "master"
    assert_no_secret(proc.log_text(), [virtual, MASTER_KEY, PROVIDER_KEY], "the access log")


def test_no_access_lines_when_the_log_is_off(gwd: GwdFactory, fake: OpenAIFake) -> None:
    proc = gwd(config(fake, access_log=False))
    _, responses = exercise(proc)
    assert all(resp.headers["x-request-id"].startswith("req_") for resp in responses.values())
    proc.stop()
    assert access_lines(proc) == []
