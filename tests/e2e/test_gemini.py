"""gemini/ end to end: the official openai SDK -> a real gwd -> GeminiFake on loopback
speaking Google AI Studio's native API (generateContent, SSE streams, batchEmbedContents)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import config_secrets, scan_gwd
from tests.fakes import Fault, GeminiFake
from tests.support.gwd import MASTER_KEY, GwdProcess

KEY = "AIzaSy-gemini-upstream-secret-0a1b2c3d4e"
MESSAGES: Any = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Say hello"}]
TOOLS: Any = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def fake() -> Iterator[GeminiFake]:
    with GeminiFake("gemini", api_key=KEY) as f:
        yield f


@pytest.fixture(scope="module")
def server(fake: GeminiFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    """One gwd for the module (the gwd fixture's canary scan runs at its end)."""
    config = {"model_list": [
        {"model_name": "flash", "litellm_params": {"model": "gemini/gemini-2.0-flash",
                                                   "api_base": fake.base_url}},
        {"model_name": "embed", "litellm_params": {"model": "gemini/gemini-embedding-001",
                                                   "api_base": fake.base_url}},
    ], "general_settings": {"master_key": MASTER_KEY}}
    proc = GwdProcess(config, tmp_path_factory.mktemp("gemini"), env={"GEMINI_API_KEY": KEY},
                      record=True).start()
    yield proc
    proc.close()
    scan_gwd(proc, config_secrets(config) + [KEY])


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                       timeout=20) as c:
        yield c


def test_chat(client: openai.OpenAI, fake: GeminiFake) -> None:
    reply = client.chat.completions.create(model="flash", messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == fake.reply_text
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 5)
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.header("x-goog-api-key") == KEY and "key" not in sent.query
    assert sent.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.json["generationConfig"] == {"maxOutputTokens": 50}


def test_stream_with_usage(client: openai.OpenAI, fake: GeminiFake) -> None:
    stream = client.chat.completions.create(model="flash", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    text, finish, usage = "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert (text, finish) == (fake.reply_text, "stop")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 5)
    assert fake.requests[-1].query == {"alt": "sse"}


def test_forced_tool_call_both_ways(client: openai.OpenAI) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply = client.chat.completions.create(model="flash", messages=MESSAGES, tools=TOOLS,
                                           tool_choice=choice)  # type: ignore[arg-type]
    (call,) = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"fake": "get_weather"}
    streamed = list(client.chat.completions.create(model="flash", messages=MESSAGES,
                                                   tools=TOOLS, tool_choice=choice,
                                                   stream=True))  # type: ignore[arg-type]
    calls = [c.choices[0].delta.tool_calls for c in streamed if c.choices[0].delta.tool_calls]
    assert calls and calls[0][0].function.name == "get_weather"  # type: ignore[union-attr]
    assert streamed[-1].choices[0].finish_reason == "tool_calls"


def test_text_completions(client: openai.OpenAI, fake: GeminiFake) -> None:
    reply = client.completions.create(model="flash", prompt="Say hello", max_tokens=20)
    assert reply.choices[0].text == fake.reply_text
    text = "".join(c.choices[0].text for c in client.completions.create(
        model="flash", prompt="Say hello", stream=True) if c.choices)
    assert text == fake.reply_text


def test_embeddings_float_and_sdk_default_base64(client: openai.OpenAI,
                                                 fake: GeminiFake) -> None:
    floats = client.embeddings.create(model="embed", input=["one", "two"],
                                      encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 8
    assert fake.requests[-1].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    default = client.embeddings.create(model="embed", input=["one", "two"])
    assert default.data[1].embedding == pytest.approx(floats.data[1].embedding, abs=1e-6)


def test_upstream_errors_map_as_for_every_provider(client: openai.OpenAI,
                                                   fake: GeminiFake) -> None:
    fake.enqueue(Fault(status=400, body={"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                   "message": "Unsupported MIME type"}}))
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="flash", messages=MESSAGES)
    assert "Unsupported MIME type" in str(err.value)
    fake.enqueue(Fault(status=403), Fault(status=429), Fault(status=429), Fault(status=429))
    with pytest.raises(openai.APIStatusError) as auth:
        client.chat.completions.create(model="flash", messages=MESSAGES)
    assert auth.value.status_code == 502
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="flash", messages=MESSAGES)
