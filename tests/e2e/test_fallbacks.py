"""Fallbacks (router_settings / litellm_settings / request body) against real fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, until

MESSAGES: Any = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-provider-key-fallbacks-0001"
CONTEXT_ERROR = {"error": {"message": "This model's maximum context length is 4097 tokens. "
                           "However, your messages resulted in 9000 tokens.",
                           "type": "invalid_request_error", "param": "messages",
                           "code": "context_length_exceeded"}}
POLICY_ERROR = {"error": {"message": "Your request was rejected as a result of our safety "
                          "system.", "type": "invalid_request_error",
                          "code": "content_policy_violation"}}
BAD_PARAM = {"error": {"message": "Unrecognized request argument supplied: frobnicate",
                       "type": "invalid_request_error"}}


@pytest.fixture
def fakes() -> Iterator[dict[str, OpenAIFake]]:
    started = {name: OpenAIFake(name).start() for name in ("small", "big", "other")}
    yield started
    for fake in started.values():
        fake.stop()


def dep(name: str, fake: OpenAIFake, model: str = "gpt-4o", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"openai/{model}",
                                                   "api_base": fake.base_url,
                                                   "api_key": UPSTREAM_KEY, **params}}


def config(fakes: dict[str, OpenAIFake], **sections: Any) -> dict[str, Any]:
    return {"model_list": [dep("zephyr-beta", fakes["small"], "gpt-4o-mini",
                               input_cost_per_token=0, output_cost_per_token=0),
                           dep("gpt-4o", fakes["big"], "gpt-4o"),
                           dep("other", fakes["other"], "gpt-4o-mini")],
            "general_settings": {"master_key": MASTER_KEY},
            "router_settings": {"num_retries": 1}, **sections}


def chat(proc: GwdProcess, model: str = "zephyr-beta", key: str = MASTER_KEY,
         **body: Any) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MESSAGES, **body})


def ledger(proc: GwdProcess, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def enough() -> bool:
        nonlocal rows
        rows = httpx.get(proc.base_url + "/spend/logs", headers=proc.headers(),
                         timeout=10).json()["logs"]
        return len(rows) >= count
    until(enough, 10)
    return rows


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=proc.headers(), json=body,
                   timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def test_router_fallbacks_answer_from_the_next_group_billed_there(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=503))
    proc = gwd(config(fakes, router_settings={"num_retries": 1,
                                              "fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    r = chat(proc)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == fakes["big"].reply_text
    assert r.headers["x-litellm-attempted-fallbacks"] == "1"
    assert r.headers["x-gw-model-group"] == "gpt-4o"
    assert Decimal(r.headers["x-litellm-response-cost"]) > 0  # gpt-4o's price, not zephyr's 0
    assert len(fakes["small"].requests) >= 1 and len(fakes["big"].requests) == 1
    row = ledger(proc, 1)[0]
    assert (row["requested_model"], row["model_group"], row["status"]) == (
        "zephyr-beta", "gpt-4o", "success")
    assert row["deployment"].startswith("openai/gpt-4o@") and Decimal(str(row["cost"])) > 0


def test_streamed_call_falls_back_too(gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=500))
    proc = gwd(config(fakes, litellm_settings={"fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    client = openai.OpenAI(base_url=proc.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    with client.chat.completions.with_streaming_response.create(
            model="zephyr-beta", messages=MESSAGES, stream=True) as resp:
        assert resp.headers["x-gw-model-group"] == "gpt-4o"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text == fakes["big"].reply_text
    assert ledger(proc, 1)[0]["model_group"] == "gpt-4o"


def test_default_fallbacks_apply_to_groups_without_their_own(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(reset=True))
    proc = gwd(config(fakes, litellm_settings={"default_fallbacks": ["other"],
                                               "fallbacks": [{"gpt-4o": ["zephyr-beta"]}]}))
    r = chat(proc)
    assert r.status_code == 200 and r.headers["x-gw-model-group"] == "other"


def test_fallback_groups_are_tried_in_order_until_one_answers(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=503))
    fakes["big"].set_default(Fault(status=429))
    proc = gwd(config(fakes, router_settings={
        "num_retries": 0, "fallbacks": [{"zephyr-beta": ["gpt-4o", "other"]}]}))
    r = chat(proc)
    assert r.status_code == 200, r.text
    assert (r.headers["x-litellm-attempted-fallbacks"], r.headers["x-gw-model-group"]) == (
        "2", "other")
    assert len(fakes["big"].requests) == 1


def test_when_every_group_fails_the_client_gets_the_last_error(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    for fake in fakes.values():
        fake.set_default(Fault(status=503))
    proc = gwd(config(fakes, router_settings={"num_retries": 0,
                                              "fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    r = chat(proc)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    assert len(ledger(proc, 1)) == 1  # one row for the call, not one per group


def test_context_window_error_goes_to_context_window_fallbacks_only(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=400, body=CONTEXT_ERROR))
    proc = gwd(config(fakes, litellm_settings={
        "context_window_fallbacks": [{"zephyr-beta": ["gpt-4o"]}],
        "fallbacks": [{"zephyr-beta": ["other"]}]}))
    r = chat(proc)
    assert r.status_code == 200 and r.headers["x-gw-model-group"] == "gpt-4o"
    assert len(fakes["small"].requests) == 1  # a 400 is not retried within the group
    assert not fakes["other"].requests


def test_content_policy_error_goes_to_content_policy_fallbacks(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=400, body=POLICY_ERROR))
    proc = gwd(config(fakes, router_settings={
        "content_policy_fallbacks": [{"zephyr-beta": ["other"]}]}))
    r = chat(proc)
    assert r.status_code == 200 and r.headers["x-gw-model-group"] == "other"


def test_other_client_errors_fall_back_nowhere(gwd: GwdFactory,
                                              fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=400, body=BAD_PARAM))
    proc = gwd(config(fakes, router_settings={
        "fallbacks": [{"zephyr-beta": ["gpt-4o"]}],
        "context_window_fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    r = chat(proc)
    assert r.status_code == 400 and "frobnicate" in r.json()["error"]["message"]
    assert not fakes["big"].requests


@pytest.mark.parametrize("has_access", [True, False])
def test_request_body_fallbacks_obey_the_keys_models(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake], has_access: bool) -> None:
    """LiteLLM's test_chat_completion_client_fallbacks, against a real failing upstream."""
    fakes["small"].set_default(Fault(status=503))
    proc = gwd(config(fakes))
    models = ["zephyr-beta", "gpt-4o"] if has_access else ["zephyr-beta"]
    key = new_key(proc, models=models)
    r = chat(proc, key=key, fallbacks=["gpt-4o"])
    if has_access:
        assert r.status_code == 200 and r.headers["x-litellm-attempted-fallbacks"] == "1"
        assert "fallbacks" not in fakes["big"].requests[-1].json  # gw's, never forwarded
    else:
        assert r.status_code == 502 and not fakes["big"].requests
    assert all("fallbacks" not in q.json for q in fakes["small"].requests)


