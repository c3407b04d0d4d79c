"""ollama/ and ollama_chat/: OpenAI <-> Ollama's native API (tests/data/ollama)."""

from __future__ import annotations

import base64
import copy
import json
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from gwd.config import Deployment
from gwd.providers import get_provider
from gwd.providers.base import BadUpstreamResponse
from gwd.providers.ollama import OllamaChatProvider, OllamaProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "ollama"
P = OllamaProvider()
CHAT = {"model": "local", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def dep(api_key: str | None = None, api_base: str = "http://localhost:11434") -> Deployment:
    return Deployment(id="o", model_name="local", provider="ollama", model="llama3.2",
                      litellm_model="ollama/llama3.2", api_base=api_base, api_key=api_key)


def feed_lines(name: str, body: dict[str, Any], endpoint: Any = "chat") -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for line in load(name):
        chunks += translator.feed(orjson.dumps(line))
    return translator, chunks


# ---------------------------------------------------------------- requests

def test_both_prefixes_are_registered() -> None:
    assert isinstance(get_provider("ollama"), OllamaProvider)
    assert isinstance(get_provider("ollama_chat"), OllamaChatProvider)


def test_chat_request_translates_the_recorded_example() -> None:
    case = load("chat_request.json")
    before = copy.deepcopy(case["openai"])
    request = P.build_request(dep(), "chat", case["openai"], stream=False)
    assert request.url == "http://localhost:11434/api/chat"
    assert request.stream_format == "ndjson"
    assert request.headers == {"Content-Type": "application/json"}
    assert orjson.loads(request.body) == case["ollama"]
    assert case["openai"] == before


def test_stream_flag_is_always_explicit_and_key_is_a_bearer_token() -> None:
    request = P.build_request(dep(api_key="ollama-cloud-key"), "chat", CHAT, stream=True)
    assert orjson.loads(request.body)["stream"] is True
    assert orjson.loads(P.build_request(dep(), "chat", CHAT, False).body)["stream"] is False
    assert request.headers["Authorization"] == "Bearer ollama-cloud-key"


def test_generate_request() -> None:
    body = {"model": "local", "prompt": ["Why is the sky", "blue?"], "max_tokens": 9,
            "stop": "\n", "suffix": " The end."}
    request = P.build_request(dep(api_base="http://gpu:11434"), "completions", body, True)
    assert request.url == "http://gpu:11434/api/generate"
    assert orjson.loads(request.body) == {
        "model": "llama3.2", "stream": True, "prompt": "Why is the sky\nblue?",
        "suffix": " The end.", "options": {"num_predict": 9, "stop": ["\n"]}}


def test_json_schema_response_format_becomes_format_schema() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    body = {**CHAT, "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "x", "schema": schema}}}
    assert orjson.loads(P.build_request(dep(), "chat", body, False).body)["format"] == schema


def test_embed_request() -> None:
    request = P.build_request(dep(), "embeddings", {"model": "e", "input": ["a", "b"],
                                                    "encoding_format": "float"}, False)
    assert request.url == "http://localhost:11434/api/embed"
    assert orjson.loads(request.body) == {"model": "llama3.2", "input": ["a", "b"]}


# ---------------------------------------------------------------- answers

def test_chat_answer() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("chat_response.json"))
    choice = done.body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello! How are you today?"}
    assert choice["finish_reason"] == "stop"
    assert done.body["object"] == "chat.completion" and done.body["model"] == "llama3.2"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (26, 298)
    assert not done.usage.estimated


def test_tool_call_answer_gets_ids_and_json_arguments() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("chat_tool_response.json"))
    choice = done.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_current_weather"
    assert json.loads(call["function"]["arguments"]) == {"format": "celsius",
                                                         "location": "Paris, FR"}


def test_generate_answer() -> None:
    done = P.parse_response(dep(), "completions", {"prompt": "x"}, raw("generate_response.json"))
    assert done.body["object"] == "text_completion"
    assert done.body["choices"][0]["text"].startswith("The sky is blue")
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (26, 290)


