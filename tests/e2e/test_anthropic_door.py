"""The Anthropic Messages door end to end: the official ``anthropic`` SDK -> gwd -> fakes.

One gwd (module scope, SQLite ledger) serves three groups: ``claude`` (an
``anthropic/`` deployment: forwarded natively), ``gpt`` (``openai/``: translated
both ways) and ``demo`` (``mock/``). Calls authenticate with a virtual key, as
``x-api-key`` (the SDK's ``api_key``) or ``Authorization: Bearer`` (its
``auth_token``, which is what Claude Code sends for ``ANTHROPIC_AUTH_TOKEN``);
each test asserts what reached the upstream and the exact cost in the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import assert_no_secret, config_secrets
from tests.fakes import AnthropicFake, JsonReply, OpenAIFake, RecordedRequest, StreamReply
from tests.fakes.base import Fault, sse
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, rows, totals

PROVIDER_KEY = "sk-ant-upstream-secret-77aa66bb55cc44dd"
IN_PRICE, OUT_PRICE = Decimal("0.000003"), Decimal("0.000015")
PRICES = {"input_cost_per_token": str(IN_PRICE), "output_cost_per_token": str(OUT_PRICE)}
CACHE_READ, CACHE_WRITE = 7, 3
#: the claude group's cache rates (LiteLLM's names), so cache tokens are priced apart
READ_PRICE, WRITE_PRICE = Decimal("0.0000003"), Decimal("0.00000375")
CLAUDE_PRICES = {**PRICES, "cache_read_input_token_cost": str(READ_PRICE),
                 "cache_creation_input_token_cost": str(WRITE_PRICE)}


class ToolCallingOpenAIFake(OpenAIFake):
    """OpenAIFake that, when the request forces a tool, calls it (whole or streamed)."""

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        body = request.json
        choice = body.get("tool_choice") if isinstance(body, dict) else None
        if not choice or choice == "auto" or choice == "none":
            return super().answer(request, fault)
        name = choice["function"]["name"] if isinstance(choice, dict) \
            else body["tools"][0]["function"]["name"]
        call = {"id": "call_fake1", "type": "function",
                "function": {"name": name, "arguments": '{"city": "Paris"}'}}
        usage = {"prompt_tokens": self.prompt_tokens,
                 "completion_tokens": self.completion_tokens,
                 "total_tokens": self.prompt_tokens + self.completion_tokens}
        if body.get("stream") is not True:
            return JsonReply({"id": "chatcmpl-t", "object": "chat.completion", "created": 1,
                              "model": body["model"], "usage": usage, "choices": [{
                                  "index": 0, "finish_reason": "tool_calls", "message": {
                                      "role": "assistant", "content": None,
                                      "tool_calls": [call]}}]})
        base = {"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1,
                "model": body["model"]}
        first = {**call, "index": 0, "function": {"name": name, "arguments": ""}}
        deltas = [{"role": "assistant", "tool_calls": [first]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}]
        events = [sse({**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
                  for d in deltas]
        events.append(sse({**base, "choices": [{"index": 0, "delta": {},
                                                "finish_reason": "tool_calls"}]}))
        events.append(sse({**base, "choices": [], "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return StreamReply(events)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[AnthropicFake, ToolCallingOpenAIFake]]:
    claude = AnthropicFake("claude-fake", prompt_tokens=10, completion_tokens=5)
    claude.cache_read_tokens, claude.cache_creation_tokens = CACHE_READ, CACHE_WRITE
    gpt = ToolCallingOpenAIFake("gpt-fake", prompt_tokens=12, completion_tokens=6)
    with claude, gpt:
        yield claude, gpt


@pytest.fixture(scope="module")
def config(fakes: tuple[AnthropicFake, OpenAIFake],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    claude, gpt = fakes
    db = tmp_path_factory.mktemp("anthropic-db") / "gw.db"
    return {"model_list": [
        {"model_name": "claude", "litellm_params": {
            "model": "anthropic/claude-sonnet-4-20250514", "api_base": claude.base_url,
            "api_key": PROVIDER_KEY, **CLAUDE_PRICES}},
        {"model_name": "gpt", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": gpt.base_url, "api_key": PROVIDER_KEY,
            **PRICES}},
        {"model_name": "demo", "litellm_params": {"model": "mock/demo",
                                                  "mock_response": "Hi from the mock.",
                                                  **PRICES}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": f"sqlite:///{db}"}}


@pytest.fixture(scope="module")
def server(config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GwdProcess]:
    proc = GwdProcess(config, tmp_path_factory.mktemp("anthropic")).start()
    yield proc
    proc.stop()
    assert_no_secret(proc.log_text(), config_secrets(config), "gwd's log")


def new_key(server: GwdProcess, **body: Any) -> str:
    r = httpx.post(server.base_url + "/key/generate", json=body,
                   headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


@pytest.fixture
def key(server: GwdProcess) -> str:
    return new_key(server, max_budget=5)


def sdk(server: GwdProcess, key: str, bearer: bool = False) -> anthropic.Anthropic:
    auth = {"auth_token": key} if bearer else {"api_key": key}
    return anthropic.Anthropic(base_url=server.base_url, max_retries=0, timeout=20, **auth)


def db_url(config: dict[str, Any]) -> str:
    return str(config["general_settings"]["database_url"])


def settled_rows(config: dict[str, Any], key: str, count: int) -> list[Any]:
    """The key's ledger rows once ``count`` are written (the recorder batches)."""
    import time
    deadline = time.monotonic() + 10
    while True:
        found = rows(db_url(config), key_hash(key))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def price(prompt: int, completion: int) -> Decimal:
    return prompt * IN_PRICE + completion * OUT_PRICE


