"""``ollama/`` and ``ollama_chat/``: Ollama's native API (NDJSON streaming).

Both prefixes behave the same (LiteLLM's ``ollama/`` flattens chats into one
prompt for ``/api/generate``; gw sends chats to ``/api/chat`` for both, so
Ollama applies the model's own chat template):

* chat -> ``POST {api_base}/api/chat``; completions -> ``/api/generate``;
  embeddings -> ``/api/embed`` (``input`` a string or a list).
* ``stream`` is always sent explicitly (Ollama streams by default).
* ``options``: ``temperature``, ``top_p``, ``seed``, ``stop``, ``presence_penalty``,
  ``frequency_penalty``, and ``num_predict`` from ``max_completion_tokens`` /
  ``max_tokens``. ``response_format`` json_object -> ``format: "json"``, json_schema ->
  ``format: <schema>``. ``tools`` pass through (Ollama takes OpenAI's shape).
* Images: ``data:`` URL parts become base64 ``images``; http(s) image URLs are
  dropped (Ollama only takes inline images, and gw never fetches anything).
* Usage: ``prompt_eval_count`` / ``eval_count``; a missing count (Ollama omits
  ``prompt_eval_count`` when the whole prompt was cached) is estimated and the
  usage marked ``estimated``.
* Tool calls come back without ids: gw makes ``call_<hex>`` ids, and arguments
  (an object in Ollama) are JSON-encoded as OpenAI wants.
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
    estimate_prompt_tokens,
    estimate_tokens,
    loads_object,
    new_id,
    prompt_text,
    random_hex,
)
from .openai import wants_usage

PATHS: dict[Endpoint, str] = {"chat": "/api/chat", "completions": "/api/generate",
                              "embeddings": "/api/embed"}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def ollama_usage(data: Mapping[str, Any], endpoint: Endpoint, body: Mapping[str, Any],
                 text: str) -> Usage:
    """Usage from the final object's counts; a missing count is estimated."""
    prompt = _count(data.get("prompt_eval_count"))
    completion = 0 if endpoint == "embeddings" else _count(data.get("eval_count"))
    estimated = prompt is None or completion is None
    return Usage(estimate_prompt_tokens(endpoint, body) if prompt is None else prompt,
                 estimate_tokens(text) if completion is None else completion,
                 estimated=estimated)


def finish_reason(data: Mapping[str, Any], tool_calls: bool) -> str:
    if tool_calls:
        return "tool_calls"
    return "length" if data.get("done_reason") == "length" else "stop"


# ------------------------------------------------------------------ request building

def data_url_image(url: Any) -> str | None:
    """The base64 payload of a ``data:...;base64,`` URL, else None."""
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    header, sep, data = url.partition(",")
    return data if sep and header.endswith(";base64") and data else None


def convert_message(message: Mapping[str, Any], tool_names: dict[str, str]) -> Json:
    role = message.get("role")
    out: Json = {"role": "system" if role == "developer" else role,
                 "content": content_text(message.get("content"))}
    content = message.get("content")
    if isinstance(content, list):
        images = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                image = part.get("image_url")
                data = data_url_image(image.get("url") if isinstance(image, Mapping) else image)
                if data:
                    images.append(data)
        if images:
            out["images"] = images
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        raw = function.get("arguments")
        try:
            arguments = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
        except orjson.JSONDecodeError:
            arguments = {}
        name = str(function.get("name") or "")
        if call.get("id"):
            tool_names[str(call["id"])] = name
        calls.append({"function": {"name": name,
                                   "arguments": arguments if isinstance(arguments, dict) else {}}})
    if calls:
        out["tool_calls"] = calls
    if role == "tool" and str(message.get("tool_call_id")) in tool_names:
        out["tool_name"] = tool_names[str(message.get("tool_call_id"))]
    return out


def options(body: Mapping[str, Any]) -> Json:
    out: Json = {}
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        if isinstance(body.get(key), (int, float)) and not isinstance(body.get(key), bool):
            out[key] = body[key]
    if _count(body.get("seed")) is not None:
        out["seed"] = body["seed"]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if _count(limit):
        out["num_predict"] = limit
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stops:
        out["stop"] = [s for s in stops if isinstance(s, str)]
    return out


def response_format(body: Mapping[str, Any]) -> Any:
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return "json"
    schema = fmt.get("json_schema")
    if fmt.get("type") == "json_schema" and isinstance(schema, Mapping):
        return schema.get("schema") or "json"
    return None


def request_body(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                 stream: bool) -> Json:
    if endpoint == "embeddings":
        out: Json = {"model": dep.model, "input": body.get("input")}
        if _count(body.get("dimensions")):
            out["dimensions"] = body["dimensions"]
        return out
    out = {"model": dep.model, "stream": stream}
    if endpoint == "chat":
        names: dict[str, str] = {}
        out["messages"] = [convert_message(m, names) for m in body.get("messages") or ()
                           if isinstance(m, Mapping)]
        if isinstance(body.get("tools"), list) and body["tools"]:
            out["tools"] = body["tools"]
    else:
        out["prompt"] = prompt_text(endpoint, body)
        if isinstance(body.get("suffix"), str):
            out["suffix"] = body["suffix"]
    fmt = response_format(body)
    if fmt is not None:
        out["format"] = fmt
    opts = options(body)
    if opts:
        out["options"] = opts
    return out


