"""LiteLLM's key, spend-log, health and model-info flows against a real gwd (SPEC §4a).

Request bodies and expectations are those of LiteLLM's own proxy e2e tests
(tests/test_keys.py, test_spend_logs.py, test_health.py, test_models.py in
BerriAI/litellm) and of its docs: a real gwd process, a fake OpenAI upstream on
loopback, the official ``openai`` SDK where a client would use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.pg import create_database, drop_database

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
IN_PRICE, OUT_PRICE = Decimal("0.0000015"), Decimal("0.000002")
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"}]
UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake("litellm-compat") as upstream:
        yield upstream


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'litellm.db'}"
        return
    base = request.getfixturevalue("pg_url")
    url = create_database(base, "gw_litellm")
    yield url
    drop_database(base, url)


def config(fake: OpenAIFake, database_url: str | None = None) -> dict[str, Any]:
    """LiteLLM's e2e config names these groups (gpt-4, azure-models, dall-e-3, ...)."""
    params = {"model": "openai/gpt-4", "api_base": fake.base_url + "/v1",
              "api_key": UPSTREAM_KEY, "input_cost_per_token": str(IN_PRICE),
              "output_cost_per_token": str(OUT_PRICE)}
    general: dict[str, Any] = {"master_key": MASTER_KEY}
    if database_url:
        general["database_url"] = database_url
    return {"model_list": [
        {"model_name": "gpt-4", "litellm_params": params},
        {"model_name": "gpt-4", "litellm_params": {**params, "model": "openai/gpt-4-0613"}},
        {"model_name": "gpt-3.5-turbo", "litellm_params": {**params,
                                                           "model": "openai/gpt-3.5-turbo"}},
        {"model_name": "azure-models", "litellm_params": params}],
        "general_settings": general}


def generate(proc: GwdProcess, **body: Any) -> dict[str, Any]:
    """LiteLLM's test_keys.py generate_key body, with overrides."""
    data = {"models": ["azure-models", "gpt-4", "dall-e-3"], "aliases": {"mistral-7b": "gpt-3.5-turbo"},
            "duration": None, "max_budget": None, "budget_duration": None, **body}
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json=data)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def chat(proc: GwdProcess, key: str, model: str = "gpt-4") -> httpx.Response:
    return httpx.post(proc.base_url + "/chat/completions", json={
        "model": model, "messages": MESSAGES}, headers={"Authorization": f"Bearer {key}"})


def key_info(proc: GwdProcess, call_key: str, get_key: str | None = None) -> httpx.Response:
    params = {"key": get_key} if get_key is not None else {}
    return httpx.get(proc.base_url + "/key/info", params=params,
                     headers={"Authorization": f"Bearer {call_key}"})


def test_key_generate_update_info_as_litellm_does(gwd: GwdFactory, fake: OpenAIFake,
                                                  database_url: str) -> None:
    proc = gwd(config(fake, database_url), secrets=[UPSTREAM_KEY])
    made = generate(proc)
    key = made["key"]
    # LiteLLM's response fields beside gw's; the key's hash is never shown
    assert made["token"] == made["key_id"] and made["key_name"] == "sk-..." + key[-4:]
    assert (made["user_id"], made["team_id"], made["blocked"]) == (None, None, False)
    assert made["models"] == ["azure-models", "gpt-4", "dall-e-3"]
    # its alias names a group outside its models: kept, but it cannot reach it
    assert chat(proc, key, "mistral-7b").status_code == 403
    # /key/update: the updated record at the top level (gw's "info" beside it)
    r = httpx.post(proc.base_url + "/key/update", headers=MASTER,
                   json={"key": key, "models": ["gpt-4"]})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["models"] == ["gpt-4"] and updated["key_id"] == made["key_id"]
    assert updated["info"]["models"] == ["gpt-4"] and updated["token"] == made["key_id"]
    assert chat(proc, key).status_code == 200
    assert chat(proc, key, "azure-models").status_code == 403  # no longer in its models
    # /key/info: as admin, as the key itself (with and without ?key=), as another key
    assert key_info(proc, MASTER_KEY, key).status_code == 200
    assert key_info(proc, key, key).json()["info"]["models"] == ["gpt-4"]
    assert key_info(proc, key).json()["info"]["key_id"] == made["key_id"]
    other = generate(proc)["key"]
    assert key_info(proc, other, key).status_code == 403
    unknown = key_info(proc, MASTER_KEY, "sk-" + "x" * 22)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "key_not_found"
    # /key/delete (LiteLLM's body), then the key is refused at once
    r = httpx.post(proc.base_url + "/key/delete", headers=MASTER, json={"keys": [key]})
    assert r.status_code == 200 and chat(proc, key).status_code == 401


