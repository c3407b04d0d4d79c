"""``cohere/``: OpenAI chat, completions and embeddings <-> Cohere's v2 API.

Chat goes to ``POST {api_base}/v2/chat`` (streamed: the same with ``stream: true``, SSE
events ``message-start`` ... ``message-end``), embeddings to ``POST {api_base}/v2/embed``;
the key is a Bearer token. v2's messages are close to OpenAI's, so the translation is small:

* messages keep their roles (``developer`` -> ``system``); assistant ``tool_calls`` and
  ``tool`` messages (``tool_call_id``) pass as they are; text/image parts pass through;
* ``max_completion_tokens``/``max_tokens`` -> ``max_tokens``; ``top_p`` -> ``p``; ``stop``
  -> ``stop_sequences``; ``seed``, ``temperature``, penalties as they are;
  ``response_format`` json_object/json_schema -> ``{"type": "json_object"[, "json_schema"]}``;
  ``tool_choice`` required/none -> ``REQUIRED``/``NONE`` (auto: not sent; a named function
  sends only that tool, with ``REQUIRED``);
* answers: text content -> ``content``, ``tool_calls`` as they are; ``finish_reason``
  COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length, TOOL_CALL -> tool_calls,
  ERROR_TOXIC -> content_filter;
* usage: ``usage.billed_units`` (what Cohere charges), else ``usage.tokens``;
* embeddings: ``texts``, ``input_type`` ``search_document`` (v3+ models require one;
  LiteLLM's default too), ``embedding_types: ["float"]``; ``dimensions`` ->
  ``output_dimension``; usage from ``meta.billed_units.input_tokens``.
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
    Provider,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    content_text,
    dumps,
    estimated_usage,
    loads_object,
    new_id,
    prompt_text,
)
from .openai import wants_usage

DEFAULT_BASE = "https://api.cohere.com"
FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
          "TOOL_CALL": "tool_calls", "ERROR_TOXIC": "content_filter"}
INPUT_TYPE = "search_document"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def usage_of(usage: Any) -> Usage | None:
    """``usage`` of a v2 answer -> Usage: billed units first, then raw token counts."""
    if not isinstance(usage, Mapping):
        return None
    for name in ("billed_units", "tokens"):
        counts = usage.get(name)
        if isinstance(counts, Mapping):
            prompt, output = _count(counts.get("input_tokens")), _count(counts.get("output_tokens"))
            if prompt is not None and output is not None:
                return Usage(prompt, output)
    return None


def finish_reason(reason: Any) -> str:
    return FINISH.get(reason, "stop") if isinstance(reason, str) else "stop"


# ------------------------------------------------------------------ request building

def convert_messages(messages: Any) -> list[Json]:
    out: list[Json] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": content_text(message.get("content"))})
        elif role == "tool":
            out.append({"role": "tool", "tool_call_id": str(message.get("tool_call_id") or ""),
                        "content": content_text(message.get("content"))})
        elif role == "assistant":
            entry: Json = {"role": "assistant"}
            text = content_text(message.get("content"))
            if text:
                entry["content"] = text
            calls = [c for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
            if calls:
                entry["tool_calls"] = [{"id": str(c.get("id") or ""), "type": "function",
                                        "function": dict(c.get("function") or {})}
                                       for c in calls]
            out.append(entry)
        else:
            content = message.get("content")
            if isinstance(content, list):
                content = [p for p in content if isinstance(p, Mapping)
                           and p.get("type") in ("text", "image_url")]
            out.append({"role": "user", "content": content if content else ""})
    return out


def chat_body(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
              stream: bool) -> Json:
    if endpoint == "chat":
        messages = convert_messages(body.get("messages"))
    else:
        messages = [{"role": "user", "content": prompt_text(endpoint, body)}]
    out: Json = {"model": dep.model, "messages": messages}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if _count(limit):
        out["max_tokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "p"), ("seed", "seed"),
                         ("presence_penalty", "presence_penalty"),
                         ("frequency_penalty", "frequency_penalty")):
        if isinstance(body.get(ours), (int, float)) and not isinstance(body[ours], bool):
            out[theirs] = body[ours]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        out["stop_sequences"] = stops
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        out["response_format"] = {"type": "json_object"}
        schema = fmt.get("json_schema")
        if isinstance(schema, Mapping) and isinstance(schema.get("schema"), Mapping):
            out["response_format"]["json_schema"] = schema["schema"]
    tools = [t for t in body.get("tools") or () if isinstance(t, Mapping)
             and isinstance(t.get("function"), Mapping)] if endpoint == "chat" else []
    if tools:
        choice = body.get("tool_choice")
        if isinstance(choice, Mapping):
            name = (choice.get("function") or {}).get("name")
            tools = [t for t in tools if t["function"].get("name") == name] or tools
            out["tool_choice"] = "REQUIRED"
        elif choice in ("required", "none"):
            out["tool_choice"] = choice.upper()
        out["tools"] = [{"type": "function", "function": dict(t["function"])} for t in tools]
    if stream:
        out["stream"] = True
    return out


def embed_body(dep: Deployment, body: Mapping[str, Any]) -> Json:
    value = body.get("input")
    texts = value if isinstance(value, list) else [value]
    out: Json = {"model": dep.model, "texts": [str(t) for t in texts],
                 "input_type": INPUT_TYPE, "embedding_types": ["float"]}
    if _count(body.get("dimensions")):
        out["output_dimension"] = body["dimensions"]
    return out


# ------------------------------------------------------------------ answers

def message_output(message: Any) -> tuple[str, list[Json]]:
    if not isinstance(message, Mapping):
        raise BadUpstreamResponse("upstream answer has no message")
    content = message.get("content")
    text = "".join(p.get("text", "") for p in content if isinstance(p, Mapping)
                   and p.get("type") == "text" and isinstance(p.get("text"), str)) \
        if isinstance(content, list) else ""
    calls: list[Json] = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            arguments = function.get("arguments")
            calls.append({"id": str(call.get("id") or ""), "type": "function", "function": {
                "name": str(function.get("name") or ""),
                "arguments": arguments if isinstance(arguments, str)
                else orjson.dumps(arguments or {}).decode()}})
    return text, calls


def parse_chat(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
               data: Json) -> Completion:
    text, calls = message_output(data.get("message"))
    counted = text + "".join(c["function"]["arguments"] for c in calls)
    usage = usage_of(data.get("usage")) or estimated_usage(endpoint, body, counted)
    finish = finish_reason(data.get("finish_reason"))
    if endpoint == "chat":
        reply: Json = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            reply["tool_calls"] = calls
        choice: Json = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}
        obj, ident = "chat.completion", "chatcmpl-" + str(data.get("id") or new_id("chat"))
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj, ident = "text_completion", new_id(endpoint)
    return Completion({"id": ident, "object": obj, "created": int(time.time()),
                       "model": dep.model, "choices": [choice], "usage": usage.as_openai()},
                      usage)


def parse_embed(dep: Deployment, body: Mapping[str, Any], data: Json) -> Completion:
    embeddings = data.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, Mapping) else embeddings
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise BadUpstreamResponse("upstream embed answer has no float embeddings")
    items: list[Json] = []
    for index, values in enumerate(vectors):
        vector: Any = values
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
        items.append({"object": "embedding", "index": index, "embedding": vector})
    meta = data.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, Mapping) else None
    tokens = _count(billed.get("input_tokens")) if isinstance(billed, Mapping) else None
    usage = Usage(tokens, 0) if tokens is not None else estimated_usage("embeddings", body)
    return Completion({"object": "list", "data": items, "model": dep.model,
                       "usage": {"prompt_tokens": usage.prompt_tokens,
                                 "total_tokens": usage.prompt_tokens}}, usage)


def _delta_message(event: Mapping[str, Any]) -> Mapping[str, Any]:
    delta = event.get("delta")
    message = delta.get("message") if isinstance(delta, Mapping) else None
    return message if isinstance(message, Mapping) else {}


class CohereTranslator(StreamTranslator):
    """v2 chat stream events -> OpenAI chunks."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)

    def out(self, delta: Json, finish: str | None = None) -> list[Json]:
        if self.endpoint == "chat":
            return [self.chat_chunk(delta, finish)]
        text = delta.get("content")
        return [self.text_chunk(text or "", finish)] if text or finish else []

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(message, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        kind = message.get("type") or event
        if kind == "message-start":
            return self.out({"role": "assistant", "content": ""}) \
                if self.endpoint == "chat" else []
        if kind == "content-delta":
            content = _delta_message(message).get("content")
            text = content.get("text") if isinstance(content, Mapping) else None
            if not isinstance(text, str) or not text:
                return []
            self.text_parts.append(text)
            return self.out({"content": text})
        if kind in ("tool-call-start", "tool-call-delta") and self.endpoint == "chat":
            call = _delta_message(message).get("tool_calls")
            index = message.get("index") if isinstance(message.get("index"), int) else 0
            if not isinstance(call, Mapping):
                return []
            function = call.get("function") if isinstance(call.get("function"), Mapping) \
                else {}
            arguments = function.get("arguments") if isinstance(function.get("arguments"),
                                                                str) else ""
            self.text_parts.append(arguments)
            if kind == "tool-call-start":
                entry: Json = {"index": index, "id": str(call.get("id") or ""),
                               "type": "function",
                               "function": {"name": str(function.get("name") or ""),
                                            "arguments": arguments}}
            elif arguments:
                entry = {"index": index, "function": {"arguments": arguments}}
            else:
                return []
            return self.out({"tool_calls": [entry]})
        if kind == "message-end":
            delta = message.get("delta")
            delta = delta if isinstance(delta, Mapping) else {}
            if delta.get("finish_reason") == "ERROR":
                raise BadUpstreamResponse("upstream reported an error mid-stream: "
                                          f"{delta.get('error') or 'unknown'}")
            self.reported = usage_of(delta.get("usage"))
            self.done = True
            return self.out({}, finish_reason(delta.get("finish_reason")))
        return []   # content-start/-end, tool-plan-delta, tool-call-end, citations

    def finish(self) -> list[Json]:
        return [self.usage_chunk()] if self.client_wants_usage else []


class CohereProvider(Provider):
    name = "cohere"

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if dep.api_key:
            headers["Authorization"] = f"Bearer {dep.api_key}"
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        base = (dep.api_base or DEFAULT_BASE).rstrip("/")
        base = base[:-3] if base.endswith(("/v1", "/v2")) else base
        if endpoint == "embeddings":
            return UpstreamRequest(f"{base}/v2/embed", self.headers(dep),
                                   dumps(embed_body(dep, body)), "sse")
        return UpstreamRequest(f"{base}/v2/chat", self.headers(dep),
                               dumps(chat_body(dep, endpoint, body, stream)), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        if endpoint == "embeddings":
            return parse_embed(dep, body, data)
        return parse_chat(dep, endpoint, body, data)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return CohereTranslator(endpoint, body, dep.model)
