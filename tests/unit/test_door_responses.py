"""The Responses door's pure parts, on recorded payloads (no server)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gwd.config import Deployment
from gwd.doors.responses import (
    NativeResponsesTranslator,
    ResponsesDoor,
    responses_url,
    validate_responses,
)
from gwd.doors.responses_chat import response_from_chat, to_chat, untranslatable
from gwd.errors import InvalidRequest
from gwd.providers.base import BadUpstreamResponse, Completion, Usage

# Recorded from OpenAI's documentation of a Responses stream (abridged text).
STREAM = [
    b'{"type":"response.created","sequence_number":0,"response":{"id":"resp_1",'
    b'"object":"response","status":"in_progress","output":[],"usage":null}}',
    b'{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1",'
    b'"output_index":0,"content_index":0,"delta":"Hi"}',
    b'{"type":"response.completed","sequence_number":2,"response":{"id":"resp_1",'
    b'"object":"response","status":"completed","output":[],"usage":{"input_tokens":36,'
    b'"input_tokens_details":{"cached_tokens":0},"output_tokens":87,'
    b'"output_tokens_details":{"reasoning_tokens":64},"total_tokens":123}}}',
]


def dep(provider: str) -> Deployment:
    return Deployment(id="d", model_name="g", provider=provider, model="m",
                      litellm_model=f"{provider}/m", api_base="http://127.0.0.1:9",
                      api_version="2025-03-01-preview" if provider == "azure" else None)


def test_native_stream_reads_usage_from_the_final_event() -> None:
    t = NativeResponsesTranslator("chat", {}, "m")
    out = [t.feed(e) for e in STREAM]
    assert [o[0]["type"] for o in out] == ["response.created", "response.output_text.delta",
                                           "response.completed"]
    assert t.done and t.usage() == Usage(36, 87, reasoning_tokens=64)
    with pytest.raises(BadUpstreamResponse):
        NativeResponsesTranslator("chat", {}, "m").feed(
            b'{"type":"error","code":"server_error","message":"x","sequence_number":1}')


def test_urls() -> None:
    assert responses_url(dep("openai")) == "http://127.0.0.1:9/responses"
    assert responses_url(dep("azure"), "/r1") == (
        "http://127.0.0.1:9/openai/responses/r1?api-version=2025-03-01-preview")


def test_which_deployments_serve_what() -> None:
    plain = ResponsesDoor({"model": "g", "input": "x"})
    assert plain.serves(dep("openai")) and plain.serves(dep("mock"))
    streamed = ResponsesDoor({"model": "g", "input": "x", "stream": True})
    assert streamed.serves(dep("azure")) and not streamed.serves(dep("anthropic"))
    assert "streaming" in streamed.refusal()


@pytest.mark.parametrize("body, why", [
    ({"input": "x", "previous_response_id": "r"}, "'previous_response_id'"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, "the 'web_search' tool"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input items of type 'reasoning'"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "content parts of type 'input_file'"),
    ({"input": "x", "background": True}, "'background'"),
])
def test_untranslatable(body: dict[str, Any], why: str) -> None:
    assert untranslatable(body) == why


def test_translation_to_chat() -> None:
    body = {"model": "g", "instructions": "Sys", "max_output_tokens": 40,
            "temperature": 0.5, "tool_choice": {"type": "function", "name": "f"},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"},
                       "strict": True}],
            "text": {"format": {"type": "json_schema", "name": "o", "schema": {}}},
            "reasoning": {"effort": "high"}, "store": True,
            "input": [{"role": "developer", "content": "Dev"},
                      {"role": "user", "content": [
                          {"type": "input_text", "text": "see"},
                          {"type": "input_image", "image_url": "https://x/i.png"}]},
                      {"type": "function_call", "call_id": "c1", "name": "f",
                       "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c1", "output": "42"}]}
    assert untranslatable(body) is None
    out = to_chat(body)
    assert out["messages"] == [
        {"role": "system", "content": "Sys"}, {"role": "system", "content": "Dev"},
        {"role": "user", "content": [{"type": "text", "text": "see"},
                                     {"type": "image_url", "image_url": {
                                         "url": "https://x/i.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    assert out["max_tokens"] == 40 and out["temperature"] == 0.5
    assert out["tools"] == [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}, "strict": True}}]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["response_format"] == {"type": "json_schema",
                                      "json_schema": {"name": "o", "schema": {}}}
    assert out["reasoning_effort"] == "high" and "store" not in out


def test_answer_from_chat() -> None:
    chat = {"choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "Hel", "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2,
                      "prompt_tokens_details": {"cached_tokens": 3}}}
    out = response_from_chat(chat, Usage(5, 2), {"model": "g", "input": "x"})
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["output"][0]["content"][0] == {"type": "output_text", "text": "Hel",
                                              "annotations": []}
    assert out["output"][1]["type"] == "function_call" and out["output"][1]["call_id"] == "c9"
    assert out["usage"]["input_tokens_details"] == {"cached_tokens": 3}
    assert out["usage"]["total_tokens"] == 7
    door = ResponsesDoor({"model": "g", "input": "x"})
    native = door.render(dep("openai"), Completion({}, Usage(1, 1), raw=b'{"raw":1}'))
    assert native == b'{"raw":1}'
    assert orjson.loads(door.render(dep("mock"), Completion(chat, Usage(5, 2))))["model"] == "g"


@pytest.mark.parametrize("body, param", [
    ({"input": "x"}, "model"), ({"model": "g"}, "input"), ({"model": "g", "input": []}, "input"),
    ({"model": "g", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
    ({"model": "g", "input": "x", "temperature": 3}, "temperature"),
    ({"model": "g", "input": "x", "stream": 1}, "stream"),
    ({"model": "g", "input": "x", "tools": ["f"]}, "tools"),
    ({"model": "g", "input": [{"role": "user", "content": "x", "api_key": "k"}]},
     "input.0.api_key"),
])
def test_validation(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_responses(body)
    assert caught.value.param == param