@pytest.mark.parametrize("field, value", [
    ("organization_id", "org-1"), ("budget_duration", "5s"), ("rpm_limit", 10),
    ("tpm_limit", 1000), ("max_parallel_requests", 2), ("soft_budget", 1.5),
    ("model_max_budget", {"gpt-4": 1}), ("tags", ["a"]),
])
def test_litellm_fields_gw_lacks_are_400_naming_them(gwd: GwdFactory, fake: OpenAIFake,
                                                     field: str, value: Any) -> None:
    proc = gwd(config(fake))
    before = httpx.get(proc.base_url + "/key/list", headers=MASTER).json()["keys"]
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                   json={"models": ["gpt-4"], field: value})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == field and f"'{field}'" in err["message"]
    assert "gw does not support it yet" in err["message"]
    assert httpx.get(proc.base_url + "/key/list", headers=MASTER).json()["keys"] == before
    # null, and LiteLLM's defaults ([] / {} / 0 / "default"), mean "not set"
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={
        field: None, "spend": 0, "permissions": {}, "allowed_cache_controls": [],
        "key_type": "default", "auto_rotate": False, "blocked": False})
    assert r.status_code == 200, r.text


def test_litellm_durations_and_custom_key(gwd: GwdFactory, fake: OpenAIFake) -> None:
    proc = gwd(config(fake))
    for duration, days in (("2w", 14), ("1mo", 30)):
        before = datetime.now(UTC)
        expires = datetime.fromisoformat(generate(proc, duration=duration)["expires"])
        assert abs((expires - before).total_seconds() - days * 86400) < 10
    mine = "sk-my-own-key-0123456789"
    assert generate(proc, key=mine)["key"] == mine
    assert chat(proc, mine).status_code == 200
    r = httpx.post(proc.base_url + "/key/generate", headers=MASTER, json={"key": mine})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "key")


def spend_rows(proc: GwdProcess, request_id: str) -> list[dict[str, Any]]:
    logs = httpx.get(proc.base_url + "/spend/logs", params={"request_id": request_id},
                     headers=MASTER)
    assert logs.status_code == 200, logs.text
    return logs.json()  # type: ignore[no-any-return]


def test_spend_logs_find_the_answer_id_the_client_saw(gwd: GwdFactory, fake: OpenAIFake,
                                                      database_url: str) -> None:
    """LiteLLM's test_key_info_spend_values: ``/spend/logs?request_id=<the answer's id>``
    finds the call's row, streamed or not, from gw's mock/ provider and from an OpenAI
    upstream (whose answer is forwarded as it came)."""
    cfg = config(fake, database_url)
    cfg["model_list"].append({"model_name": "mocked", "litellm_params": {
        "model": "mock/mocked", "input_cost_per_token": str(IN_PRICE),
        "output_cost_per_token": str(OUT_PRICE)}})
    proc = gwd(cfg, secrets=[UPSTREAM_KEY])
    key = generate(proc, models=["gpt-4", "mocked"])["key"]
    client = openai.OpenAI(api_key=key, base_url=proc.base_url)
    seen: list[tuple[str, str, bool]] = []  # (answer id, x-request-id, streamed)
    for model in ("mocked", "gpt-4"):
        raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
        seen.append((raw.parse().id, raw.headers["x-request-id"], False))
        if model == "mocked":  # the fake gives every answer one id: streamed further down
            with client.chat.completions.with_streaming_response.create(
                    model=model, messages=MESSAGES, stream=True) as response:
                ids = {chunk.id for chunk in response.parse()}
                assert len(ids) == 1
                seen.append((ids.pop(), response.headers["x-request-id"], True))
    assert seen[0][0].startswith("chatcmpl-") and seen[2][0] == "chatcmpl-fake0001"
    assert len({answer for answer, _, _ in seen}) == 3
    for answer, gw_id, streamed in seen:
        rows = spend_rows(proc, answer)
        assert [(r["request_id"], r["gw_request_id"], r["stream"]) for r in rows] == \
            [(answer, gw_id, streamed)]
        assert rows[0]["response_id"] == answer
        # gw's own id still finds the same row
        assert [r["gw_request_id"] for r in spend_rows(proc, gw_id)] == [gw_id]
    # a streamed call to the fake answers with the same id: both rows, newest first
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4", messages=MESSAGES, stream=True) as response:
        assert {chunk.id for chunk in response.parse()} == {"chatcmpl-fake0001"}
        streamed_id = response.headers["x-request-id"]
    rows = spend_rows(proc, "chatcmpl-fake0001")
    assert [(r["gw_request_id"], r["stream"]) for r in rows] == \
        [(streamed_id, True), (seen[2][1], False)]


