"""cohere/: Cohere's v2 chat and embed API (tests/data/cohere: recorded answers and streams)."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import Deployment, load_config
from gwd.providers import get_provider
from gwd.providers.base import BadUpstreamResponse
from gwd.providers.cohere import CohereProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "cohere"
P = CohereProvider()
KEY = "co-upstream-key-0123456789abcdef"
CHAT = {"model": "cmd", "messages": [{"role": "user", "content": "What is an LLM?"}]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {}}}]


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def dep(api_base: str | None = None, model: str = "command-a-03-2025") -> Deployment:
    return Deployment(id="c", model_name="cmd", provider="cohere", model=model,
                      litellm_model=f"cohere/{model}", api_base=api_base, api_key=KEY)


def feed_all(name: str, body: dict[str, Any], endpoint: Any = "chat") -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for event in load(name):
        chunks += translator.feed(orjson.dumps(event["data"]), event["event"])
    if translator.done:
        chunks += translator.finish()
    return translator, chunks


def sent(endpoint: Any, body: dict[str, Any], stream: bool = False,
         base: str | None = None) -> Any:
    req = P.build_request(dep(base), endpoint, body, stream)
    return req, orjson.loads(req.body)


def test_config_takes_cohere_with_its_key_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model_list:\n  - model_name: c\n    litellm_params: {model: cohere/command-r}\n")
    (d,) = load_config(path, env={"COHERE_API_KEY": KEY}).deployments
    assert (d.provider, d.model, d.api_key, d.api_base) == (
        "cohere", "command-r", KEY, "https://api.cohere.com")
    assert isinstance(get_provider("cohere"), CohereProvider)


def test_chat_request() -> None:
    body = {"model": "cmd", "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "-3C"}],
        "max_completion_tokens": 99, "top_p": 0.5, "temperature": 0.2, "stop": "END",
        "seed": 3, "tools": TOOLS, "tool_choice": "required",
        "response_format": {"type": "json_object"}}
    req, out = sent("chat", body, base="http://127.0.0.1:9/v2/")
    assert req.url == "http://127.0.0.1:9/v2/chat"
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert out["model"] == "command-a-03-2025"
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "-3C"}]
    assert (out["max_tokens"], out["p"], out["temperature"], out["seed"]) == (99, 0.5, 0.2, 3)
    assert out["stop_sequences"] == ["END"] and out["tool_choice"] == "REQUIRED"
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather", "get_time"]
    assert out["response_format"] == {"type": "json_object"} and "stream" not in out


def test_a_named_tool_choice_sends_only_that_tool_required() -> None:
    _, out = sent("chat", {**CHAT, "tools": TOOLS,
                           "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
                  stream=True)
    assert [t["function"]["name"] for t in out["tools"]] == ["get_time"]
    assert out["tool_choice"] == "REQUIRED" and out["stream"] is True


def test_embed_request() -> None:
    req, out = sent("embeddings", {"input": ["hello", "goodbye"], "dimensions": 256})
    assert req.url == "https://api.cohere.com/v2/embed"
    assert out == {"model": "command-a-03-2025", "texts": ["hello", "goodbye"],
                   "input_type": "search_document", "embedding_types": ["float"],
                   "output_dimension": 256}


def test_chat_answer_billed_units_are_the_usage() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("chat_response.json"))
    assert done.body["choices"][0]["message"]["content"].startswith("LLMs are neural")
    assert done.body["choices"][0]["finish_reason"] == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (5, 12)


def test_tool_call_answer() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("chat_tool_response.json"))
    choice = done.body["choices"][0]
    (call,) = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert call == {"id": "get_weather_1byjy32y4hvq", "type": "function", "function": {
        "name": "get_weather", "arguments": "{\"location\":\"Toronto\"}"}}
    assert done.usage.total_tokens == 65


def test_completions_answer_shape() -> None:
    _, out = sent("completions", {"prompt": "Hi", "max_tokens": 3})
    assert out["messages"] == [{"role": "user", "content": "Hi"}]
    done = P.parse_response(dep(), "completions", {"prompt": "Hi"}, raw("chat_response.json"))
    assert done.body["object"] == "text_completion"


def test_embed_answer_float_base64_and_billed_usage() -> None:
    done = P.parse_response(dep(), "embeddings", {"input": ["hello", "goodbye"]},
                            raw("embed_response.json"))
    assert [d["index"] for d in done.body["data"]] == [0, 1]
    assert done.usage.prompt_tokens == 2 and not done.usage.estimated
    b64 = P.parse_response(dep(), "embeddings", {"input": ["a"], "encoding_format": "base64"},
                           raw("embed_response.json"))
    values = struct.unpack("<4f", base64.b64decode(b64.body["data"][0]["embedding"]))
    assert values[2] == pytest.approx(-0.04699707)


@pytest.mark.parametrize("endpoint, payload", [("chat", b"{}"), ("chat", b"[1]"),
                                               ("embeddings", b'{"embeddings": {}}')])
def test_bad_answers(endpoint: Any, payload: bytes) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), endpoint, CHAT, payload)


def test_error_message() -> None:
    assert "input_type" in P.error_message(400, raw("error.json"))


def test_stream_text_and_usage() -> None:
    translator, chunks = feed_all("chat_stream.json", {**CHAT, "stream_options": {
        "include_usage": True}})
    assert translator.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_stream_tool_call() -> None:
    translator, chunks = feed_all("chat_tool_stream.json", CHAT)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["id"] == "get_weather_nsz5zm3w56q3"
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location": "Toronto"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage().prompt_tokens == 37


def test_stream_for_text_completions() -> None:
    _, chunks = feed_all("chat_stream.json", {"prompt": "x"}, "completions")
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Hello there!"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_error_end_raises() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    with pytest.raises(BadUpstreamResponse):
        translator.feed(b'{"type": "message-end", "delta": {"finish_reason": "ERROR", '
                        b'"error": "internal"}}')
