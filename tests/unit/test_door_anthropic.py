"""The Anthropic door's pure translators, on recorded payloads (no server)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gwd.config import Deployment
from gwd.doors.anthropic import AnthropicDoor, NativeTranslator
from gwd.doors.anthropic_answer import AnthropicSink, message_from_chat
from gwd.doors.anthropic_count import count_request, estimate_count
from gwd.doors.anthropic_request import header_value, to_chat, validate_messages
from gwd.errors import InvalidRequest
from gwd.providers.base import BadUpstreamResponse, Completion, Usage

# Recorded from Anthropic's documentation of a Messages stream (text, then message_delta).
NATIVE_STREAM = [
    b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":25,"cache_creation_input_tokens":100,'
    b'"cache_read_input_tokens":50,"output_tokens":1}}}',
    b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    b'{"type":"ping"}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
    b'{"type":"content_block_stop","index":0}',
    b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":15}}',
    b'{"type":"message_stop"}',
]


def dep(provider: str = "openai", model: str = "gpt-4o") -> Deployment:
    return Deployment(id="d", model_name="g", provider=provider, model=model,
                      litellm_model=f"{provider}/{model}", api_base="http://127.0.0.1:9")


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            parsed = orjson.loads(data[len("data: "):])
            assert name == "event: " + parsed["type"]
            out.append(parsed)
    return out


def test_native_stream_passes_events_through_and_counts_cache_tokens() -> None:
    t = NativeTranslator("chat", {"messages": []}, "claude")
    out = [t.feed(e) for e in NATIVE_STREAM]
    assert [o[0] for o in out] == [orjson.loads(e) for e in NATIVE_STREAM]
    assert t.done and t.usage() == Usage(25 + 100 + 50, 15, cached_tokens=50,
                                         cache_write_tokens=100)


def test_native_stream_error_event_fails_the_attempt() -> None:
    t = NativeTranslator("chat", {}, "claude")
    with pytest.raises(BadUpstreamResponse, match="Overloaded"):
        t.feed(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')


def test_native_answer_is_forwarded_byte_for_byte() -> None:
    door = AnthropicDoor({"model": "c", "max_tokens": 5, "messages": []}, None, None)
    d = dep("anthropic", "claude-sonnet-4-20250514")
    payload = (b'{"id":"msg_1","type":"message","role":"assistant","model":"m","content":'
               b'[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":'
               b'{"input_tokens":3,"cache_read_input_tokens":4,"output_tokens":2}}')
    completion = door.provider(d).parse_response(d, "chat", {}, payload)
    assert completion.usage == Usage(7, 2, cached_tokens=4)
    assert door.render(d, completion) == payload


def test_request_translation_keeps_order_and_meaning() -> None:
    body = {"model": "m", "max_tokens": 9, "system": [{"type": "text", "text": "S"}],
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"}, "top_k": 5,
            "tools": [{"name": "f", "input_schema": {"type": "object"}},
                      {"type": "web_search_20250305", "name": "web_search"}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                                 "data": "AAAA"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Calling."},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "after"},
                    {"type": "tool_result", "tool_use_id": "t1",
                     "content": [{"type": "text", "text": "42"}]}]}],
            "stream": True}
    body["messages"].append({"role": "system", "content": [{"type": "text", "text": "mid"}]})
    out = to_chat(body)
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": "Calling.", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f",
                                                          "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "after"}]},
        {"role": "system", "content": "mid"}]
    assert out["stop"] == ["END"] and out["user"] == "u1" and "top_k" not in out
    assert out["tools"] == [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}}}]
    assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    assert out["stream_options"] == {"include_usage": True}


def test_answer_translation() -> None:
    chat = {"choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "Hi", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f",
                                                          "arguments": '{"x": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g",
                                                          "arguments": "not json"}}]}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 4,
                      "prompt_tokens_details": {"cached_tokens": 20}}}
    message = message_from_chat(chat, Usage(30, 4), "asked")
    assert message["model"] == "asked" and message["stop_reason"] == "max_tokens"
    assert message["content"] == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
        {"type": "tool_use", "id": "c2", "name": "g", "input": {}}]
    assert message["usage"] == {"input_tokens": 10, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 20, "output_tokens": 4}
    parts = message_from_chat(chat, Usage(30, 4, cached_tokens=5, cache_write_tokens=6), "m")
    assert parts["usage"] == {"input_tokens": 4, "cache_creation_input_tokens": 6,
                              "cache_read_input_tokens": 20, "output_tokens": 4}
    door = AnthropicDoor({"model": "asked", "max_tokens": 5, "messages": []}, None, None)
    rendered = orjson.loads(door.render(dep(), Completion(chat, Usage(30, 4), raw=b"{}")))
    assert rendered["content"][0] == {"type": "text", "text": "Hi"}


def test_stream_sink_emits_anthropics_sequence() -> None:
    sink = AnthropicSink("asked")
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
              {"choices": [{"index": 0, "delta": {"content": "He"}}]},
              {"choices": [{"index": 0, "delta": {"content": "llo"}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [
                  {"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [
                  {"index": 0, "function": {"arguments": "{}"}}]}}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
              {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 3}}]
    raw = b"".join(sink.chunk(c) for c in chunks) + sink.end(Usage(8, 3))
    out = events(raw)
    assert [e["type"] for e in out] == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "content_block_start",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert out[2]["content_block"] == {"type": "text", "text": ""} and out[2]["index"] == 0
    assert out[6]["content_block"]["type"] == "tool_use" and out[6]["index"] == 1
    assert out[7]["delta"] == {"type": "input_json_delta", "partial_json": "{}"}
    assert out[9]["delta"]["stop_reason"] == "tool_use"
    assert out[9]["usage"]["input_tokens"] == 8 and out[9]["usage"]["output_tokens"] == 3
    failed = events(sink.error({"error": {"message": "boom", "code": "upstream_error"}}))
    assert failed == [{"type": "error", "error": {"type": "api_error", "message": "boom"}}]


@pytest.mark.parametrize("body, param", [
    ([], None),
    ({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]},
     "max_tokens"),
    ({"model": "m", "max_tokens": 1, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "tool", "content": "x"}]},
     "messages.0.role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"t": 1}]}]},
     "messages.0.content.0"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
      "system": [{"type": "text", "text": 5}]}, "system.0.text"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
      "stream": "yes"}, "stream"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [{"x": {"api_key": "k"}}]}]}]},
     "messages.0.content.0.content.0.x.api_key"),
])
def test_validation_refuses(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_messages(body)
    assert caught.value.param == param


def test_validation_counts_images_and_headers_are_checked() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x"}}
    body = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": [image,
                                                                                      image]}]}
    assert validate_messages(body) == ("m", 2, 2)
    assert header_value({"anthropic-beta": "a,b"}, "anthropic-beta") == "a,b"
    with pytest.raises(InvalidRequest):
        header_value({"anthropic-beta": "a\x01"}, "anthropic-beta")


def test_count_tokens_request_and_estimate() -> None:
    body = {"model": "m", "max_tokens": 5, "stream": True, "system": "S",
            "messages": [{"role": "user", "content": "12345678"}]}
    req = count_request(dep("anthropic", "claude-x"), body, None, "b1")
    assert req.url.endswith("/v1/messages/count_tokens")
    assert orjson.loads(req.body) == {"model": "claude-x", "system": "S",
                                      "messages": body["messages"]}
    assert req.headers["anthropic-beta"] == "b1"
    assert estimate_count(body) == {"input_tokens": 1 + 2 + 8}