def test_spend_logs_by_request_id_and_key_match_key_spend(gwd: GwdFactory, fake: OpenAIFake,
                                                          database_url: str) -> None:
    proc = gwd(config(fake, database_url), secrets=[UPSTREAM_KEY])
    key = generate(proc)["key"]
    client = openai.OpenAI(api_key=key, base_url=proc.base_url)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=MESSAGES)
    request_id = raw.headers["x-request-id"]
    other = generate(proc)["key"]
    assert chat(proc, other).status_code == 200
    logs = httpx.get(proc.base_url + "/spend/logs", params={"request_id": request_id},
                     headers=MASTER)
    assert logs.status_code == 200
    rows = logs.json()
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    answer = raw.parse()
    usage = answer.usage
    assert usage is not None
    # LiteLLM's request_id is the answer's id; gw's own (x-request-id) is beside it
    assert (row["request_id"], row["gw_request_id"], row["prompt_tokens"],
            row["completion_tokens"]) == \
        (answer.id, request_id, usage.prompt_tokens, usage.completion_tokens)
    assert row["total_tokens"] == usage.prompt_tokens + usage.completion_tokens
    expected = usage.prompt_tokens * IN_PRICE + usage.completion_tokens * OUT_PRICE
    assert Decimal(str(row["spend"])) == expected
    assert row["model"] == row["model_group"] == "gpt-4"
    assert row["startTime"] <= row["endTime"] and "metadata" in row and "user" in row
    info = key_info(proc, key, key).json()["info"]
    assert round(info["spend"], 8) == round(float(expected), 8)
    assert row["api_key"] == info["key_id"]
    # ?api_key= gives that key's rows only; ?user_id= none (gw has no users yet)
    mine = httpx.get(proc.base_url + "/spend/logs", params={"api_key": key},
                     headers=MASTER).json()
    assert [r["gw_request_id"] for r in mine] == [request_id]
    assert httpx.get(proc.base_url + "/spend/logs", params={"user_id": "someone"},
                     headers=MASTER).json() == []
    today = datetime.now(UTC).date().isoformat()
    dated = httpx.get(proc.base_url + "/spend/logs", headers=MASTER, params={
        "start_date": today, "end_date": today}).json()
    assert len(dated) == 2
    assert httpx.get(proc.base_url + "/spend/logs", headers=MASTER, params={
        "request_id": "chatcmpl-nothing"}).json() == []
    # gw's own parameters keep gw's page
    assert "logs" in httpx.get(proc.base_url + "/spend/logs", headers=MASTER).json()
    # /global/spend/keys and /global/spend/models
    top = httpx.get(proc.base_url + "/global/spend/keys", params={"limit": 1},
                    headers=MASTER).json()
    assert len(top) == 1 and top[0]["total_spend"] == float(expected)
    models = httpx.get(proc.base_url + "/global/spend/models", headers=MASTER).json()
    assert models[0]["model"] == "gpt-4" and models[0]["total_spend"] == float(2 * expected)
    report = httpx.get(proc.base_url + "/global/spend/report", headers=MASTER, params={
        "start_date": today, "end_date": today, "group_by": "api_key"}).json()
    assert report[0]["group_by_day"] == today and len(report[0]["api_keys"]) == 2
    text = str(report) + str(top) + str(rows)
    assert key not in text and other not in text


