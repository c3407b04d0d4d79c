"""The Responses API and Azure's routes end to end: the openai SDK -> gwd -> fakes.

One gwd (module scope, SQLite ledger): ``gpt`` (``openai/`` with a Responses
upstream: forwarded), ``az`` (``azure/`` with one: forwarded to Azure's path),
``demo`` (``mock/``: translated to chat, non-stream only) and ``azchat``
(``azure/`` chat, reached through ``/openai/deployments/...`` by ``AzureOpenAI``).
Each call uses a virtual key; the ledger's cost is asserted exactly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import assert_no_secret, config_secrets
from tests.fakes import AzureFake
from tests.fakes.responses_fake import AzureResponsesFake, ResponsesFake
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, rows

PROVIDER_KEY = "sk-openai-upstream-secret-31415926535"
IN_PRICE, OUT_PRICE = Decimal("0.0000025"), Decimal("0.00001")
PRICES = {"input_cost_per_token": str(IN_PRICE), "output_cost_per_token": str(OUT_PRICE)}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    gpt = ResponsesFake("gpt-fake", prompt_tokens=20, completion_tokens=9)
    gpt.cached_tokens, gpt.reasoning_tokens = 8, 3
    az = AzureResponsesFake("az-fake", prompt_tokens=11, completion_tokens=4)
    azchat = AzureFake("azchat-fake", prompt_tokens=13, completion_tokens=7)
    with gpt, az, azchat:
        yield {"gpt": gpt, "az": az, "azchat": azchat}


@pytest.fixture(scope="module")
def config(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("responses-db") / "gw.db"
    secret = {"api_key": PROVIDER_KEY, **PRICES}
    return {"model_list": [
        {"model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fakes["gpt"].base_url + "/v1", **secret}},
        {"model_name": "az", "litellm_params": {
            "model": "azure/resp-dep", "api_base": fakes["az"].base_url,
            "api_version": "2025-03-01-preview", **secret}},
        {"model_name": "azchat", "litellm_params": {
            "model": "azure/chat-dep", "api_base": fakes["azchat"].base_url,
            "api_version": "2024-10-21", **secret}},
        {"model_name": "demo", "litellm_params": {"model": "mock/demo",
                                                  "mock_response": "Mock says hi.", **PRICES}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": f"sqlite:///{db}"}}


@pytest.fixture(scope="module")
def server(config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GwdProcess]:
    proc = GwdProcess(config, tmp_path_factory.mktemp("responses")).start()
    yield proc
    proc.stop()
    assert_no_secret(proc.log_text(), config_secrets(config), "gwd's log")


@pytest.fixture
def key(server: GwdProcess) -> str:
    r = httpx.post(server.base_url + "/key/generate", json={"max_budget": 5},
                   headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


@pytest.fixture
def client(server: GwdProcess, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0,
                       timeout=20) as c:
        yield c


def ledger(config: dict[str, Any], key: str, count: int) -> list[Any]:
    url = str(config["general_settings"]["database_url"])
    deadline = time.monotonic() + 10
    while len(found := rows(url, key_hash(key))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def endpoints(config: dict[str, Any], key: str) -> list[str]:
    path = str(config["general_settings"]["database_url"]).removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute(
            "SELECT endpoint FROM gw_spend_log WHERE key_hash = ?", (key_hash(key),))]


def price(prompt: int, completion: int) -> Decimal:
    return prompt * IN_PRICE + completion * OUT_PRICE


# ------------------------------------------------------------------ /v1/responses

def test_create_is_forwarded_and_billed(client: openai.OpenAI, fakes: dict[str, Any],
                                        key: str, config: dict[str, Any]) -> None:
    gpt = fakes["gpt"]
    before = len(gpt.requests)
    reply = client.responses.create(model="gpt", input="Hi", instructions="Be brief.",
                                    reasoning={"effort": "low"}, store=True)
    assert reply.output_text == gpt.reply_text
    assert reply.usage is not None and reply.usage.input_tokens_details.cached_tokens == 8
    sent = gpt.requests[before]
    assert sent.path == "/v1/responses"
    assert sent.json == {"model": "gpt-4o", "input": "Hi", "instructions": "Be brief.",
                         "reasoning": {"effort": "low"}, "store": True}
    assert sent.header("authorization") == f"Bearer {PROVIDER_KEY}"
    [row] = ledger(config, key, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.cost) == (20, 9, price(20, 9))
    assert row.response_id == reply.id  # resp_..., forwarded as the upstream sent it
    assert endpoints(config, key) == ["responses"]


def test_stream_passes_events_through(client: openai.OpenAI, fakes: dict[str, Any], key: str,
                                      config: dict[str, Any]) -> None:
    with client.responses.create(model="gpt", input="Hi", stream=True) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == fakes["gpt"].reply_text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    [row] = ledger(config, key, 1)
    assert row.status == "success" and row.cost == price(20, 9)
    created = events[0]
    assert created.type == "response.created" and row.response_id == created.response.id


def test_stream_with_the_sdks_helper(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    with client.responses.stream(model="gpt", input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == fakes["gpt"].reply_text


def test_retrieve_and_delete_find_the_upstream(client: openai.OpenAI) -> None:
    made = client.responses.create(model="gpt", input="Hi")
    assert client.responses.retrieve(made.id).id == made.id
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")


def test_azure_deployment_gets_azures_path(client: openai.OpenAI, fakes: dict[str, Any],
                                           key: str, config: dict[str, Any]) -> None:
    az = fakes["az"]
    before = len(az.requests)
    reply = client.responses.create(model="az", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}])
    assert reply.output_text == az.reply_text
    sent = az.requests[before]
    assert sent.path == "/openai/responses"
    assert sent.query == {"api-version": "2025-03-01-preview"}
    assert sent.header("api-key") == PROVIDER_KEY and sent.json["model"] == "resp-dep"
    assert client.responses.retrieve(reply.id).id == reply.id    # found at Azure too
    [row] = ledger(config, key, 1)
    assert row.cost == price(11, 4)


def test_other_providers_get_a_chat_translation(client: openai.OpenAI, key: str,
                                                config: dict[str, Any]) -> None:
    reply = client.responses.create(model="demo", input="Hi", max_output_tokens=50)
    assert reply.output_text == "Mock says hi."
    assert reply.status == "completed" and reply.model == "demo"
    assert reply.usage is not None and reply.usage.output_tokens > 0
    [row] = ledger(config, key, 1)
    assert row.cost == price(reply.usage.input_tokens, reply.usage.output_tokens)
    assert row.response_id == reply.id and reply.id.startswith("resp_")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="demo", input="Hi", stream=True)
    assert "streaming" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="demo", input="Hi", previous_response_id="resp_x")
    assert len(ledger(config, key, 1)) == 1     # refusals store nothing


def test_bad_requests_are_refused(server: GwdProcess, key: str) -> None:
    for body in ({"model": "gpt"}, {"model": "gpt", "input": 5},
                 {"model": "gpt", "input": "x", "max_output_tokens": 0},
                 {"model": "gpt", "input": "x", "metadata": {"api_base": "http://e"}},
                 {"model": "nope", "input": "x"}):
        r = httpx.post(server.base_url + "/v1/responses", json=body,
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 400, (body, r.text)
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


# ------------------------------------------------------------------ Azure routes

def test_azure_sdk_chat_stream_and_embeddings(server: GwdProcess, key: str,
                                              fakes: dict[str, Any],
                                              config: dict[str, Any]) -> None:
    azchat = fakes["azchat"]
    before = len(azchat.requests)
    with openai.AzureOpenAI(azure_endpoint=server.base_url, api_key=key,
                            api_version="2024-10-21", max_retries=0, timeout=20) as az:
        reply = az.chat.completions.create(model="azchat", max_tokens=20,
                                           messages=[{"role": "user", "content": "Hi"}])
        chunks = list(az.chat.completions.create(
            model="azchat", messages=[{"role": "user", "content": "Hi"}], stream=True))
        vectors = az.embeddings.create(model="azchat", input="Hi")
    assert reply.choices[0].message.content == azchat.reply_text
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
        == azchat.reply_text
    assert len(vectors.data) == 1
    sent = azchat.requests[before]
    assert sent.path == "/openai/deployments/chat-dep/chat/completions"
    assert sent.header("api-key") == PROVIDER_KEY
    found = ledger(config, key, 3)
    assert sorted(r.cost for r in found) == sorted([price(13, 7), price(13, 7),
                                                    price(13, 0)])


def test_azure_route_keeps_the_keys_rules(server: GwdProcess) -> None:
    r = httpx.post(server.base_url + "/openai/deployments/azchat/chat/completions",
                   params={"api-version": "2024-10-21"}, headers={"api-key": "sk-wrong"},
                   json={"messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 401
    r = httpx.post(server.base_url + "/openai/deployments/nope/chat/completions",
                   headers={"api-key": MASTER_KEY},
                   json={"messages": [{"role": "user", "content": "Hi"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_found"
