"""The Responses door: ``POST /v1/responses`` (and the URLs of a stored response).

To ``openai/`` and ``azure/`` deployments the client's body is forwarded with only
``model`` replaced (``{api_base}/responses``; Azure:
``{api_base}/openai/responses?api-version=``); the answer goes back byte for byte
and a stream event for event (no ``[DONE]``: the Responses API sends none).
Usage is read on the side: ``input_tokens`` (cached ones included) and
``output_tokens`` (reasoning included), from the answer or the stream's
``response.completed``/``response.incomplete`` event.

Other deployments get the request as a chat call when :mod:`.responses_chat` can
translate it faithfully (no stream, function tools only, ...); a group with no
deployment able to serve the request refuses it with 400. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
from ..errors import InvalidRequest
from ..providers import get_provider
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
    with_parts,
)
from ..schema import MAX_MODEL_LEN, MAX_TOKENS_CAP, scan_routing_fields
from .base import Door, Sink, named_event, nested_id
from .responses_chat import response_from_chat, untranslatable

NATIVE = ("openai", "azure")
FINAL_EVENTS = ("response.completed", "response.incomplete")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
RESPONSE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def validate_responses(body: Any) -> tuple[str, int | None]:
    """Check a Responses request; returns (model, max_output_tokens)."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    scan_routing_fields(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", param="model")
    if len(model) > MAX_MODEL_LEN or _CONTROL.search(model):
        raise _bad("'model' is not a valid model name", param="model")
    value = body.get("input")
    if not isinstance(value, str) and not (
            isinstance(value, list) and value and all(isinstance(i, dict) for i in value)):
        raise _bad("'input' must be a string or a non-empty list of items", param="input")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not 1 <= limit <= MAX_TOKENS_CAP):
        raise _bad(f"'max_output_tokens' must be an integer from 1 to {MAX_TOKENS_CAP}",
                   param="max_output_tokens")
    for name, high in (("temperature", 2), ("top_p", 1)):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not 0 <= v <= high):
            raise _bad(f"'{name}' must be a number from 0 to {high}", param=name)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad("'stream' must be true or false", param="stream")
    for name in ("instructions", "previous_response_id", "user"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _bad(f"'{name}' must be a string", param=name)
    if body.get("tools") is not None and not (
            isinstance(body["tools"], list) and all(isinstance(t, dict) for t in body["tools"])):
        raise _bad("'tools' must be a list of tools", param="tools")
    return model, limit


def responses_url(dep: Deployment, suffix: str = "") -> str:
    if dep.provider == "azure":
        return f"{dep.api_base}/openai/responses{suffix}?api-version={dep.api_version}"
    return f"{dep.api_base}/responses{suffix}"


def upstream_headers(dep: Deployment) -> dict[str, str]:
    provider: Any = get_provider(dep.provider)
    return dict(provider.headers(dep))


def response_usage_of(data: Any) -> Usage | None:
    usage = data.get("usage") if isinstance(data, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    prompt, output = usage.get("input_tokens"), usage.get("output_tokens")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
               for v in (prompt, output)):
        return None
    ins, outs = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    return with_parts(prompt, output, {
        "cached_tokens": ins.get("cached_tokens") if isinstance(ins, Mapping) else None,
        "reasoning_tokens": outs.get("reasoning_tokens") if isinstance(outs, Mapping)
        else None})


class NativeResponsesTranslator(StreamTranslator):
    """Responses stream events pass through; usage and the end are read on the side."""

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(message, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        kind = message.get("type")
        if kind == "error" or kind == "response.failed":
            raise BadUpstreamResponse("upstream reported an error mid-stream")
        if kind == "response.output_text.delta" and isinstance(message.get("delta"), str):
            self.text_parts.append(message["delta"])
        elif kind in FINAL_EVENTS:
            self.reported = response_usage_of(message.get("response")) or self.reported
            self.done = True
        return [message]


class NativeResponses(Provider):
    """``openai/`` and ``azure/`` deployments, spoken to in the Responses format."""

    name = "responses"

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        out = dict(self.body)
        out["model"] = dep.model
        return UpstreamRequest(responses_url(dep), upstream_headers(dep), dumps(out), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        if data.get("object") != "response" or not isinstance(data.get("output"), list):
            raise BadUpstreamResponse("upstream answer is not a response")
        usage = response_usage_of(data) or estimated_usage(endpoint, body)
        return Completion(data, usage, raw=payload)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return NativeResponsesTranslator(endpoint, body, dep.model)


class ResponsesSink(Sink):
    """Events framed as the Responses API frames them; an ``error`` event on failure."""

    def chunk(self, chunk: Json) -> bytes:
        return named_event(chunk)

    def answer_id(self, chunk: Json) -> str | None:
        return nested_id(chunk, "response")

    def end(self, usage: Usage) -> bytes:
        return b""

    def error(self, body: Json) -> bytes:
        error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
        return named_event({"type": "error", "code": error.get("code"),
                            "message": str(error.get("message", "")), "param": None,
                            "error": error})


RESPONSES_SINK = ResponsesSink()


class ResponsesDoor(Door):
    """One ``/v1/responses`` call (see the module docstring)."""

    name = "responses"

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.native = NativeResponses(body)
        self.why_not = untranslatable(body)

    def serves(self, dep: Deployment) -> bool:
        return dep.provider in NATIVE or self.why_not is None

    def refusal(self) -> str:
        return (f"this request uses {self.why_not}, which only OpenAI and Azure deployments "
                "serve, and the model has none")

    def provider(self, dep: Deployment) -> Provider:
        return self.native if dep.provider in NATIVE else super().provider(dep)

    def render(self, dep: Deployment, completion: Completion) -> bytes:
        if dep.provider in NATIVE and completion.raw is not None:
            return completion.raw
        return orjson.dumps(response_from_chat(completion.body, completion.usage, self.body))

    def sink(self, dep: Deployment) -> Sink:
        return RESPONSES_SINK
