"""OpenAI and OpenAI-compatible upstreams (``openai/``, bare ``gpt-*``).

The request is the client's own body with ``model`` replaced by the upstream
model; streamed calls ask for ``stream_options.include_usage`` so usage is
reported, and the trailing usage-only chunk is dropped again unless the client
asked for it. Non-streamed answers are forwarded byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
from .base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    Provider,
    StreamTranslator,
    UpstreamRequest,
    content_text,
    dumps,
    estimated_usage,
    loads_object,
    openai_usage,
    reported_usage,
)

PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "completions": "/completions",
                              "embeddings": "/embeddings"}


def wants_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


class OpenAITranslator(StreamTranslator):
    """OpenAI SSE chunks pass through; usage is taken from the usage chunk."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        if data.strip() == b"[DONE]":
            self.done = True
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(chunk, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        if "error" in chunk and "choices" not in chunk:
            raise BadUpstreamResponse("upstream reported an error mid-stream")
        usage = chunk.get("usage")
        if not isinstance(chunk.get("choices"), list) and not isinstance(usage, Mapping):
            raise BadUpstreamResponse("upstream sent a stream chunk with no choices list")
        if isinstance(usage, Mapping):
            self.reported = openai_usage(usage, self.endpoint, self.body)
            if self.reported.estimated:
                self.reported = None
        for choice in chunk.get("choices") or ():
            if isinstance(choice, Mapping):
                delta = choice.get("delta")
                if isinstance(delta, Mapping):
                    self.text_parts.append(content_text(delta.get("content")))
                elif isinstance(choice.get("text"), str):
                    self.text_parts.append(choice["text"])
        if not chunk.get("choices") and usage is not None and not self.client_wants_usage:
            return []
        if usage is not None and not self.client_wants_usage:
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return [chunk]


class OpenAIProvider(Provider):
    name = "openai"

    def url(self, dep: Deployment, endpoint: Endpoint) -> str:
        return f"{dep.api_base}{PATHS[endpoint]}"

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if dep.api_key:
            headers["Authorization"] = f"Bearer {dep.api_key}"
        if dep.extra.get("organization"):
            headers["OpenAI-Organization"] = dep.extra["organization"]
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        out = dict(body)
        out["model"] = dep.model
        if stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        # positional (url, headers, body, stream_format): keywords cost more per call
        return UpstreamRequest(self.url(dep, endpoint), self.headers(dep), dumps(out), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        if endpoint == "embeddings":
            if not isinstance(data.get("data"), list):
                raise BadUpstreamResponse("upstream embeddings answer has no data list")
            return Completion(data, openai_usage(data.get("usage"), endpoint, body), raw=payload)
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise BadUpstreamResponse("upstream answer has no choices list")
        usage = reported_usage(data.get("usage"), endpoint)
        if usage is None:  # estimate from the text (only then is it gathered)
            text = "".join(
                content_text((c.get("message") or {}).get("content")) if endpoint == "chat"
                else str(c.get("text") or "")
                for c in choices if isinstance(c, Mapping))
            usage = estimated_usage(endpoint, body, text)
        return Completion(data, usage, raw=payload)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return OpenAITranslator(endpoint, body, dep.model)


class OpenRouterProvider(OpenAIProvider):
    """OpenRouter speaks OpenAI's format at https://openrouter.ai/api/v1."""

    name = "openrouter"

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = super().headers(dep)
        headers["X-Title"] = "gw"
        return headers


class AzureProvider(OpenAIProvider):
    """Azure OpenAI: a deployment URL, an ``api-version`` query and an ``api-key`` header."""

    name = "azure"

    def url(self, dep: Deployment, endpoint: Endpoint) -> str:
        return (f"{dep.api_base}/openai/deployments/{dep.model}{PATHS[endpoint]}"
                f"?api-version={dep.api_version}")

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if dep.api_key:
            headers["api-key"] = dep.api_key
        return headers
