"""cohere/ end to end: the official openai SDK -> a real gwd -> CohereFake on loopback
speaking Cohere's v2 chat and embed API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import config_secrets, scan_gwd
from tests.fakes import CohereFake, Fault
from tests.support.gwd import MASTER_KEY, GwdProcess

KEY = "co-upstream-secret-9f8e7d6c5b4a3210"
MESSAGES: Any = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Say hello"}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather",
                                                "parameters": {"type": "object"}}}]


@pytest.fixture(scope="module")
def fake() -> Iterator[CohereFake]:
    with CohereFake("cohere") as f:
        yield f


@pytest.fixture(scope="module")
def server(fake: CohereFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GwdProcess]:
    config = {"model_list": [
        {"model_name": "command", "litellm_params": {"model": "cohere/command-a-03-2025",
                                                     "api_base": fake.base_url,
                                                     "api_key": KEY}},
        {"model_name": "embed", "litellm_params": {"model": "cohere/embed-english-v3.0",
                                                   "api_base": fake.base_url,
                                                   "api_key": KEY}},
    ], "general_settings": {"master_key": MASTER_KEY}}
    proc = GwdProcess(config, tmp_path_factory.mktemp("cohere"), record=True).start()
    yield proc
    proc.close()
    scan_gwd(proc, config_secrets(config))


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                       timeout=20) as c:
        yield c


def test_chat_and_stream(client: openai.OpenAI, fake: CohereFake) -> None:
    reply = client.chat.completions.create(model="command", messages=MESSAGES, max_tokens=9)
    assert reply.choices[0].message.content == fake.reply_text
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 5)  # billed units
    sent = fake.requests[-1]
    assert sent.path == "/v2/chat" and sent.header("authorization") == f"Bearer {KEY}"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
    text, usage = "", None
    for chunk in client.chat.completions.create(model="command", messages=MESSAGES,
                                                stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == fake.reply_text
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 5)


def test_tool_calls_both_ways(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="command", messages=MESSAGES, tools=TOOLS,
                                           tool_choice="required")
    (call,) = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"fake": "get_weather"}
    follow = client.chat.completions.create(model="command", tools=TOOLS, messages=[
        *MESSAGES, reply.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert follow.choices[0].message.content
    chunks = list(client.chat.completions.create(model="command", messages=MESSAGES,
                                                 tools=TOOLS, tool_choice="required",
                                                 stream=True))
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    args = "".join(d[0].function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert json.loads(args) == {"fake": "get_weather"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings(client: openai.OpenAI, fake: CohereFake) -> None:
    floats = client.embeddings.create(model="embed", input=["a", "b"], encoding_format="float")
    assert len(floats.data) == 2 and floats.usage.prompt_tokens == 10
    assert fake.requests[-1].json["input_type"] == "search_document"
    default = client.embeddings.create(model="embed", input=["a", "b"])
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)


def test_errors_map_as_for_every_provider(client: openai.OpenAI, fake: CohereFake) -> None:
    fake.enqueue(Fault(status=400, body={"id": "x", "message": "invalid request: too long"}))
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="command", messages=MESSAGES)
    assert "invalid request: too long" in str(err.value)
