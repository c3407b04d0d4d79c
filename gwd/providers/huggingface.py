"""``huggingface/<repo>``: a text-generation-inference (TGI) server at ``api_base``.

* chat -> TGI's OpenAI-compatible Messages API, ``POST {root}/v1/chat/completions``
  (OpenAI's wire format, so :class:`OpenAIProvider` does the work), with
  ``max_completion_tokens`` sent as ``max_tokens`` and ``response_format``
  json_object / json_schema sent as TGI's grammar ``{"type": "json", "value":
  <schema>}`` (``text`` is dropped). Streams ask for
  ``stream_options.include_usage``; TGI versions that ignore it, or that end the
  stream without ``data: [DONE]`` (before 2.1.1), are handled: a choice's
  ``finish_reason`` also counts as the clean end, and usage is then estimated.
* completions -> TGI's native ``POST {root}/generate`` (``details`` and
  ``decoder_input_details`` on, so prompt tokens = ``len(details.prefill)``) and
  ``{root}/generate_stream`` (SSE of ``token`` objects; the last event carries
  ``generated_text`` and ``details``: ``finish_reason`` length|eos_token|stop_sequence,
  ``generated_tokens`` and, on recent TGI, ``input_length``). Parameters:
  ``max_new_tokens`` (from max_tokens; TGI's own default applies when absent),
  ``temperature`` (only when > 0: TGI refuses 0, and greedy is its default),
  ``top_p`` (only when 0 < top_p < 1), ``stop``, ``seed``. Penalties, ``n``,
  ``logit_bias`` and ``suffix`` are dropped.
* embeddings -> text-embeddings-inference's OpenAI route ``POST {root}/v1/embeddings``
  (chosen over ``/embed`` because it reports ``usage``); floats are asked for and
  re-encoded as little-endian float32 base64 when the client wants ``base64``.

``root`` is ``api_base`` without a trailing ``/v1``, so both ``http://host:8080``
and ``http://host:8080/v1`` work. ``api_key``, when set, is sent as a Bearer token.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
from .base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    dumps,
    estimate_prompt_tokens,
    estimate_tokens,
    loads_object,
    new_id,
    openai_usage,
    prompt_text,
)
from .openai import OpenAIProvider, OpenAITranslator, wants_usage

FINISH_REASONS = {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def root(dep: Deployment) -> str:
    base = (dep.api_base or "").rstrip("/")
    return base.removesuffix("/v1")


def generate_parameters(body: Mapping[str, Any], stream: bool) -> Json:
    params: Json = {"details": True, "return_full_text": False}
    if not stream:
        params["decoder_input_details"] = True   # TGI refuses it on streams
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if _count(limit):
        params["max_new_tokens"] = limit
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and temperature > 0:
        params["temperature"] = temperature
    top_p = body.get("top_p")
    if isinstance(top_p, (int, float)) and 0 < top_p < 1:
        params["top_p"] = top_p
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stops:
        params["stop"] = [s for s in stops if isinstance(s, str)]
    if _count(body.get("seed")) is not None:
        params["seed"] = body["seed"]
    return params


def chat_body(body: Mapping[str, Any]) -> Json:
    """The client's chat body in the dialect TGI's Messages API understands."""
    out = dict(body)
    limit = out.pop("max_completion_tokens", None)
    if _count(limit) and not _count(out.get("max_tokens")):
        out["max_tokens"] = limit
    fmt = out.get("response_format")
    if isinstance(fmt, Mapping):
        schema = fmt.get("json_schema")
        if fmt.get("type") == "json_object":
            out["response_format"] = {"type": "json", "value": {"type": "object"}}
        elif fmt.get("type") == "json_schema" and isinstance(schema, Mapping):
            out["response_format"] = {"type": "json",
                                      "value": schema.get("schema") or {"type": "object"}}
        elif fmt.get("type") == "text":
            del out["response_format"]
    return out


def generate_usage(details: Any, endpoint: Endpoint, body: Mapping[str, Any],
                   text: str) -> Usage:
    """Usage from TGI ``details``; a missing count is estimated (and marked so)."""
    details = details if isinstance(details, Mapping) else {}
    prefill = details.get("prefill")
    prompt = len(prefill) if isinstance(prefill, list) and prefill else \
        _count(details.get("input_length", details.get("prompt_tokens")))
    completion = _count(details.get("generated_tokens"))
    return Usage(estimate_prompt_tokens(endpoint, body) if prompt is None else prompt,
                 estimate_tokens(text) if completion is None else completion,
                 estimated=prompt is None or completion is None)


def finish_reason(details: Any) -> str:
    reason = details.get("finish_reason") if isinstance(details, Mapping) else None
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


class TGIChatTranslator(OpenAITranslator):
    """OpenAI SSE from TGI: tolerate a missing ``[DONE]`` and a missing usage chunk,
    and normalise old TGI's ``object`` and native finish reasons (eos_token -> stop)."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.usage_sent = False

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        chunks = super().feed(data, event)
        if data.strip() == b"[DONE]":
            return chunks + self.finish()
        for chunk in chunks:
            chunk["object"] = "chat.completion.chunk"   # TGI 1.x said "text_completion"
            if chunk.get("usage") is not None:
                self.usage_sent = True
            for choice in chunk.get("choices") or ():
                reason = choice.get("finish_reason") if isinstance(choice, dict) else None
                if isinstance(reason, str) and reason:
                    choice["finish_reason"] = FINISH_REASONS.get(reason, reason)
                    self.done = True
        return chunks

    def finish(self) -> list[Json]:
        if self.client_wants_usage and not self.usage_sent:
            self.usage_sent = True
            return [self.usage_chunk()]
        return []