#: one call to the claude fake: 10 fresh input tokens, 7 read from the cache, 3 written
CLAUDE_CALL = 10 * IN_PRICE + CACHE_READ * READ_PRICE + CACHE_WRITE * WRITE_PRICE + 5 * OUT_PRICE


CACHED_SYSTEM: Any = [{"type": "text", "text": "You are terse.",
                       "cache_control": {"type": "ephemeral"}}]


# ------------------------------------------------------------------ native (anthropic/)

def test_native_create_forwards_the_body_and_bills_cache_tokens(
        server: GwdProcess, fakes: tuple[AnthropicFake, OpenAIFake], key: str,
        config: dict[str, Any]) -> None:
    claude, _ = fakes
    before = len(claude.requests)
    with sdk(server, key) as client:
        message = client.messages.create(
            model="claude", max_tokens=100, system=CACHED_SYSTEM,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo="}}]}],
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    assert message.content[0].type == "text"
    assert message.content[0].text == claude.reply_text
    assert message.usage.cache_read_input_tokens == CACHE_READ
    sent = claude.requests[before]
    assert sent.path == "/v1/messages"
    assert sent.json["model"] == "claude-sonnet-4-20250514"
    assert sent.json["system"] == CACHED_SYSTEM                      # intact, cache_control too
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent.json["messages"][0]["content"][1]["source"]["data"] == "iVBORw0KGgo="
    assert sent.header("anthropic-beta") == "prompt-caching-2024-07-31"
    assert sent.header("anthropic-version") == client.default_headers["anthropic-version"]
    assert sent.header("x-api-key") == PROVIDER_KEY and key not in str(sent.headers)
    [row] = settled_rows(config, key, 1)
    assert (row.status, row.prompt_tokens, row.completion_tokens) == (
        "success", 10 + CACHE_READ + CACHE_WRITE, 5)
    assert row.cost == CLAUDE_CALL
    assert row.response_id == message.id  # the answer's own msg_... (LiteLLM's request_id)
    assert totals(db_url(config), key_hash(key)).key_spend == row.cost


def test_native_stream_relays_anthropics_events(
        server: GwdProcess, fakes: tuple[AnthropicFake, OpenAIFake], key: str,
        config: dict[str, Any]) -> None:
    with sdk(server, key, bearer=True) as client, client.messages.stream(
            model="claude", max_tokens=100,
            messages=[{"role": "user", "content": "Hi"}]) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_message()
    assert "".join(b.text for b in final.content if b.type == "text") == fakes[0].reply_text
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert "content_block_delta" in types and "message_delta" in types  # (the SDK hides pings)
    assert final.usage.output_tokens == 5
    [row] = settled_rows(config, key, 1)
    assert row.cost == CLAUDE_CALL
    assert row.response_id == final.id


def test_count_tokens_is_anthropics_own_count(server: GwdProcess, key: str,
                                              fakes: tuple[AnthropicFake, OpenAIFake],
                                              config: dict[str, Any]) -> None:
    claude, _ = fakes
    before = len(claude.requests)
    with sdk(server, key) as client:
        count = client.messages.count_tokens(model="claude", system="Be brief.",
                                             messages=[{"role": "user", "content": "Hi"}])
    assert count.input_tokens == 10
    sent = claude.requests[before]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.json == {"model": "claude-sonnet-4-20250514", "system": "Be brief.",
                         "messages": [{"role": "user", "content": "Hi"}]}
    assert rows(db_url(config), key_hash(key)) == []        # counting is not billed


# ------------------------------------------------------------------ translated (openai/)

def test_translated_create_with_tools_round_trips(
        server: GwdProcess, fakes: tuple[AnthropicFake, ToolCallingOpenAIFake], key: str,
        config: dict[str, Any]) -> None:
    _, gpt = fakes
    before = len(gpt.requests)
    tool = {"name": "weather", "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    with sdk(server, key) as client:
        message = client.messages.create(
            model="gpt", max_tokens=64, system="Be brief.", tools=[tool],
            tool_choice={"type": "tool", "name": "weather"},
            messages=[{"role": "user", "content": "Weather in Paris?"},
                      {"role": "assistant", "content": [
                          {"type": "tool_use", "id": "toolu_1", "name": "weather",
                           "input": {"city": "Rome"}}]},
                      {"role": "user", "content": [
                          {"type": "tool_result", "tool_use_id": "toolu_1",
                           "content": "Sunny"},
                          {"type": "text", "text": "And Paris?"}]}])
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "weather"
    assert block.input == {"city": "Paris"}
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 6)
    sent = gpt.requests[before].json
    assert sent["model"] == "gpt-4o" and sent["max_tokens"] == 64
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert sent["tools"][0]["function"]["parameters"] == tool["input_schema"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool",
                                                     "user"]
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "weather", "arguments": '{"city":"Rome"}'}
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1",
                                   "content": "Sunny"}
    [row] = settled_rows(config, key, 1)
    assert row.cost == price(12, 6)