def test_length_done_reason() -> None:
    payload = {**load("chat_response.json"), "done_reason": "length"}
    done = P.parse_response(dep(), "chat", CHAT, orjson.dumps(payload))
    assert done.body["choices"][0]["finish_reason"] == "length"


def test_embed_answer_float_and_base64() -> None:
    vectors = load("embed_response.json")["embeddings"]
    floats = P.parse_response(dep(), "embeddings", {"input": ["a", "b"]},
                              raw("embed_response.json"))
    assert [d["embedding"] for d in floats.body["data"]] == vectors
    assert [d["index"] for d in floats.body["data"]] == [0, 1]
    assert floats.body["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    assert (floats.usage.prompt_tokens, floats.usage.completion_tokens) == (8, 0)
    packed = P.parse_response(dep(), "embeddings", {"input": ["a", "b"],
                                                    "encoding_format": "base64"},
                              raw("embed_response.json"))
    decoded = struct.unpack("<5f", base64.b64decode(packed.body["data"][1]["embedding"]))
    assert list(decoded) == pytest.approx(vectors[1], rel=1e-6)


def test_missing_counts_are_estimated() -> None:
    payload = {k: v for k, v in load("chat_response.json").items()
               if k not in ("prompt_eval_count", "eval_count")}
    done = P.parse_response(dep(), "chat", CHAT, orjson.dumps(payload))
    assert done.usage.estimated and done.usage.completion_tokens == 7


@pytest.mark.parametrize("endpoint, payload", [
    ("chat", b"not json"), ("chat", b'{"done": true}'), ("completions", b'{"done": true}'),
    ("embeddings", b'{"embeddings": "nope"}'), ("embeddings", b'{"embeddings": [["x"]]}'),
])
def test_garbage_answer_raises(endpoint: Any, payload: bytes) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), endpoint, {"input": "x"}, payload)


def test_error_message_is_extracted() -> None:
    assert P.error_message(404, raw("error.json")) == \
        'model "llama9" not found, try pulling it first'


# ---------------------------------------------------------------- streams

def test_chat_stream_with_usage_requested() -> None:
    t, chunks = feed_lines("chat_stream.json",
                           {**CHAT, "stream_options": {"include_usage": True}})
    assert t.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "The sky is blue."
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == {"prompt_tokens": 26, "completion_tokens": 282,
                                   "total_tokens": 308}
    assert not t.usage().estimated


def test_chat_stream_without_usage_requested() -> None:
    t, chunks = feed_lines("chat_stream.json", CHAT)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert t.usage().completion_tokens == 282


def test_cached_prompt_without_prompt_eval_count_is_estimated() -> None:
    t, _ = feed_lines("chat_stream_cached_prompt.json", CHAT)
    usage = t.usage()
    assert t.done and usage.estimated
    assert usage.completion_tokens == 3     # the reported eval_count is kept
    assert usage.prompt_tokens == 5 + 4     # "Why is the sky blue?" ~ 5 tokens + 4 per message


def test_generate_stream() -> None:
    t, chunks = feed_lines("generate_stream.json", {"prompt": "x"}, "completions")
    assert [c["choices"][0]["text"] for c in chunks] == ["The", " sky", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert (t.usage().prompt_tokens, t.usage().completion_tokens) == (26, 259)


def test_stream_tool_calls_become_deltas() -> None:
    line = {"model": "llama3.2", "message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "f", "arguments": {"a": 1}}}]}, "done": False}
    translator = P.stream_translator(dep(), "chat", CHAT)
    chunks = translator.feed(orjson.dumps(line))
    chunks += translator.feed(orjson.dumps({**load("chat_stream.json")[-1],
                                            "done_reason": "stop"}))
    [call] = chunks[1]["choices"][0]["delta"]["tool_calls"]
    assert call["index"] == 0 and call["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_cut_stream_is_not_done_and_estimates() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    for line in load("chat_stream.json")[:2]:
        translator.feed(orjson.dumps(line))
    assert not translator.done and translator.usage().estimated


@pytest.mark.parametrize("line", [b"{not json", b"[1]", b'{"error": "model crashed"}'])
def test_garbage_stream_line_raises(line: bytes) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.stream_translator(dep(), "chat", CHAT).feed(line)