class TGIGenerateTranslator(StreamTranslator):
    """``/generate_stream`` events -> OpenAI text completion chunks."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        message = loads_object(data)
        if "error" in message:
            raise BadUpstreamResponse(f"upstream reported an error mid-stream: "
                                      f"{message['error']}")
        chunks: list[Json] = []
        token = message.get("token")
        if isinstance(token, Mapping) and not token.get("special") \
                and isinstance(token.get("text"), str) and token["text"]:
            self.text_parts.append(token["text"])
            chunks.append(self.text_chunk(token["text"]))
        details = message.get("details")
        if message.get("generated_text") is not None or details is not None:
            usage = generate_usage(details, self.endpoint, self.body, "".join(self.text_parts))
            self.reported = usage
            chunks.append(self.text_chunk("", finish_reason(details)))
            self.done = True
            if self.client_wants_usage:
                chunks.append(self.usage_chunk())
        return chunks


class HuggingFaceProvider(OpenAIProvider):
    name = "huggingface"

    def url(self, dep: Deployment, endpoint: Endpoint) -> str:
        return root(dep) + ("/v1/embeddings" if endpoint == "embeddings"
                            else "/v1/chat/completions")

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if dep.api_key:
            headers["Authorization"] = f"Bearer {dep.api_key}"
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        if endpoint == "chat":
            return super().build_request(dep, endpoint, chat_body(body), stream)
        if endpoint == "embeddings":
            out: Json = {"model": dep.model, "input": body.get("input")}
            return UpstreamRequest(url=self.url(dep, endpoint), headers=self.headers(dep),
                                   body=dumps(out))
        path = "/generate_stream" if stream else "/generate"
        out = {"inputs": prompt_text(endpoint, body),
               "parameters": generate_parameters(body, stream)}
        return UpstreamRequest(url=root(dep) + path, headers=self.headers(dep),
                               body=dumps(out), stream_format="sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        if endpoint == "chat":
            return super().parse_response(dep, endpoint, body, payload)
        if endpoint == "embeddings":
            return self.parse_embeddings(dep, body, payload)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a body that is not JSON") from None
        if isinstance(data, list) and len(data) == 1:   # the compat route answers a list
            data = data[0]
        if not isinstance(data, dict) or not isinstance(data.get("generated_text"), str):
            raise BadUpstreamResponse("upstream generate answer has no generated_text")
        text = data["generated_text"]
        details = data.get("details")
        usage = generate_usage(details, endpoint, body, text)
        choice = {"index": 0, "text": text, "logprobs": None,
                  "finish_reason": finish_reason(details)}
        return Completion({"id": new_id(endpoint), "object": "text_completion",
                           "created": int(time.time()), "model": dep.model,
                           "choices": [choice], "usage": usage.as_openai()}, usage)

    def parse_embeddings(self, dep: Deployment, body: Mapping[str, Any],
                         payload: bytes) -> Completion:
        data = loads_object(payload)
        items = data.get("data")
        if not isinstance(items, list):
            raise BadUpstreamResponse("upstream embeddings answer has no data list")
        usage = openai_usage(data.get("usage"), "embeddings", body)
        if body.get("encoding_format") != "base64":
            return Completion(data, usage, raw=payload)
        out = []
        for item in items:
            vector = item.get("embedding") if isinstance(item, Mapping) else None
            if isinstance(vector, list):
                try:
                    packed = struct.pack(f"<{len(vector)}f", *vector)
                except struct.error:
                    raise BadUpstreamResponse("upstream embedding is not numbers") from None
                item = {**item, "embedding": base64.b64encode(packed).decode("ascii")}
            elif not isinstance(vector, str):
                raise BadUpstreamResponse("upstream embedding is not a list of numbers")
            out.append(item)
        return Completion({**data, "data": out}, usage)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        if endpoint == "chat":
            return TGIChatTranslator(endpoint, body, dep.model)
        return TGIGenerateTranslator(endpoint, body, dep.model)
