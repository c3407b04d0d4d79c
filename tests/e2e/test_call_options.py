"""LiteLLM's request-level options: mock_response, num_retries, timeout (never forwarded)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, until

MESSAGES: Any = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-provider-key-call-options-01"


@pytest.fixture
def fakes() -> Iterator[list[OpenAIFake]]:
    started = [OpenAIFake(f"opt{i}").start() for i in range(3)]
    yield started
    for fake in started:
        fake.stop()


def config(fakes: list[OpenAIFake], **router: Any) -> dict[str, Any]:
    return {"model_list": [{"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": f.base_url, "api_key": UPSTREAM_KEY}}
        for f in fakes], "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 2, **router}}


def chat(proc: GwdProcess, key: str = MASTER_KEY, **body: Any) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "g", "messages": MESSAGES, **body})


def test_mock_response_answers_without_upstream_billed_zero_and_marked(
        gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    key = httpx.post(proc.base_url + "/key/generate", headers=proc.headers(),
                     json={"max_budget": 0.000001}, timeout=10).json()["key"]
    r = chat(proc, key, mock_response="It is sunny today.")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "It is sunny today."
    assert r.headers["x-litellm-response-cost"] == "0"
    client = openai.OpenAI(base_url=proc.base_url + "/v1", api_key=key, max_retries=0)
    stream = client.chat.completions.create(model="g", messages=MESSAGES, stream=True,
                                            extra_body={"mock_response": "streamed"})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed"
    assert not any(f.requests for f in fakes)
    rows: list[dict[str, Any]] = []

    def logged() -> bool:
        nonlocal rows
        rows = httpx.get(proc.base_url + "/spend/logs", headers=proc.headers(),
                         timeout=10).json()["logs"]
        return len(rows) >= 2
    until(logged, 10)
    assert {(r["deployment"], r["provider"], r["cost"], r["model_group"]) for r in rows} == {
        ("mock_response", "mock", 0, "g")}


def test_num_retries_in_the_body_limits_attempts(gwd: GwdFactory,
                                                 fakes: list[OpenAIFake]) -> None:
    for fake in fakes:
        fake.set_default(Fault(status=503))
    proc = gwd(config(fakes, cooldown_time=0.01))
    r = chat(proc, num_retries=0)
    assert r.status_code == 502 and "1 attempt" in r.json()["error"]["message"]
    assert sum(len(f.requests) for f in fakes) == 1
    assert all("num_retries" not in q.json for f in fakes for q in f.requests)


def test_timeout_in_the_body_bounds_the_attempt(gwd: GwdFactory,
                                                fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(delay=5))
    proc = gwd(config(fakes[:1]))
    started = time.monotonic()
    r = chat(proc, timeout=0.5)
    assert r.status_code == 504 and time.monotonic() - started < 4
    assert "timeout" not in fakes[0].requests[-1].json


@pytest.mark.parametrize("field, value", [("mock_response", {"x": 1}), ("num_retries", -1),
                                          ("num_retries", True), ("timeout", 0),
                                          ("timeout", "fast")])
def test_bad_options_are_400_naming_the_field(gwd: GwdFactory, fakes: list[OpenAIFake],
                                              field: str, value: Any) -> None:
    proc = gwd(config(fakes))
    r = chat(proc, **{field: value})
    assert r.status_code == 400 and r.json()["error"]["param"] == field
    assert not any(f.requests for f in fakes)


def test_null_options_mean_not_set(gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    proc = gwd(config(fakes[:1]))
    r = chat(proc, mock_response=None, num_retries=None, timeout=None, fallbacks=None)
    assert r.status_code == 200
    assert set(fakes[0].requests[-1].json) == {"model", "messages"}
