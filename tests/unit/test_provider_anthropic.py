"""anthropic/: OpenAI <-> Messages API, on recorded payloads (tests/data/anthropic)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import Deployment
from gwd.errors import InvalidRequest
from gwd.providers import get_provider
from gwd.providers.anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from gwd.providers.base import BadUpstreamResponse

DATA = Path(__file__).resolve().parent.parent / "data" / "anthropic"
P = AnthropicProvider()


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def dep(model: str = "claude-sonnet-4-5-20250929", api_base: str = "https://api.anthropic.com",
        api_key: str | None = "sk-ant-secret-123456") -> Deployment:
    return Deployment(id="a", model_name="claude", provider="anthropic", model=model,
                      litellm_model=f"anthropic/{model}", api_base=api_base, api_key=api_key)


def sent(body: dict[str, Any], endpoint: Any = "chat", stream: bool = False) -> Any:
    return orjson.loads(P.build_request(dep(), endpoint, body, stream).body)


def feed_all(name: str, body: dict[str, Any], endpoint: Any = "chat") -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for event in load(name):
        chunks += translator.feed(orjson.dumps(event["data"]), event["event"])
    return translator, chunks + (translator.finish() if translator.done else [])


CHAT = {"model": "claude", "messages": [{"role": "user", "content": "Hello"}]}


# ---------------------------------------------------------------- requests

def test_registry_serves_anthropic() -> None:
    assert isinstance(get_provider("anthropic"), AnthropicProvider)


def test_request_translates_every_field_of_the_recorded_example() -> None:
    case = load("chat_request.json")
    body = case["openai"]
    before = copy.deepcopy(body)
    request = P.build_request(dep(), "chat", body, stream=True)
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret-123456"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.stream_format == "sse"
    assert orjson.loads(request.body) == case["anthropic"]
    assert body == before   # the client's body is not mutated


def test_api_base_with_v1_is_not_doubled_and_no_key_means_no_header() -> None:
    request = P.build_request(dep(api_base="http://127.0.0.1:9/v1", api_key=None), "chat",
                              CHAT, False)
    assert request.url == "http://127.0.0.1:9/v1/messages"
    assert "x-api-key" not in request.headers


def test_max_tokens_default_and_precedence() -> None:
    assert sent(CHAT)["max_tokens"] == DEFAULT_MAX_TOKENS
    assert sent({**CHAT, "max_tokens": 10, "max_completion_tokens": 20})["max_tokens"] == 20
    assert sent({**CHAT, "max_tokens": 10})["max_tokens"] == 10


def test_minimal_request_has_no_optional_fields() -> None:
    assert sent(CHAT) == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 4096,
                          "messages": [{"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
])
def test_tool_choice_mapping(choice: Any, expected: Any) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    out = sent({**CHAT, "tools": tools, "tool_choice": choice})
    assert out["tool_choice"] == expected
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_parallel_tool_calls_false_alone_disables_parallel_use() -> None:
    out = sent({**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}],
                "parallel_tool_calls": False})
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_completions_prompt_becomes_one_user_message() -> None:
    out = sent({"model": "claude", "prompt": "Say hi", "max_tokens": 5}, "completions")
    assert out["messages"] == [{"role": "user", "content": "Say hi"}]
    assert out["max_tokens"] == 5


def test_embeddings_are_unsupported() -> None:
    assert not P.supports("embeddings") and P.supports("chat") and P.supports("completions")
    with pytest.raises(InvalidRequest):
        P.build_request(dep(), "embeddings", {"input": "x"}, False)


# ---------------------------------------------------------------- answers

def test_text_answer_counts_cache_tokens_as_prompt() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_text.json"))
    choice = done.body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hi! My name is Claude."}
    assert choice["finish_reason"] == "stop"
    assert done.body["object"] == "chat.completion"
    assert done.body["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (2095 + 100 + 1000, 503)
    assert not done.usage.estimated
    assert done.body["usage"]["total_tokens"] == 3698


def test_tool_use_answer_becomes_tool_calls_and_thinking_is_dropped() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_tool_use.json"))
    choice = done.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == \
        "I'll check the current weather in San Francisco for you."
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA",
                                                         "unit": "celsius"}
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (472, 89)


@pytest.mark.parametrize("reason, expected", [("max_tokens", "length"),
                                              ("stop_sequence", "stop"),
                                              ("refusal", "content_filter")])
def test_stop_reasons(reason: str, expected: str) -> None:
    payload = {**load("response_text.json"), "stop_reason": reason}
    done = P.parse_response(dep(), "chat", CHAT, orjson.dumps(payload))
    assert done.body["choices"][0]["finish_reason"] == expected


def test_completions_answer_has_text_completion_shape() -> None:
    done = P.parse_response(dep(), "completions", {"prompt": "x"}, raw("response_text.json"))
    assert done.body["object"] == "text_completion"
    assert done.body["choices"][0]["text"] == "Hi! My name is Claude."


def test_missing_usage_is_estimated() -> None:
    payload = {k: v for k, v in load("response_text.json").items() if k != "usage"}
    done = P.parse_response(dep(), "chat", CHAT, orjson.dumps(payload))
    assert done.usage.estimated
    assert done.usage.completion_tokens == 6   # "Hi! My name is Claude." = 22 chars


@pytest.mark.parametrize("payload", [b"<html>", b"[1, 2]", b'{"type": "message"}',
                                     raw("error.json")])
def test_garbage_answer_raises(payload: bytes) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), "chat", CHAT, payload)


def test_error_message_is_extracted() -> None:
    assert P.error_message(529, raw("error.json")) == "Overloaded"


# ---------------------------------------------------------------- streams

def test_text_stream_with_usage_requested() -> None:
    t, chunks = feed_all("stream_text.json", {**CHAT, "stream_options": {"include_usage": True}})
    assert t.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hello", "!"]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"] == {
        "prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}
    assert len(chunks) == 5
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert not t.usage().estimated


def test_text_stream_without_usage_requested_has_no_usage_chunk() -> None:
    t, chunks = feed_all("stream_text.json", CHAT)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert (t.usage().prompt_tokens, t.usage().completion_tokens) == (25, 15)


def test_tool_use_stream_becomes_tool_call_deltas() -> None:
    t, chunks = feed_all("stream_tool_use.json", CHAT)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"location": "San Francisco, CA"}
    assert all(c["index"] == 0 for c in calls)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Okay, let's check the weather."
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert (t.usage().prompt_tokens, t.usage().completion_tokens) == (472 + 28, 89)


def test_error_event_raises_and_partial_usage_is_estimated() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    events = load("stream_error.json")
    for event in events[:-1]:
        translator.feed(orjson.dumps(event["data"]), event["event"])
    with pytest.raises(BadUpstreamResponse, match="Overloaded"):
        translator.feed(orjson.dumps(events[-1]["data"]), "error")
    usage = translator.usage()
    assert not translator.done
    assert usage.estimated and usage.prompt_tokens == 12 and usage.completion_tokens == 4


def test_cut_stream_is_not_done() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    for event in load("stream_text.json")[:5]:
        translator.feed(orjson.dumps(event["data"]), event["event"])
    assert not translator.done and translator.usage().estimated


def test_completions_stream_gives_text_chunks() -> None:
    _t, chunks = feed_all("stream_text.json", {"prompt": "x"}, "completions")
    assert [c["choices"][0]["text"] for c in chunks] == ["Hello", "!", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "text_completion" for c in chunks)


@pytest.mark.parametrize("data", [b"not json", b"[]",
                                  b'{"type": "content_block_delta", "index": 0}'])
def test_garbage_stream_event_raises(data: bytes) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.stream_translator(dep(), "chat", CHAT).feed(data, "content_block_delta")
