"""model_group_alias and wildcard groups ("*", "openai/*") against real fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from gwd.pricing import cost, lookup
from tests.conftest import GwdFactory
from tests.fakes import OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, until

MESSAGES: Any = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-provider-key-wildcards-0001"


@pytest.fixture
def fakes() -> Iterator[dict[str, OpenAIFake]]:
    started = {n: OpenAIFake(n).start() for n in ("any", "prefixed", "named")}
    yield started
    for fake in started.values():
        fake.stop()


def config(fakes: dict[str, OpenAIFake], **sections: Any) -> dict[str, Any]:
    def dep(name: str, model: str, fake: str) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {
            "model": model, "api_base": fakes[fake].base_url, "api_key": UPSTREAM_KEY}}
    return {"model_list": [dep("*", "openai/*", "any"),
                           dep("openai/*", "openai/*", "prefixed"),
                           dep("gpt-4o", "openai/gpt-4o", "named")],
            "general_settings": {"master_key": MASTER_KEY}, **sections}


def chat(proc: GwdProcess, model: str, key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": MESSAGES})


def new_key(proc: GwdProcess, **body: Any) -> str:
    r = httpx.post(proc.base_url + "/key/generate", headers=proc.headers(), json=body,
                   timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def test_star_routes_the_requested_name_priced_from_the_table(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    r = chat(proc, "gpt-4o-mini")
    assert r.status_code == 200, r.text
    fake = fakes["any"]
    assert fake.requests[-1].json["model"] == "gpt-4o-mini"
    price = lookup("openai", "gpt-4o-mini")
    assert price is not None
    expected = cost(price, fake.prompt_tokens, fake.completion_tokens)
    assert Decimal(r.headers["x-litellm-response-cost"]) == expected.normalize()
    r = chat(proc, "gpt-4.1-nano")
    assert fake.requests[-1].json["model"] == "gpt-4.1-nano"
    rows: list[dict[str, Any]] = []

    def logged() -> bool:
        nonlocal rows
        rows = httpx.get(proc.base_url + "/spend/logs", headers=proc.headers(),
                         timeout=10).json()["logs"]
        return len(rows) >= 2
    until(logged, 10)
    assert {(row["requested_model"], row["model_group"]) for row in rows} == {
        ("gpt-4o-mini", "*"), ("gpt-4.1-nano", "*")}


def test_the_most_specific_pattern_and_exact_groups_win(gwd: GwdFactory,
                                                        fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    assert chat(proc, "openai/gpt-4.1").status_code == 200
    assert fakes["prefixed"].requests[-1].json["model"] == "gpt-4.1"
    assert chat(proc, "gpt-4o").status_code == 200
    assert len(fakes["named"].requests) == 1 and not fakes["any"].requests
    assert chat(proc, "*").status_code == 200  # the pattern itself is just a name that matches


def test_sdk_and_streaming_through_a_wildcard(gwd: GwdFactory,
                                              fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    client = openai.OpenAI(base_url=proc.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    stream = client.chat.completions.create(model="o3-mini", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == fakes["any"].reply_text
    assert fakes["any"].requests[-1].json["model"] == "o3-mini"


def test_keys_models_rule_applies_to_wildcards(gwd: GwdFactory,
                                              fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    prefixed = new_key(proc, models=["openai/*"])
    assert chat(proc, "openai/gpt-4o-mini", prefixed).status_code == 200
    r = chat(proc, "gpt-4o-mini", prefixed)  # matches "*", which the key does not list
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
    concrete = new_key(proc, models=["gpt-4o-mini"])
    assert chat(proc, "gpt-4o-mini", concrete).status_code == 200
    assert chat(proc, "gpt-4.1", concrete).status_code == 403


def test_models_lists_wildcards_as_the_table_models_they_serve(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes, router_settings={"model_group_alias": {
        "gpt-4": "gpt-4o", "secret-alias": {"model": "gpt-4o", "hidden": True}}}))
    ids = {m["id"] for m in httpx.get(proc.base_url + "/v1/models", headers=proc.headers(),
                                      timeout=10).json()["data"]}
    assert "*" not in ids and "openai/*" not in ids
    assert {"gpt-4o", "gpt-4o-mini", "openai/gpt-4o-mini", "gpt-4"} <= ids
    assert "secret-alias" not in ids
    key = new_key(proc, models=["openai/*"])
    ids = {m["id"] for m in httpx.get(proc.base_url + "/v1/models", timeout=10, headers={
        "Authorization": f"Bearer {key}"}).json()["data"]}
    assert "openai/gpt-4o-mini" in ids and "gpt-4o-mini" not in ids and "gpt-4" not in ids


@pytest.mark.parametrize("section", ["router_settings", "litellm_settings"])
def test_model_group_alias_routes_to_its_group(gwd: GwdFactory, fakes: dict[str, OpenAIFake],
                                               section: str) -> None:
    cfg = config(fakes, **{section: {"model_group_alias": {"gpt-4": "gpt-4o"}}})
    cfg["model_list"] = cfg["model_list"][2:]  # no wildcard: the alias alone must route
    proc = gwd(cfg)
    r = chat(proc, "gpt-4")
    assert r.status_code == 200, r.text
    assert fakes["named"].requests[-1].json["model"] == "gpt-4o"
    allowed = new_key(proc, models=["gpt-4o"])
    assert chat(proc, "gpt-4", allowed).status_code == 200
    assert chat(proc, "gpt-3.5-turbo", allowed).status_code == 400
    other = new_key(proc, models=["something-else"])
    assert chat(proc, "gpt-4", other).status_code == 403


def test_fallback_to_a_wildcard_matched_name(gwd: GwdFactory,
                                             fakes: dict[str, OpenAIFake]) -> None:
    from tests.fakes import Fault
    fakes["named"].set_default(Fault(status=503))
    proc = gwd(config(fakes, router_settings={"num_retries": 0,
                                              "fallbacks": [{"gpt-4o": ["gpt-4o-mini"]}]}))
    r = chat(proc, "gpt-4o")
    assert r.status_code == 200 and r.headers["x-gw-model-group"] == "*"
    assert fakes["any"].requests[-1].json["model"] == "gpt-4o-mini"
