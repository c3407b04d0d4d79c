"""gemini/: Google AI Studio's native API (tests/data/gemini: recorded requests and answers)."""

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
from gwd.providers.gemini import GeminiProvider

DATA = Path(__file__).resolve().parent.parent / "data" / "gemini"
P = GeminiProvider()
CHAT = {"model": "gemini-flash", "messages": [{"role": "user", "content": "What is deep learning?"}]}
KEY = "AIzaSyFAKE-gemini-key-0123456789abcdef"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def dep(api_base: str | None = None, model: str = "gemini-2.0-flash") -> Deployment:
    return Deployment(id="g", model_name="gemini-flash", provider="gemini", model=model,
                      litellm_model=f"gemini/{model}", api_base=api_base, api_key=KEY)


def feed_all(name: str, body: dict[str, Any], endpoint: Any = "chat") -> tuple[Any, list[Any]]:
    translator = P.stream_translator(dep(), endpoint, body)
    chunks: list[Any] = []
    for event in load(name):
        chunks += translator.feed(orjson.dumps(event["data"]), event["event"])
    if translator.done:
        chunks += translator.finish()
    return translator, chunks


# ---------------------------------------------------------------- config and requests

def test_config_recognises_gemini_with_its_key_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model_list:\n  - model_name: g\n    litellm_params: {model: gemini/gemini-2.5-pro}\n")
    (d,) = load_config(path, env={"GEMINI_API_KEY": KEY}).deployments
    assert (d.provider, d.model, d.api_key) == ("gemini", "gemini-2.5-pro", KEY)
    assert d.api_base == "https://generativelanguage.googleapis.com"
    assert isinstance(get_provider("gemini"), GeminiProvider)


@pytest.mark.parametrize("stream, method", [(False, "generateContent"),
                                            (True, "streamGenerateContent?alt=sse")])
def test_urls_and_the_key_header(stream: bool, method: str) -> None:
    req = P.build_request(dep(), "chat", CHAT, stream=stream)
    assert req.url == ("https://generativelanguage.googleapis.com/v1beta/models/"
                       f"gemini-2.0-flash:{method}")
    assert req.headers["x-goog-api-key"] == KEY and KEY not in req.url
    assert req.stream_format == "sse"
    own = P.build_request(dep("http://127.0.0.1:9/v1beta/"), "embeddings", {"input": "x"}, False)
    assert own.url == "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:batchEmbedContents"


def test_the_recorded_chat_request_translates_every_field() -> None:
    sent = orjson.loads(P.build_request(dep(), "chat", load("chat_request.json"), False).body)
    assert sent["systemInstruction"] == {"parts": [{"text": "You are a weather bot."}]}
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    first = sent["contents"][0]["parts"]
    assert first[0] == {"text": "Weather in Paris? See "}
    assert first[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert sent["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather",
                                                              "args": {"city": "Paris"}}}]
    # the tool result is named after the call it answers, and merged with the next user turn
    assert sent["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "18C, sunny"}}},
        {"text": "And tomorrow?"}]
    (declaration,) = sent["tools"][0]["functionDeclarations"]
    assert declaration["parameters"] == {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}   # $schema etc. dropped
    assert sent["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert sent["generationConfig"] == {
        "maxOutputTokens": 200, "temperature": 0.3, "topP": 0.9, "seed": 7,
        "candidateCount": 2, "stopSequences": ["END"], "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"}}


@pytest.mark.parametrize("choice, mode", [("auto", "AUTO"), ("none", "NONE"),
                                          ("required", "ANY")])
def test_tool_choice_modes(choice: str, mode: str) -> None:
    body = {**CHAT, "tools": load("chat_request.json")["tools"], "tool_choice": choice}
    sent = orjson.loads(P.build_request(dep(), "chat", body, False).body)
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_text_completion_prompt_becomes_one_user_turn() -> None:
    sent = orjson.loads(P.build_request(dep(), "completions", {"prompt": "Once upon",
                                                               "max_tokens": 5}, False).body)
    assert sent == {"contents": [{"role": "user", "parts": [{"text": "Once upon"}]}],
                    "generationConfig": {"maxOutputTokens": 5}}


def test_embeddings_request_batches_every_input() -> None:
    sent = orjson.loads(P.build_request(dep(model="gemini-embedding-001"), "embeddings",
                                        {"input": ["a", "b"], "dimensions": 4}, False).body)
    assert sent == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]},
         "outputDimensionality": 4},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]},
         "outputDimensionality": 4}]}