def test_request_body_fallbacks_replace_the_configured_ones(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=503))
    proc = gwd(config(fakes, router_settings={"fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    r = chat(proc, fallbacks=["other"])
    assert r.status_code == 200 and r.headers["x-gw-model-group"] == "other"
    assert not fakes["big"].requests


@pytest.mark.parametrize("value, fragment", [
    ([{"model": "gpt-4o", "messages": []}], "not supported by gw"),
    ("gpt-4o", "must be a list"),
    ([1], "must be a list of model names"),
])
def test_bad_request_fallbacks_are_400(gwd: GwdFactory, fakes: dict[str, OpenAIFake],
                                       value: Any, fragment: str) -> None:
    proc = gwd(config(fakes))
    r = chat(proc, fallbacks=value)
    assert r.status_code == 400 and r.json()["error"]["param"] == "fallbacks"
    assert fragment in r.json()["error"]["message"]
    assert not any(f.requests for f in fakes.values())


def test_null_request_fallbacks_mean_not_set(gwd: GwdFactory,
                                             fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    r = chat(proc, fallbacks=None)
    assert r.status_code == 200 and "fallbacks" not in fakes["small"].requests[-1].json


def test_budgeted_key_reserves_for_the_dearest_fallback(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    """zephyr-beta is free; its fallback is not: the reservation must cover the fallback."""
    fakes["small"].set_default(Fault(status=503))
    proc = gwd(config(fakes, router_settings={"fallbacks": [{"zephyr-beta": ["gpt-4o"]}]}))
    key = new_key(proc, max_budget=0.0001)
    r = chat(proc, key=key, max_tokens=100_000)
    assert r.status_code == 400 and r.json()["error"]["code"] == "budget_exceeded"
    assert not fakes["small"].requests and not fakes["big"].requests


def test_reload_adds_and_removes_fallbacks(gwd: GwdFactory,
                                           fakes: dict[str, OpenAIFake]) -> None:
    fakes["small"].set_default(Fault(status=503))
    proc = gwd(config(fakes))
    assert chat(proc).status_code == 502
    proc.config = config(fakes, router_settings={"fallbacks": [{"zephyr-beta": ["gpt-4o"]}]})
    proc.config_path.write_text(__import__("yaml").safe_dump(proc.config))
    assert httpx.post(proc.base_url + "/config/reload", headers=proc.headers(),
                      timeout=10).status_code == 200
    assert chat(proc).status_code == 200