def test_key_crossing_budget_says_budget_exceeded(gwd: GwdFactory, fake: OpenAIFake,
                                                  database_url: str) -> None:
    proc = gwd(config(fake, database_url))
    key = generate(proc, max_budget=0.0000001)["key"]
    assert chat(proc, key).status_code == 200
    r = chat(proc, key)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "budget_exceeded"
    assert "Budget has been exceeded!" in err["message"]
    assert "ExceededTokenBudget: Current spend for token:" in err["message"]
    assert "Max Budget for Token: 1e-07" in err["message"]


def test_health_readiness_liveliness_routes(gwd: GwdFactory, fake: OpenAIFake) -> None:
    proc = gwd(config(fake), secrets=[UPSTREAM_KEY])
    health = httpx.get(proc.base_url + "/health", headers=MASTER)
    assert health.status_code == 200
    body = health.json()
    assert body["healthy_count"] + body["unhealthy_count"] == 4
    assert {e["model_name"] for e in body["healthy_endpoints"]} == {
        "gpt-4", "gpt-3.5-turbo", "azure-models"}
    assert UPSTREAM_KEY not in health.text and "api_key" not in health.text
    ready = httpx.get(proc.base_url + "/health/readiness")
    assert ready.status_code == 200 and "status" in ready.json()
    details = httpx.get(proc.base_url + "/health/readiness/details", headers=MASTER)
    assert details.status_code == 200 and "litellm_version" in details.json()
    assert httpx.get(proc.base_url + "/health/liveliness").status_code == 200
    routes = httpx.get(proc.base_url + "/routes")
    assert routes.status_code == 200
    paths = {r["path"] for r in routes.json()["routes"]}
    assert {"/key/generate", "/spend/logs", "/model/info", "/chat/completions"} <= paths


def test_model_info_shows_the_keys_models_without_secrets(gwd: GwdFactory,
                                                          fake: OpenAIFake) -> None:
    proc = gwd(config(fake), secrets=[UPSTREAM_KEY])
    key = generate(proc, models=["gpt-4"])["key"]
    headers = {"Authorization": f"Bearer {key}"}
    info = httpx.get(proc.base_url + "/model/info", headers=headers)
    assert info.status_code == 200 and UPSTREAM_KEY not in info.text
    data = info.json()["data"]
    assert [m["model_name"] for m in data] == ["gpt-4", "gpt-4"]
    assert all(set(m["litellm_params"]) == {"model"} for m in data)  # no key, no URL
    assert data[0]["model_info"]["input_cost_per_token"] == float(IN_PRICE)
    first = data[0]
    one = httpx.get(proc.base_url + "/model/info", headers=headers,
                    params={"litellm_model_id": first["model_info"]["id"]}).json()["data"]
    assert one == [first]
    everything = httpx.get(proc.base_url + "/v1/model/info", headers=MASTER).json()["data"]
    assert len(everything) == 4  # the master key sees every deployment and its api_base
    assert {m["litellm_params"]["api_base"] for m in everything} == {fake.base_url + "/v1"}
    v2 = httpx.get(proc.base_url + "/v2/model/info", headers=MASTER,
                   params={"page": 2, "size": 3}).json()
    assert (len(v2["data"]), v2["total_count"], v2["total_pages"]) == (1, 4, 2)
    groups = httpx.get(proc.base_url + "/model_group/info", headers=headers).json()["data"]
    assert [g["model_group"] for g in groups] == ["gpt-4"]
    assert groups[0]["providers"] == ["openai"] and groups[0]["mode"] == "chat"