# ---------------------------------------------------------------- answers

def test_text_answer_and_usage() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_text.json"))
    choice = done.body["choices"][0]
    assert choice["message"]["content"].startswith("Deep learning is a subset")
    assert choice["finish_reason"] == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (8, 17)
    assert not done.usage.estimated and done.body["usage"]["total_tokens"] == 25
    assert done.body["object"] == "chat.completion" and done.body["model"] == "gemini-2.0-flash"


def test_thinking_is_billed_as_output_but_not_shown() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_thinking.json"))
    assert done.body["choices"][0]["message"]["content"] == "42"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (12, 245)


def test_function_call_answer_becomes_tool_calls() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_tool.json"))
    choice = done.body["choices"][0]
    (call,) = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}


def test_finish_reasons_length_and_blocked_prompt() -> None:
    done = P.parse_response(dep(), "chat", CHAT, raw("response_max_tokens.json"))
    assert done.body["choices"][0]["finish_reason"] == "length"
    done = P.parse_response(dep(), "chat", CHAT, raw("response_blocked.json"))
    assert done.body["choices"][0]["finish_reason"] == "content_filter"
    assert done.usage.prompt_tokens == 7


def test_text_completion_answer_shape() -> None:
    done = P.parse_response(dep(), "completions", {"prompt": "x"}, raw("response_text.json"))
    assert done.body["object"] == "text_completion"
    assert done.body["choices"][0]["text"].startswith("Deep learning")


def test_embeddings_float_and_base64() -> None:
    done = P.parse_response(dep(), "embeddings", {"input": ["a", "b"]}, raw("embed_response.json"))
    assert [d["index"] for d in done.body["data"]] == [0, 1]
    assert done.body["data"][0]["embedding"][0] == pytest.approx(0.013168523)
    assert done.usage.estimated
    b64 = P.parse_response(dep(), "embeddings", {"input": ["a", "b"],
                                                 "encoding_format": "base64"},
                           raw("embed_response.json"))
    packed = base64.b64decode(b64.body["data"][1]["embedding"])
    assert struct.unpack("<4f", packed)[2] == pytest.approx(-0.057861596)


@pytest.mark.parametrize("payload", [b"[]", b"not json", b'{"candidates": []}',
                                     b'{"embeddings": [{"nope": 1}]}'])
def test_bad_answers_are_bad_upstream_responses(payload: bytes) -> None:
    endpoint: Any = "embeddings" if b"embeddings" in payload else "chat"
    with pytest.raises(BadUpstreamResponse):
        P.parse_response(dep(), endpoint, CHAT, payload)


def test_error_message_is_google_s_own() -> None:
    assert P.error_message(400, raw("error.json")) == \
        "API key not valid. Please pass a valid API key."


# ---------------------------------------------------------------- streams

def test_stream_text_with_usage_from_the_last_event() -> None:
    asked = {**CHAT, "stream_options": {"include_usage": True}}
    translator, chunks = feed_all("stream_text.json", asked)
    assert translator.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Deep learning is a subset of machine learning that uses neural networks.\n"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 8, "completion_tokens": 14, "total_tokens": 22}


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    translator, chunks = feed_all("stream_text.json", CHAT)
    assert all(c["choices"] for c in chunks) and translator.usage().completion_tokens == 14


def test_stream_function_calls_get_indexes_and_the_tool_calls_finish() -> None:
    translator, chunks = feed_all("stream_tool.json", CHAT)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c["choices"][0]["delta"].get("tool_calls")]
    assert [c["index"] for c in calls] == [0, 1]
    assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == ["Paris", "Lyon"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage().prompt_tokens == 41


def test_stream_for_text_completions() -> None:
    _, chunks = feed_all("stream_text.json", {"prompt": "x"}, "completions")
    assert all(c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_that_ends_without_a_finish_reason_is_not_done() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    translator.feed(orjson.dumps(load("stream_text.json")[0]["data"]))
    usage = translator.usage()   # cut short: the prompt count is Google's, the output estimated
    assert not translator.done and usage.prompt_tokens == 8
    assert usage.estimated and usage.completion_tokens == 1   # "Deep"


def test_stream_error_event_raises() -> None:
    translator = P.stream_translator(dep(), "chat", CHAT)
    with pytest.raises(BadUpstreamResponse, match="quota"):
        translator.feed(b'{"error": {"code": 429, "message": "quota exceeded"}}')
