"""huggingface/: TGI's Messages API, /generate(_stream) and TEI embeddings
(tests/data/huggingface)."""

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
from gwd.providers.huggingface import HuggingFaceProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "huggingface"
P = HuggingFaceProvider()
CHAT = {"model": "free-tier", "messages": [{"role": "user", "content": "What is deep learning?"}]}
USAGE = {"stream_options": {"include_usage": True}}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def dep(api_base: str = "http://0.0.0.0:8001", api_key: str | None = "hf_secrettoken123") \
        -> Deployment:
    return Deployment(id="h", model_name="free-tier", provider="huggingface",
                      model="HuggingFaceH4/zephyr-7b-beta",
                      litellm_model="huggingface/HuggingFaceH4/zephyr-7b-beta",
                      api_base=api_base, api_key=api_key)


def feed_all(name: str, body: dict[str, Any], endpoint: Any) -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for event in load(name):
        data = event["data"]
        chunks += translator.feed(data.encode() if isinstance(data, str) else orjson.dumps(data),
                                  event["event"])
    if translator.done:
        chunks += translator.finish()
    return translator, chunks


# ---------------------------------------------------------------- requests

def test_registry_serves_huggingface() -> None:
    assert isinstance(get_provider("huggingface"), HuggingFaceProvider)


@pytest.mark.parametrize("api_base", ["http://0.0.0.0:8001", "http://0.0.0.0:8001/",
                                      "http://0.0.0.0:8001/v1"])
def test_urls_with_or_without_v1(api_base: str) -> None:
    d = dep(api_base=api_base)
    assert P.build_request(d, "chat", CHAT, False).url == "http://0.0.0.0:8001/v1/chat/completions"
    assert P.build_request(d, "completions", {"prompt": "x"}, False).url == \
        "http://0.0.0.0:8001/generate"
    assert P.build_request(d, "completions", {"prompt": "x"}, True).url == \
        "http://0.0.0.0:8001/generate_stream"
    assert P.build_request(d, "embeddings", {"input": "x"}, False).url == \
        "http://0.0.0.0:8001/v1/embeddings"


def test_chat_request_is_openai_with_upstream_model_and_usage_asked_on_streams() -> None:
    request = P.build_request(dep(), "chat", CHAT, stream=True)
    body = orjson.loads(request.body)
    assert body["model"] == "HuggingFaceH4/zephyr-7b-beta"
    assert body["messages"] == CHAT["messages"]
    assert body["stream_options"] == {"include_usage": True}
    assert request.headers["Authorization"] == "Bearer hf_secrettoken123"
    assert "Authorization" not in P.build_request(dep(api_key=None), "chat", CHAT, False).headers


def test_generate_request_translates_the_recorded_example() -> None:
    case = load("generate_request.json")
    before = copy.deepcopy(case["openai"])
    request = P.build_request(dep(), "completions", case["openai"], stream=False)
    assert orjson.loads(request.body) == case["tgi"]
    assert case["openai"] == before


def test_generate_stream_request_drops_decoder_input_details_and_zero_temperature() -> None:
    body = {"prompt": "x", "temperature": 0, "top_p": 0.5}
    params = orjson.loads(P.build_request(dep(), "completions", body, True).body)["parameters"]
    assert params == {"details": True, "return_full_text": False, "top_p": 0.5}


def test_embeddings_request_asks_for_floats() -> None:
    body = {"model": "e", "input": ["a", "b"], "encoding_format": "base64"}
    sent = orjson.loads(P.build_request(dep(), "embeddings", body, False).body)
    assert sent == {"model": "HuggingFaceH4/zephyr-7b-beta", "input": ["a", "b"]}


# ---------------------------------------------------------------- answers

def test_chat_answer_is_forwarded_with_usage() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("chat_response.json"))
    assert done.body["choices"][0]["message"]["content"].startswith("Deep learning")
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (23, 11)
    assert done.raw == raw("chat_response.json")


def test_generate_answer_counts_prefill_as_prompt_tokens() -> None:
    done = P.parse_response(dep(), "completions", {"prompt": "x"}, raw("generate_response.json"))
    choice = done.body["choices"][0]
    assert choice["text"] == " am a software engineer at Hugging Face."
    assert choice["finish_reason"] == "length"
    assert done.body["object"] == "text_completion"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (7, 8)
    assert not done.usage.estimated


def test_generate_answer_without_details_is_estimated_and_list_form_accepted() -> None:
    payload = orjson.dumps([{"generated_text": "twelve chars"}])
    done = P.parse_response(dep(), "completions", {"prompt": "abcdefgh"}, payload)
    assert done.body["choices"][0]["finish_reason"] == "stop"
    assert done.usage.estimated
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (2, 3)