def test_translated_stream_text(server: GwdProcess, fakes: tuple[AnthropicFake, OpenAIFake],
                                key: str, config: dict[str, Any]) -> None:
    with sdk(server, key) as client, client.messages.stream(
            model="gpt", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == fakes[1].reply_text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 6)
    [row] = settled_rows(config, key, 1)
    assert row.cost == price(12, 6)
    assert row.response_id == final.id and final.id.startswith("msg_")


def test_translated_stream_tool_call(server: GwdProcess, key: str) -> None:
    tool = {"name": "weather", "input_schema": {"type": "object"}}
    with sdk(server, key) as client, client.messages.stream(
            model="gpt", max_tokens=64, tools=[tool], tool_choice={"type": "any"},
            messages=[{"role": "user", "content": "Weather?"}]) as stream:
        final = stream.get_final_message()
    [block] = final.content
    assert block.type == "tool_use" and block.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


def test_mock_group_streams_and_answers(server: GwdProcess, key: str) -> None:
    with sdk(server, key) as client:
        whole = client.messages.create(model="demo", max_tokens=50,
                                       messages=[{"role": "user", "content": "Hi"}])
        with client.messages.stream(model="demo", max_tokens=50,
                                    messages=[{"role": "user", "content": "Hi"}]) as stream:
            text = "".join(stream.text_stream)
        counted = client.messages.count_tokens(model="demo",
                                               messages=[{"role": "user", "content": "Hi"}])
    assert whole.content[0].text == text == "Hi from the mock."
    assert counted.input_tokens > 0


# ------------------------------------------------------------------ the same rules as chat