def post(proc: GwdProcess, path: str, body: dict[str, Any],
         key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(proc.base_url + path, json=body,
                      headers={"Authorization": f"Bearer {key}"})


def test_regenerate_keeps_record_and_spend_and_refuses_the_old_secret(
        gwd: GwdFactory, fake: OpenAIFake, database_url: str) -> None:
    proc = gwd(config(fake, database_url), secrets=[UPSTREAM_KEY])
    made = generate(proc, models=["gpt-4"], max_budget=5, key_alias="rotating")
    old = made["key"]
    assert chat(proc, old).status_code == 200
    spent = key_info(proc, MASTER_KEY, old).json()["info"]["spend"]
    r = post(proc, "/key/regenerate", {"key": old, "max_budget": 6})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["key"] != old and new["key"].startswith("sk-")
    assert (new["key_id"], new["token"], new["key_alias"], new["max_budget"]) == \
        (made["key_id"], made["key_id"], "rotating", 6)
    assert old not in r.text
    refused = chat(proc, old)
    assert refused.status_code == 401 and old not in refused.text
    assert chat(proc, new["key"]).status_code == 200
    info = key_info(proc, MASTER_KEY, new["key"]).json()["info"]
    assert info["requests"] == 2 and info["spend"] > spent > 0
    logs = httpx.get(proc.base_url + "/spend/logs", params={"api_key": new["key"]},
                     headers=MASTER).json()
    assert len(logs) == 2  # the ledger moved with the key
    # LiteLLM's path form, with a chosen new key; an unknown key is 404
    chosen = "sk-rotated-by-path-000000"
    r = httpx.post(proc.base_url + f"/key/{made['key_id']}/regenerate", headers=MASTER,
                   json={"new_key": chosen})
    assert r.status_code == 200 and r.json()["key"] == chosen
    assert chat(proc, new["key"]).status_code == 401 and chat(proc, chosen).status_code == 200
    assert post(proc, "/key/regenerate", {"key": "sk-" + "q" * 22}).status_code == 404
    r = post(proc, "/key/regenerate", {"key": chosen, "grace_period": "1h"})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "grace_period")
    assert chat(proc, chosen).status_code == 200  # the refused call changed nothing


def test_block_and_unblock(gwd: GwdFactory, fake: OpenAIFake, database_url: str) -> None:
    proc = gwd(config(fake, database_url))
    made = generate(proc)
    key = made["key"]
    r = post(proc, "/key/block", {"key": key})
    assert r.status_code == 200 and r.json()["blocked"] is True
    refused = chat(proc, key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "blocked_key"
    assert "Key is blocked" in refused.json()["error"]["message"]
    assert key_info(proc, MASTER_KEY, key).json()["info"]["blocked"] is True
    assert post(proc, "/key/unblock", {"key": made["key_id"]}).json()["blocked"] is False
    assert chat(proc, key).status_code == 200
    assert post(proc, "/key/health", {}, key).json() == {"key": "healthy",
                                                         "logging_callbacks": None}
    assert post(proc, "/key/block", {"key": "sk-" + "z" * 22}).status_code == 404
    assert post(proc, "/key/block", {"key": key}, key).status_code == 403  # admin only


def test_key_list_filters_and_pagination(gwd: GwdFactory, fake: OpenAIFake) -> None:
    proc = gwd(config(fake))
    made = [generate(proc, key_alias="batch") for _ in range(3)]
    generate(proc, key_alias="other")

    def listed(**params: Any) -> dict[str, Any]:
        r = httpx.get(proc.base_url + "/key/list", params=params, headers=MASTER)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    page = listed(key_alias="batch", size=2)
    assert (page["total_count"], page["total_pages"], page["current_page"]) == (3, 2, 1)
    assert len(page["keys"]) == 2 and len(listed(key_alias="batch", size=2, page=2)["keys"]) == 1
    one = listed(key_hash=made[0]["key_id"])
    assert [k["key_id"] for k in one["keys"]] == [made[0]["key_id"]] and one["total_count"] == 1
    assert listed(team_id="t1")["keys"] == [] and listed(user_id="u1")["total_count"] == 0
    assert listed()["total_count"] == 4


@pytest.mark.postgres
def test_regenerate_refuses_the_old_secret_on_another_replica(
        gwd: GwdFactory, fake: OpenAIFake, pg_url: str) -> None:
    url = create_database(pg_url, "gw_rekey")
    a = b = None
    try:
        a = gwd(config(fake, url), name="a")
        b = gwd(config(fake, url), name="b")
        old = generate(a)["key"]
        assert chat(b, old).status_code == 200  # b caches the key
        new = post(a, "/key/regenerate", {"key": old}).json()["key"]
        deadline = time.monotonic() + 1.0
        while chat(b, old).status_code == 200:
            assert time.monotonic() < deadline, "the old secret still works on b after 1 s"
            time.sleep(0.05)
        assert chat(b, new).status_code == 200
        post(a, "/key/block", {"key": new})
        deadline = time.monotonic() + 1.0
        while chat(b, new).status_code == 200:
            assert time.monotonic() < deadline, "the blocked key still works on b after 1 s"
            time.sleep(0.05)
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.stop()
        drop_database(pg_url, url)
