"""The Anthropic Messages door: ``/v1/messages`` to any deployment.

To ``anthropic/`` deployments the client's request is forwarded natively
(:class:`NativeMessages`): its own body with ``model`` set to the deployment's,
so ``cache_control``, ``thinking``, ``tool_use``/``tool_result``, images and any
newer field arrive intact; the client's ``anthropic-version`` (else
``2023-06-01``) and ``anthropic-beta`` headers are passed on; the answer goes
back byte for byte, and a stream event for event. Usage is read on the side:
prompt tokens = ``input_tokens`` + ``cache_creation_input_tokens`` +
``cache_read_input_tokens``, as for chat calls to Anthropic.

To every other deployment the call goes as its OpenAI translation
(:mod:`.anthropic_request`) and the answer comes back translated
(:mod:`.anthropic_answer`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
from ..providers.anthropic import (
    API_VERSION,
    AnthropicProvider,
    AnthropicTranslator,
    _count,
    anthropic_usage,
    prompt_tokens_of,
)
from ..providers.base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    Provider,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    dumps,
    estimated_usage,
    loads_object,
)
from .anthropic_answer import AnthropicSink, error_event, message_from_chat
from .base import Door, Sink, named_event, nested_id


def messages_url(dep: Deployment, path: str = "/messages") -> str:
    base = (dep.api_base or "https://api.anthropic.com").rstrip("/")
    return f"{base}{path}" if base.endswith("/v1") else f"{base}/v1{path}"


def native_usage(data: Mapping[str, Any]) -> Usage | None:
    usage = data.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, output = prompt_tokens_of(usage), _count(usage.get("output_tokens"))
    if prompt is None or output is None:
        return None
    return anthropic_usage(usage, prompt, output)


class NativeTranslator(AnthropicTranslator):
    """Anthropic's events pass through as they are; usage and the end are read on the
    side (by the chat translator this extends)."""

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        super().feed(data, event)   # raises on an error event or a non-object
        message: Json = orjson.loads(data)
        return [message]


class NativeMessages(Provider):
    """``anthropic/`` deployments, spoken to in the client's own Messages format."""

    name = "anthropic"

    def __init__(self, body: Mapping[str, Any], version: str | None,
                 beta: str | None) -> None:
        self.body = body
        self.version = version or API_VERSION
        self.beta = beta

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": self.version}
        if self.beta:
            headers["anthropic-beta"] = self.beta
        if dep.api_key:
            headers["x-api-key"] = dep.api_key
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        out = dict(self.body)
        out["model"] = dep.model
        return UpstreamRequest(messages_url(dep), self.headers(dep), dumps(out), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise BadUpstreamResponse("upstream answer is not a message")
        text = "".join(b.get("text", "") for b in data["content"]
                       if isinstance(b, Mapping) and isinstance(b.get("text"), str))
        usage = native_usage(data) or estimated_usage(endpoint, body, text)
        return Completion(data, usage, raw=payload)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return NativeTranslator(endpoint, body, dep.model)

    def error_message(self, status: int, payload: bytes) -> str:
        return AnthropicProvider().error_message(status, payload)


class NativeSink(Sink):
    """Anthropic events framed as Anthropic frames them; nothing after message_stop."""

    def chunk(self, chunk: Json) -> bytes:
        return named_event(chunk)

    def answer_id(self, chunk: Json) -> str | None:
        return nested_id(chunk, "message")

    def end(self, usage: Usage) -> bytes:
        return b""

    def error(self, body: Json) -> bytes:
        return error_event(body)


NATIVE_SINK = NativeSink()


class AnthropicDoor(Door):
    """One ``/v1/messages`` call (see the module docstring)."""

    name = "messages"

    def __init__(self, body: Mapping[str, Any], version: str | None, beta: str | None) -> None:
        self.model = str(body["model"])
        self.native = NativeMessages(body, version, beta)

    def provider(self, dep: Deployment) -> Provider:
        if dep.provider == "anthropic":
            return self.native
        return super().provider(dep)

    def render(self, dep: Deployment, completion: Completion) -> bytes:
        if dep.provider == "anthropic" and completion.raw is not None:
            return completion.raw
        return orjson.dumps(message_from_chat(completion.body, completion.usage, self.model))

    def sink(self, dep: Deployment) -> Sink:
        return NATIVE_SINK if dep.provider == "anthropic" else AnthropicSink(self.model)