def test_refusals_are_clear_and_store_nothing(server: GwdProcess, config: dict[str, Any]
                                              ) -> None:
    key = new_key(server, models=["gpt"])
    url = server.base_url + "/v1/messages"
    ok: Any = {"model": "gpt", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    cases = [
        ({"x-api-key": "sk-not-a-key"}, ok, 401),
        ({"x-api-key": key}, {**ok, "model": "claude"}, 403),
        ({"x-api-key": key}, {**ok, "model": "nope"}, 400),
        ({"x-api-key": key}, {k: v for k, v in ok.items() if k != "max_tokens"}, 400),
        ({"x-api-key": key}, {**ok, "messages": [{"role": "tool", "content": "x"}]}, 400),
        ({"x-api-key": key}, {**ok, "metadata": {"api_base": "http://evil"}}, 400),
        ({"x-api-key": key}, {**ok, "temperature": 1.5}, 400),
        ({"x-api-key": key, "anthropic-beta": "a\tb"}, ok, 400),
    ]
    for headers, body, status in cases:
        r = httpx.post(url, headers=headers, content=orjson.dumps(body))
        assert r.status_code == status, (body, r.text)
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert key not in r.text
    assert rows(db_url(config), key_hash(key)) == []


def test_budget_applies(server: GwdProcess, config: dict[str, Any]) -> None:
    key = new_key(server, max_budget=0.0001)   # 64 output tokens alone cost more
    with sdk(server, key) as client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="gpt", max_tokens=100,
                               messages=[{"role": "user", "content": "Hi"}])
    assert "budget" in str(caught.value)
    assert rows(db_url(config), key_hash(key)) == []


def test_claude_code_request_sequence(server: GwdProcess, key: str,
                                      fakes: tuple[AnthropicFake, OpenAIFake],
                                      config: dict[str, Any]) -> None:
    """What Claude Code (2.1.197, recorded) sends with ANTHROPIC_BASE_URL=<gwd> and
    ANTHROPIC_AUTH_TOKEN=<key>: Bearer auth, ``?beta=true``, ``anthropic-beta`` flags,
    a system prompt of cached blocks, a ``system`` message mid-conversation, tools,
    adaptive thinking, ``context_management``, ``output_config``, ``metadata.user_id``
    and a stream; then a token count. (test_claude_code.py runs the CLI itself.)"""
    claude, _ = fakes
    before = len(claude.requests)
    headers = {"Authorization": f"Bearer {key}", "anthropic-version": "2023-06-01",
               "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
                          "context-management-2025-06-27,mid-conversation-system-2026-04-07",
               "x-app": "cli", "User-Agent": "claude-cli/1.0.0 (external, cli)"}
    body = {"model": "claude", "max_tokens": 32000, "stream": True,
            "system": [{"type": "text", "text": "You are Claude Code.",
                        "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": "Available agent types: claude, Explore"}],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015",
                                              "keep": "all"}]},
            "tools": [{"name": "Bash", "description": "Run a command",
                       "input_schema": {"type": "object",
                                        "properties": {"command": {"type": "string"}}}}],
            "metadata": {"user_id": "user_abc_account__session_1"}, "temperature": 1}
    with httpx.stream("POST", server.base_url + "/v1/messages?beta=true", headers=headers,
                      content=orjson.dumps(body), timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "ping"] \
        + ["content_block_delta"] * (len(names) - 6) \
        + ["content_block_stop", "message_delta", "message_stop"]
    assert "[DONE]" not in raw
    sent = claude.requests[before]
    assert {k: v for k, v in sent.json.items() if k != "model"} \
        == {k: v for k, v in body.items() if k != "model"}          # everything, intact
    assert sent.header("anthropic-beta") == headers["anthropic-beta"]
    assert sent.header("anthropic-version") == "2023-06-01"
    count = httpx.post(server.base_url + "/v1/messages/count_tokens?beta=true", headers=headers,
                       content=orjson.dumps({"model": "claude", "messages": body["messages"],
                                             "tools": body["tools"]}))
    assert count.status_code == 200 and count.json() == {"input_tokens": 10}
    [row] = settled_rows(config, key, 1)
    assert row.status == "success" and row.cost == CLAUDE_CALL


def test_ledger_names_the_door(server: GwdProcess, key: str, config: dict[str, Any]) -> None:
    with sdk(server, key) as client:
        client.messages.create(model="demo", max_tokens=5,
                               messages=[{"role": "user", "content": "Hi"}])
    settled_rows(config, key, 1)
    import sqlite3
    path = db_url(config).removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        [(endpoint,)] = conn.execute("SELECT endpoint FROM gw_spend_log WHERE key_hash = ?",
                                     (key_hash(key),)).fetchall()
    assert endpoint == "messages"