# ------------------------------------------------------------------ answers

def tool_calls(message: Mapping[str, Any]) -> list[Json]:
    out = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        arguments = function.get("arguments")
        out.append({"id": "call_" + random_hex(24), "type": "function",
                    "function": {"name": str(function.get("name") or ""),
                                 "arguments": arguments if isinstance(arguments, str)
                                 else orjson.dumps(arguments or {}).decode()}})
    return out


def embedding_item(index: int, vector: Any, encoding: Any) -> Json:
    if not isinstance(vector, list) or not all(isinstance(v, (int, float)) for v in vector):
        raise BadUpstreamResponse("upstream embedding is not a list of numbers")
    value: Any = vector
    if encoding == "base64":
        value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return {"object": "embedding", "index": index, "embedding": value}


class OllamaTranslator(StreamTranslator):
    """Ollama's NDJSON lines -> OpenAI chunks."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)
        self.started = False
        self.calls = 0
        self.final: Mapping[str, Any] | None = None

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        if not data.strip():
            return []
        line = loads_object(data)
        if "error" in line:
            raise BadUpstreamResponse(f"upstream reported an error mid-stream: {line['error']}")
        chunks: list[Json] = []
        if self.endpoint == "chat":
            message = line.get("message")
            if not isinstance(message, Mapping):
                message = {}
            if not self.started:
                chunks.append(self.chat_chunk({"role": "assistant", "content": ""}))
            text = message.get("content")
            if isinstance(text, str) and text:
                chunks.append(self.chat_chunk({"content": text}))
            calls = tool_calls(message)
            for call in calls:
                call["index"] = self.calls
                self.calls += 1
                self.text_parts.append(call["function"]["arguments"])
            if calls:
                chunks.append(self.chat_chunk({"tool_calls": calls}))
        else:
            text = line.get("response")
            if isinstance(text, str) and text:
                chunks.append(self.text_chunk(text))
        self.started = True
        if isinstance(text, str):
            self.text_parts.append(text)
        if line.get("done") is True:
            self.final = line
            usage = self.usage()
            self.reported = None if usage.estimated else usage
            reason = finish_reason(line, self.calls > 0)
            chunks.append(self.chat_chunk({}, reason) if self.endpoint == "chat"
                          else self.text_chunk("", reason))
            self.done = True
            if self.client_wants_usage:
                chunks.append(self.usage_chunk())
        return chunks

    def usage(self) -> Usage:
        if self.reported is None and self.final is not None:
            return ollama_usage(self.final, self.endpoint, self.body, "".join(self.text_parts))
        return super().usage()


class OllamaProvider(Provider):
    name = "ollama"

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        headers = {"Content-Type": "application/json"}
        if dep.api_key:
            headers["Authorization"] = f"Bearer {dep.api_key}"
        base = (dep.api_base or "http://localhost:11434").rstrip("/")
        return UpstreamRequest(url=base + PATHS[endpoint], headers=headers,
                               body=dumps(request_body(dep, endpoint, body, stream)),
                               stream_format="ndjson")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        model = data.get("model") if isinstance(data.get("model"), str) else dep.model
        if endpoint == "embeddings":
            vectors = data.get("embeddings")
            if not isinstance(vectors, list):
                raise BadUpstreamResponse("upstream embeddings answer has no embeddings list")
            items = [embedding_item(i, v, body.get("encoding_format"))
                     for i, v in enumerate(vectors)]
            usage = ollama_usage(data, endpoint, body, "")
            return Completion({"object": "list", "data": items, "model": model,
                               "usage": {"prompt_tokens": usage.prompt_tokens,
                                         "total_tokens": usage.total_tokens}}, usage)
        created = int(time.time())
        if endpoint == "chat":
            message = data.get("message")
            if not isinstance(message, Mapping) or not isinstance(message.get("content", ""), str):
                raise BadUpstreamResponse("upstream chat answer has no message")
            text = message.get("content") or ""
            calls = tool_calls(message)
            reply: Json = {"role": "assistant", "content": text if text or not calls else None}
            if calls:
                reply["tool_calls"] = calls
            usage = ollama_usage(data, endpoint, body,
                                 text + "".join(c["function"]["arguments"] for c in calls))
            choice: Json = {"index": 0, "message": reply, "logprobs": None,
                            "finish_reason": finish_reason(data, bool(calls))}
            obj = "chat.completion"
        else:
            text = data.get("response")
            if not isinstance(text, str):
                raise BadUpstreamResponse("upstream generate answer has no response text")
            usage = ollama_usage(data, endpoint, body, text)
            choice = {"index": 0, "text": text, "logprobs": None,
                      "finish_reason": finish_reason(data, False)}
            obj = "text_completion"
        return Completion({"id": new_id(endpoint), "object": obj, "created": created,
                           "model": model, "choices": [choice], "usage": usage.as_openai()},
                          usage)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return OllamaTranslator(endpoint, body, dep.model)


class OllamaChatProvider(OllamaProvider):
    """``ollama_chat/``: the same as ``ollama/`` (kept for LiteLLM config compatibility)."""

    name = "ollama_chat"