def test_embeddings_answer_float_passthrough_and_base64() -> None:
    floats = P.parse_response(dep(), "embeddings", {"input": ["a", "b"]},
                              raw("embeddings_response.json"))
    assert floats.raw == raw("embeddings_response.json")
    assert floats.usage.prompt_tokens == 9 and not floats.usage.estimated
    packed = P.parse_response(dep(), "embeddings", {"input": ["a", "b"],
                                                    "encoding_format": "base64"},
                              raw("embeddings_response.json"))
    expected = load("embeddings_response.json")["data"][0]["embedding"]
    decoded = struct.unpack("<4f", base64.b64decode(packed.body["data"][0]["embedding"]))
    assert list(decoded) == pytest.approx(expected, rel=1e-6)
    assert packed.raw is None


@pytest.mark.parametrize("endpoint, payload", [
    ("completions", b"<html>"), ("completions", b'{"details": {}}'), ("completions", b"[]"),
    ("chat", b'{"object": "chat.completion"}'), ("embeddings", b'{"object": "list"}'),
])
def test_garbage_answer_raises(endpoint: Any, payload: bytes) -> None:
    body = {"prompt": "x", "input": "x", "encoding_format": "base64", "messages": []}
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), endpoint, body, payload)


def test_base64_of_non_numbers_raises() -> None:
    payload = orjson.dumps({"data": [{"embedding": ["x"], "index": 0}]})
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), "embeddings", {"encoding_format": "base64"}, payload)


def test_error_message_is_extracted() -> None:
    assert P.error_message(422, raw("error.json")).startswith("Input validation error")


# ---------------------------------------------------------------- streams

def test_generate_stream_with_input_length() -> None:
    t, chunks = feed_all("generate_stream.json", {"prompt": "x", **USAGE}, "completions")
    assert t.done
    assert [c["choices"][0]["text"] for c in chunks[:-1]] == [" am", " a", " developer", ""]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert not t.usage().estimated


def test_old_generate_stream_estimates_the_prompt_only() -> None:
    t, chunks = feed_all("generate_stream_old.json", {"prompt": "My name is"}, "completions")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)
    usage = t.usage()
    assert usage.estimated and (usage.prompt_tokens, usage.completion_tokens) == (3, 2)


def test_generate_stream_error_raises() -> None:
    translator = P.stream_translator(dep(), "completions", {"prompt": "x"})
    events = load("stream_error.json")
    translator.feed(orjson.dumps(events[0]["data"]))
    with pytest.raises(BadUpstreamResponse, match="out of memory"):
        translator.feed(orjson.dumps(events[1]["data"]))
    assert not translator.done


def test_chat_stream_with_reported_usage() -> None:
    t, chunks = feed_all("chat_stream.json", {**CHAT, **USAGE}, "chat")
    assert t.done
    assert [c["usage"] for c in chunks if c.get("usage")] == [
        {"prompt_tokens": 23, "completion_tokens": 3, "total_tokens": 26}]
    assert not t.usage().estimated


def test_chat_stream_usage_hidden_when_not_asked() -> None:
    t, chunks = feed_all("chat_stream.json", CHAT, "chat")
    assert all(not c.get("usage") for c in chunks)
    assert len(chunks) == 3 and t.usage().prompt_tokens == 23


def test_legacy_chat_stream_without_done_or_usage() -> None:
    t, chunks = feed_all("chat_stream_legacy.json", {**CHAT, **USAGE}, "chat")
    assert t.done   # finish_reason counts as the clean end
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"   # eos_token normalised
    usage_chunks = [c for c in chunks if c.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0]["choices"] == []
    assert t.usage().estimated and t.usage().completion_tokens == 4   # "Deep learning"


def test_legacy_chat_stream_without_usage_requested_adds_no_usage_chunk() -> None:
    _, chunks = feed_all("chat_stream_legacy.json", CHAT, "chat")
    assert all(not c.get("usage") for c in chunks)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_garbage_stream_event_raises(endpoint: Any) -> None:
    with pytest.raises(BadUpstreamResponse):
        P.stream_translator(dep(), endpoint, CHAT).feed(b"{oops")


def test_chat_stream_without_usage_chunk_gets_an_estimated_one_at_done() -> None:
    events = [e for e in load("chat_stream.json") if not (isinstance(e["data"], dict)
                                                         and e["data"].get("usage"))]
    translator = P.stream_translator(dep(), "chat", {**CHAT, **USAGE})
    for event in events[:-1]:
        assert all(not c.get("usage") for c in translator.feed(orjson.dumps(event["data"])))
    [last] = translator.feed(b"[DONE]")
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 4
    assert translator.done and translator.finish() == []
    assert translator.usage().estimated


def test_chat_request_speaks_tgi_dialect_for_limits_and_json() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {**CHAT, "max_completion_tokens": 50,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                                                                       "schema": schema}}}
    before = copy.deepcopy(body)
    sent = orjson.loads(P.build_request(dep(), "chat", body, False).body)
    assert sent["max_tokens"] == 50 and "max_completion_tokens" not in sent
    assert sent["response_format"] == {"type": "json", "value": schema}
    assert body == before
    sent = orjson.loads(P.build_request(dep(), "chat", {
        **CHAT, "max_tokens": 9, "response_format": {"type": "json_object"}}, False).body)
    assert sent["max_tokens"] == 9
    assert sent["response_format"] == {"type": "json", "value": {"type": "object"}}
