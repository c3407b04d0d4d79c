"""Each fake answers its wire format, faults behave as scripted, and gw's own
providers can read what the fakes send (so the e2e tests exercise real formats)."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from gwd.config import Deployment
from gwd.providers.anthropic import AnthropicProvider
from gwd.providers.base import BadUpstreamResponse, Provider
from gwd.providers.huggingface import HuggingFaceProvider
from gwd.providers.ollama import OllamaProvider

from . import AnthropicFake, AzureFake, Fault, OllamaFake, OpenAIFake, TGIFake
from .base import fake_vector

SHORT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
def oai() -> Iterator[OpenAIFake]:
    with OpenAIFake("east") as fake:
        yield fake


async def post(url: str, body: Any, headers: dict[str, str] | None = None,
               timeout: aiohttp.ClientTimeout = SHORT) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.post(url, json=body, headers=headers or {}) as response:
        return response.status, dict(response.headers), await response.read()


def sse_events(raw: bytes) -> list[tuple[str | None, bytes]]:
    events = []
    for block in raw.split(b"\n\n"):
        event, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                data.append(line[6:])
        if data:
            events.append((event, b"\n".join(data)))
    return events


def dep(provider: str, model: str, api_base: str) -> Deployment:
    return Deployment(id=f"{provider}-test", model_name="group", provider=provider,
                      model=model, litellm_model=f"{provider}/{model}", api_base=api_base,
                      api_key="sk-test-key-123456")


# ---------------------------------------------------------------- formats

def test_openai_fake_speaks_to_the_openai_sdk(oai: OpenAIFake) -> None:
    with openai.OpenAI(base_url=oai.base_url + "/v1", api_key="sk-x", max_retries=0) as client:
        chat = client.chat.completions.create(model="gpt-4o", messages=[
            {"role": "user", "content": "hi"}])
        assert chat.choices[0].message.content == "Hello from east, a fake upstream."
        assert chat.usage is not None and chat.usage.prompt_tokens == 10
        chunks = list(client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
            == oai.reply_text
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
        emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "bc"])
        assert emb.data[1].embedding == pytest.approx(fake_vector("bc"), abs=1e-6)
    sent = oai.requests
    assert [r.path for r in sent] == ["/v1/chat/completions"] * 2 + ["/v1/embeddings"]
    assert sent[0].header("authorization") == "Bearer sk-x"
    assert sent[2].json["encoding_format"] == "base64"   # the SDK's default


async def test_openai_stream_has_usage_chunk_only_when_asked(oai: OpenAIFake) -> None:
    _, headers, raw = await post(oai.base_url + "/chat/completions",
                                 {"model": "m", "stream": True, "messages": []})
    assert headers["Content-Type"].startswith("text/event-stream")
    assert b'"usage"' not in raw and raw.endswith(b"data: [DONE]\n\n")
    oai.enqueue(Fault(no_usage=True))
    _, _, raw = await post(oai.base_url + "/v1/completions",
                           {"model": "m", "prompt": "x", "stream": True,
                            "stream_options": {"include_usage": True}})
    assert b'"usage"' not in raw and b'"text_completion"' in raw


def test_azure_fake_requires_and_records_api_version() -> None:
    with AzureFake("azure-west") as fake, openai.AzureOpenAI(
            azure_endpoint=fake.base_url, api_key="az-key", api_version="2024-10-21",
            max_retries=0) as client:
        chat = client.chat.completions.create(model="my-deploy", messages=[
            {"role": "user", "content": "hi"}])
        assert chat.model == "my-deploy" and "azure-west" in (chat.choices[0].message.content
                                                              or "")
        request = fake.requests[0]
        assert request.path == "/openai/deployments/my-deploy/chat/completions"
        assert request.query["api-version"] == "2024-10-21"
        assert request.header("api-key") == "az-key"


async def test_azure_fake_refuses_a_missing_api_version() -> None:
    with AzureFake() as fake:
        status, _, raw = await post(fake.base_url + "/openai/deployments/d/chat/completions",
                                    {"messages": []})
    assert status == 400 and b"api-version" in raw


async def test_anthropic_fake_sends_the_real_event_sequence() -> None:
    with AnthropicFake("claude-east") as fake:
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        status, _, raw = await post(fake.base_url + "/v1/messages", {
            "model": "claude-3-5-haiku", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}, headers)
        names = [e for e, _ in sse_events(raw)]
        assert status == 200
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta",
                              "message_stop"]
        status, _, raw = await post(fake.base_url + "/v1/messages",
                                    {"model": "c", "messages": []}, headers)
        assert status == 400
        assert orjson.loads(raw)["error"] == {"type": "invalid_request_error",
                                              "message": "max_tokens: Field required"}
        status, _, _ = await post(fake.base_url + "/v1/messages",
                                  {"model": "c", "max_tokens": 5, "messages": []})
        assert status == 400   # no anthropic-version header


async def test_ollama_fake_streams_ndjson_by_default() -> None:
    with OllamaFake("llama-box") as fake:
        _, headers, raw = await post(fake.base_url + "/api/chat", {
            "model": "llama3", "messages": [{"role": "user", "content": "hi"}]})
        lines = [orjson.loads(line) for line in raw.splitlines()]
        assert headers["Content-Type"].startswith("application/x-ndjson")
        assert all(not line["done"] for line in lines[:-1])
        assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 5
        assert "".join(line["message"]["content"] for line in lines) == fake.reply_text
        _, _, raw = await post(fake.base_url + "/api/generate",
                               {"model": "llama3", "prompt": "hi", "stream": False})
        assert orjson.loads(raw)["response"] == fake.reply_text
        _, _, raw = await post(fake.base_url + "/api/embed",
                               {"model": "nomic", "input": ["a", "b"]})
        assert len(orjson.loads(raw)["embeddings"]) == 2
        status, _, raw = await post(fake.base_url + "/api/chat", {"messages": []})
        assert status == 400 and orjson.loads(raw) == {"error": "model is required"}


async def test_tgi_fake_native_and_messages_routes() -> None:
    with TGIFake("tgi-1", prompt_tokens=7) as fake:
        _, _, raw = await post(fake.base_url + "/generate", {"inputs": "hi", "parameters": {
            "details": True, "decoder_input_details": True}})
        answer = orjson.loads(raw)
        assert answer["generated_text"] == fake.reply_text
        assert len(answer["details"]["prefill"]) == 7
        _, _, raw = await post(fake.base_url + "/generate_stream",
                               {"inputs": "hi", "parameters": {"details": True}})
        last = orjson.loads(sse_events(raw)[-1][1])
        assert last["token"]["special"] is True and last["details"]["input_length"] == 7
        fake.send_done = False
        _, _, raw = await post(fake.base_url + "/v1/chat/completions",
                               {"model": "tgi", "messages": [], "stream": True})
        assert b"[DONE]" not in raw and b"chat.completion.chunk" in raw
        _, _, raw = await post(fake.base_url + "/embed", {"inputs": ["x"]})
        assert orjson.loads(raw) == [fake_vector("x")]


# ---------------------------------------------------------------- faults

async def test_status_fault_applies_to_the_next_request_only(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(status=429, headers={"Retry-After": "2"}), Fault(status=503))
    url = oai.base_url + "/v1/chat/completions"
    status, headers, raw = await post(url, {"model": "m"})
    assert status == 429 and headers["Retry-After"] == "2"
    assert "429" in orjson.loads(raw)["error"]["message"]
    assert (await post(url, {"model": "m"}))[0] == 503
    assert (await post(url, {"model": "m"}))[0] == 200


async def test_set_default_applies_to_every_request_until_cleared(oai: OpenAIFake) -> None:
    oai.set_default(Fault(status=500, body=b'{"error": "custom"}'))
    url = oai.base_url + "/v1/chat/completions"
    assert (await post(url, {}))[::2] == (500, b'{"error": "custom"}')
    assert (await post(url, {}))[0] == 500
    oai.set_default(None)
    assert (await post(url, {"model": "m"}))[0] == 200


async def test_delay_and_hang(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(delay=0.3), Fault(hang=True))
    url = oai.base_url + "/v1/chat/completions"
    started = time.monotonic()
    assert (await post(url, {"model": "m"}))[0] == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(TimeoutError):
        await post(url, {"model": "m"}, timeout=aiohttp.ClientTimeout(total=0.3))


async def test_reset_drops_the_connection(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(reset=True))
    with pytest.raises(aiohttp.ClientError):
        await post(oai.base_url + "/v1/chat/completions", {"model": "m"})
    assert len(oai.requests) == 1


async def read_broken_stream(oai: OpenAIFake, error: type[BaseException],
                             within: float | None = None) -> list[bytes]:
    """Stream a chat call from ``oai`` and read its lines until ``error`` is raised (by
    the stream, or by giving up after ``within`` seconds); the lines received by then."""
    received: list[bytes] = []
    async with aiohttp.ClientSession(timeout=SHORT) as session, \
            session.post(oai.base_url + "/v1/chat/completions",
                         json={"model": "m", "stream": True}) as response:
        with pytest.raises(error):
            async with asyncio.timeout(within):
                async for line in response.content:
                    received.append(line)
    return received


async def test_stream_cut_after_sends_n_events_then_breaks(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(stream_cut_after=2))
    received = await read_broken_stream(oai, aiohttp.ClientPayloadError)
    assert len([line for line in received if line.startswith(b"data: ")]) == 2
    assert not any(b"[DONE]" in line for line in received)


async def test_stream_stall_after_sends_n_events_then_goes_silent(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(stream_stall_after=2))
    received = await read_broken_stream(oai, TimeoutError, within=0.5)
    assert len([line for line in received if line.startswith(b"data: ")]) == 2
    assert oai.streams[0][:2] == ("stalled", 2)


async def test_body_cut_after_announces_the_body_then_resets(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(body_cut_after=10))
    async with aiohttp.ClientSession(timeout=SHORT) as session, \
            session.post(oai.base_url + "/v1/chat/completions", json={"model": "m"}) as response:
        assert response.status == 200 and (response.content_length or 0) > 10
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_garbage_is_sent_with_200(oai: OpenAIFake) -> None:
    oai.enqueue(Fault(garbage=b"<html>oops"), Fault(garbage=b"not json"))
    url = oai.base_url + "/v1/chat/completions"
    assert (await post(url, {"model": "m"}))[::2] == (200, b"<html>oops")
    status, _, raw = await post(url, {"model": "m", "stream": True})
    assert status == 200 and raw == b"data: not json\n\n"


# ---------------------------------------------------------------- gw reads the fakes

def translate(provider: Provider, d: Deployment, raw: bytes, ndjson: bool = False,
              endpoint: Any = "chat") -> tuple[str, Any]:
    body = {"model": "group", "stream": True, "messages": [{"role": "user", "content": "hi"}],
            "prompt": "hi", "stream_options": {"include_usage": True}}
    translator = provider.stream_translator(d, endpoint, body)
    chunks: list[dict[str, Any]] = []
    events = [(None, line) for line in raw.splitlines()] if ndjson else sse_events(raw)
    for event, data in events:
        chunks += translator.feed(data, event)
    chunks += translator.finish()
    assert translator.done
    text = "".join((c["choices"][0].get("delta", {}).get("content") or
                    c["choices"][0].get("text") or "") for c in chunks if c["choices"])
    return text, translator.usage()


async def test_providers_read_what_the_fakes_stream() -> None:
    with AnthropicFake("a1") as a, OllamaFake("o1") as o, TGIFake("t1") as t:
        d = dep("anthropic", "claude-3-5-haiku", a.base_url)
        req = AnthropicProvider().build_request(d, "chat", {"messages": [
            {"role": "user", "content": "hi"}]}, True)
        async with aiohttp.ClientSession(timeout=SHORT) as session, \
                session.post(req.url, data=req.body, headers=req.headers) as r:
            raw = await r.read()
        text, usage = translate(AnthropicProvider(), d, raw)
        assert text == a.reply_text and (usage.prompt_tokens, usage.estimated) == (10, False)

        d = dep("ollama", "llama3", o.base_url)
        req = OllamaProvider().build_request(d, "chat", {"messages": []}, True)
        _, _, raw = await post(req.url, orjson.loads(req.body))
        text, usage = translate(OllamaProvider(), d, raw, ndjson=True)
        assert text == o.reply_text and usage.completion_tokens == 5

        d = dep("huggingface", "zephyr", t.base_url + "/v1")
        req = HuggingFaceProvider().build_request(d, "completions", {"prompt": "hi"}, True)
        _, _, raw = await post(req.url, orjson.loads(req.body))
        text, usage = translate(HuggingFaceProvider(), d, raw, endpoint="completions")
        assert text == t.reply_text and not usage.estimated


async def test_provider_rejects_fake_garbage() -> None:
    with OllamaFake() as fake:
        fake.enqueue(Fault(garbage=b"{{{"))
        d = dep("ollama", "llama3", fake.base_url)
        req = OllamaProvider().build_request(d, "chat", {"messages": []}, False)
        status, _, raw = await post(req.url, orjson.loads(req.body))
        assert status == 200
        with pytest.raises(BadUpstreamResponse):
            OllamaProvider().parse_response(d, "chat", {"messages": []}, raw)


def test_base64_embeddings_are_little_endian_float32(oai: OpenAIFake) -> None:
    with openai.OpenAI(base_url=oai.base_url, api_key="k", max_retries=0) as client:
        raw = client.embeddings.with_raw_response.create(model="e", input="z",
                                                         encoding_format="base64")
    encoded = orjson.loads(raw.content)["data"][0]["embedding"]
    decoded = struct.unpack(f"<{len(fake_vector('z'))}f", base64.b64decode(encoded))
    assert list(decoded) == pytest.approx(fake_vector("z"), abs=1e-6)
