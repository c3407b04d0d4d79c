"""Every provider kind, end to end: the official openai SDK -> a real gwd -> a fake upstream.

One gwd (module scope) serves a model group per provider kind, each pointing at a
real aiohttp server on loopback speaking that provider's wire format (JSON, SSE,
NDJSON). Calls go through the SDK exactly as a user's would, streamed and not.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import assert_no_secret, config_secrets
from tests.fakes import AnthropicFake, AzureFake, FakeUpstream, OllamaFake, OpenAIFake, TGIFake
from tests.support.gwd import MASTER_KEY, GwdProcess

PROVIDER_KEY = "sk-upstream-secret-0f1e2d3c4b5a69788796"


@dataclass
class Kind:
    group: str
    fake: FakeUpstream | None
    model: str
    embeddings: bool = True
    completions: bool = True
    reported_usage: bool = True


@pytest.fixture(scope="module")
def kinds() -> Iterator[dict[str, Kind]]:
    fakes = {"openai": OpenAIFake("openai-fake"), "azure": AzureFake("azure-fake"),
             "openrouter": OpenAIFake("openrouter-fake"),
             "anthropic": AnthropicFake("anthropic-fake"), "ollama": OllamaFake("ollama-fake"),
             "ollama_chat": OllamaFake("ollama-chat-fake"), "huggingface": TGIFake("tgi-fake")}
    for fake in fakes.values():
        fake.start()
    yield {
        "openai": Kind("g-openai", fakes["openai"], "openai/gpt-4o"),
        "azure": Kind("g-azure", fakes["azure"], "azure/my-gpt4o-deployment"),
        "openrouter": Kind("g-openrouter", fakes["openrouter"],
                           "openrouter/anthropic/claude-3.5-sonnet"),
        "anthropic": Kind("g-anthropic", fakes["anthropic"], "anthropic/claude-3-5-sonnet-20241022",
                          embeddings=False),
        "ollama": Kind("g-ollama", fakes["ollama"], "ollama/llama3"),
        "ollama_chat": Kind("g-ollama-chat", fakes["ollama_chat"], "ollama_chat/llama3"),
        "huggingface": Kind("g-hf", fakes["huggingface"],
                            "huggingface/HuggingFaceH4/zephyr-7b-beta"),
        "mock": Kind("g-mock", None, "mock/gpt-4o"),
    }
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="module")
def server(kinds: dict[str, Kind], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GwdProcess]:
    model_list = []
    for kind in kinds.values():
        params: dict[str, Any] = {"model": kind.model}
        if kind.fake is not None:
            params["api_base"] = kind.fake.base_url
            params["api_key"] = PROVIDER_KEY
        model_list.append({"model_name": kind.group, "litellm_params": params})
    config = {"model_list": model_list, "general_settings": {"master_key": MASTER_KEY}}
    proc = GwdProcess(config, tmp_path_factory.mktemp("providers")).start()
    yield proc
    proc.stop()
    assert_no_secret(proc.log_text(), config_secrets(config), "gwd's log")


@pytest.fixture
def client(server: GwdProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key=MASTER_KEY,
                       max_retries=0, timeout=20) as c:
        yield c


ALL = ["openai", "azure", "openrouter", "anthropic", "ollama", "ollama_chat", "huggingface",
       "mock"]
MESSAGES: Any = [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Say hello"}]


def expected_text(kind: Kind) -> str:
    if kind.fake is not None:
        return kind.fake.reply_text
    return "This is a mock response from gpt-4o to: Say hello"


@pytest.mark.parametrize("name", ALL)
def test_chat_non_streamed(name: str, kinds: dict[str, Kind], client: openai.OpenAI) -> None:
    kind = kinds[name]
    before = len(kind.fake.requests) if kind.fake else 0
    reply = client.chat.completions.create(model=kind.group, messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == expected_text(kind)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    if kind.fake is not None:
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (10, 5)
        sent = kind.fake.requests[before]
        auth = sent.header("authorization") or sent.header("api-key") or sent.header("x-api-key")
        assert auth is not None and PROVIDER_KEY in auth  # gwd authenticates upstream
        assert MASTER_KEY not in str(sent.headers)       # ...never with the client's key


@pytest.mark.parametrize("name", ALL)
def test_chat_streamed_with_usage(name: str, kinds: dict[str, Kind],
                                  client: openai.OpenAI) -> None:
    kind = kinds[name]
    stream = client.chat.completions.create(model=kind.group, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == expected_text(kind)
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0
    if kind.fake is not None and kind.reported_usage:
        assert (usage.prompt_tokens, usage.completion_tokens) == (10, 5)


@pytest.mark.parametrize("name", ALL)
def test_stream_without_include_usage_has_no_usage_only_chunk(
        name: str, kinds: dict[str, Kind], client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=kinds[name].group, messages=MESSAGES,
                                                 stream=True))
    assert chunks and all(chunk.choices for chunk in chunks)  # chunk.choices[0] always works


def test_stream_is_sse_ending_with_done(server: GwdProcess, kinds: dict[str, Kind]) -> None:
    for name in ("anthropic", "ollama"):
        with httpx.stream("POST", server.base_url + "/chat/completions",
                          headers=server.headers(), timeout=10,
                          json={"model": kinds[name].group, "messages": MESSAGES,
                                "stream": True}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            body = r.read().decode()
        events = [e for e in body.split("\n\n") if e]
        assert events[-1] == "data: [DONE]"
        assert all(e.startswith("data: ") for e in events)


@pytest.mark.parametrize("name", [n for n in ALL if n != "anthropic"])
def test_embeddings_float_and_base64(name: str, kinds: dict[str, Kind],
                                     client: openai.OpenAI) -> None:
    kind = kinds[name]
    as_float = client.embeddings.create(model=kind.group, input=["one", "two"],
                                        encoding_format="float")
    assert [d.index for d in as_float.data] == [0, 1]
    vector = as_float.data[0].embedding
    assert len(vector) > 1 and all(isinstance(v, float) for v in vector)
    assert as_float.usage.prompt_tokens > 0
    # the SDK's default asks for base64 and decodes it: the vectors must match
    default = client.embeddings.create(model=kind.group, input=["one", "two"])
    assert default.data[0].embedding == pytest.approx(vector, abs=1e-6)


def test_embeddings_base64_is_little_endian_float32(server: GwdProcess,
                                                    kinds: dict[str, Kind]) -> None:
    r = httpx.post(server.base_url + "/v1/embeddings", headers=server.headers(), timeout=10,
                   json={"model": kinds["ollama"].group, "input": "x",
                         "encoding_format": "base64"})
    data = base64.b64decode(r.json()["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(data) // 4}f", data)
    assert len(floats) > 1 and any(abs(v) > 0 for v in floats)


def test_anthropic_has_no_embeddings(kinds: dict[str, Kind], client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=kinds["anthropic"].group, input="x")
    assert err.value.body["code"] == "unsupported_endpoint"  # type: ignore[index]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("stream", [False, True])
def test_text_completions(name: str, stream: bool, kinds: dict[str, Kind],
                          client: openai.OpenAI) -> None:
    kind = kinds[name]
    if stream:
        text = "".join(c.choices[0].text for c in client.completions.create(
            model=kind.group, prompt="Say hello", stream=True) if c.choices)
    else:
        reply = client.completions.create(model=kind.group, prompt="Say hello", max_tokens=20)
        text = reply.choices[0].text
        assert reply.usage is not None and reply.usage.completion_tokens > 0
    if kind.fake is not None:
        assert text == kind.fake.reply_text
    else:
        assert text.startswith("This is a mock response")


def test_models_lists_every_group(kinds: dict[str, Kind], client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert ids == {k.group for k in kinds.values()}


def test_upstream_model_names_are_mapped(kinds: dict[str, Kind], client: openai.OpenAI) -> None:
    client.chat.completions.create(model=kinds["openrouter"].group, messages=MESSAGES)
    assert kinds["openrouter"].fake.requests[-1].json["model"] == "anthropic/claude-3.5-sonnet"
    client.chat.completions.create(model=kinds["azure"].group, messages=MESSAGES)
    sent = kinds["azure"].fake.requests[-1]
    assert "/openai/deployments/my-gpt4o-deployment/" in sent.path
    assert sent.query.get("api-version")
    client.chat.completions.create(model=kinds["anthropic"].group, messages=MESSAGES)
    sent = kinds["anthropic"].fake.requests[-1]
    assert sent.path == "/v1/messages" and sent.json["system"] == "Be brief."
    assert sent.header("anthropic-version") == "2023-06-01"


def test_v1_prefix_is_optional(server: GwdProcess, kinds: dict[str, Kind]) -> None:
    body = {"model": kinds["mock"].group, "messages": MESSAGES}
    for path in ("/chat/completions", "/v1/chat/completions"):
        r = httpx.post(server.base_url + path, json=body, headers=server.headers(), timeout=10)
        assert r.status_code == 200, r.text


def test_gwd_log_has_no_provider_key(server: GwdProcess, tmp_path: Path) -> None:
    assert PROVIDER_KEY not in server.log_text()
