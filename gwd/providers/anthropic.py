"""``anthropic/`` and bare ``claude-*``: OpenAI chat <-> Anthropic's Messages API.

Requests go to ``POST {api_base}/v1/messages`` with ``x-api-key`` and
``anthropic-version: 2023-06-01``. The translation, both ways:

* system/developer messages -> the top-level ``system`` text (joined by blank lines);
  consecutive messages of one role are merged (Anthropic wants them alternating);
  assistant ``tool_calls`` -> ``tool_use`` blocks, ``tool`` messages -> user
  ``tool_result`` blocks; ``image_url`` parts -> image blocks (``data:`` URLs as a
  base64 source, http(s) URLs as a ``url`` source: gw never fetches anything).
* ``max_tokens`` is required upstream: the client's ``max_completion_tokens`` or
  ``max_tokens``, else :data:`DEFAULT_MAX_TOKENS`. ``temperature`` is clamped to
  Anthropic's 0..1; ``stop`` -> ``stop_sequences``; ``user`` -> ``metadata.user_id``;
  ``tools``/``tool_choice``/``parallel_tool_calls`` -> Anthropic tools. ``n``, ``seed``,
  penalties, ``logit_bias`` and ``response_format`` cannot be expressed and are dropped.
* Answers: text blocks -> ``content``, ``tool_use`` -> ``tool_calls``; thinking blocks
  are dropped. Stop reasons end_turn/stop_sequence -> stop, max_tokens -> length,
  tool_use -> tool_calls, refusal -> content_filter.
* Usage: prompt tokens = ``input_tokens`` + ``cache_creation_input_tokens`` +
  ``cache_read_input_tokens`` (every token the prompt carried, whatever its cache
  state), with the cache reads and the 5-minute / 1-hour writes kept as parts billed at
  their own rates; completion tokens = ``output_tokens`` (thinking included, as
  Anthropic bills it); ``server_tool_use.web_search_requests`` as billed searches.

``/completions`` is supported: the prompt becomes one user message and the answer
comes back in ``text_completion`` shape. Embeddings are not supported.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
from ..errors import InvalidRequest
from .base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    Provider,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    content_items,
    content_text,
    dumps,
    estimate_prompt_tokens,
    estimate_tokens,
    loads_object,
    new_id,
    prompt_text,
    with_parts,
)
from .openai import wants_usage

API_VERSION = "2023-06-01"
#: ``max_tokens`` sent when the client gave none (Anthropic requires one)
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
                "max_tokens": "length", "model_context_window_exceeded": "length",
                "tool_use": "tool_calls", "refusal": "content_filter"}


def finish_reason(stop_reason: Any) -> str:
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def prompt_tokens_of(usage: Mapping[str, Any]) -> int | None:
    """``input_tokens`` plus both cache counters (None when input_tokens is missing)."""
    base = _count(usage.get("input_tokens"))
    if base is None:
        return None
    return base + sum(_count(usage.get(k)) or 0
                      for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))


def prompt_parts_of(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The billed parts of Anthropic's usage (see :class:`~.base.Usage`).

    Cache writes are split by ``cache_creation.ephemeral_5m_input_tokens`` /
    ``ephemeral_1h_input_tokens`` when the answer has them; without that split every
    written token is a 5-minute write (the only kind before the 1-hour cache existed).
    ``server_tool_use.web_search_requests`` counts billed web searches."""
    written = _count(usage.get("cache_creation_input_tokens")) or 0
    split = usage.get("cache_creation")
    one_hour = 0
    if isinstance(split, Mapping):
        one_hour = min(_count(split.get("ephemeral_1h_input_tokens")) or 0, written)
    tools = usage.get("server_tool_use")
    searches = _count(tools.get("web_search_requests")) if isinstance(tools, Mapping) else None
    return {"cached_tokens": _count(usage.get("cache_read_input_tokens")),
            "cache_write_tokens": written - one_hour, "cache_write_1h_tokens": one_hour,
            "web_searches": searches}


def anthropic_usage(usage: Mapping[str, Any], prompt: int, output: int) -> Usage:
    """Usage with its cache and tool parts (``prompt`` already includes the cache counts)."""
    return with_parts(prompt, output, prompt_parts_of(usage))


# ------------------------------------------------------------------ request building

def image_block(url: str) -> Json | None:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            return None
        return {"type": "image", "source": {"type": "base64",
                                           "media_type": media_type or "image/png",
                                           "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def content_blocks(content: Any) -> list[Json]:
    """OpenAI message content -> Anthropic content blocks (empty text dropped)."""
    blocks: list[Json] = []
    for kind, value in content_items(content):
        if kind == "text":
            blocks.append({"type": "text", "text": value})
        elif (block := image_block(value) if isinstance(value, str) else None) is not None:
            blocks.append(block)
    return blocks


def tool_use_block(call: Mapping[str, Any]) -> Json:
    function = call.get("function")
    if not isinstance(function, Mapping):
        function = {}
    raw = function.get("arguments")
    try:
        arguments = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        arguments = {}
    return {"type": "tool_use", "id": str(call.get("id") or new_id("chat")),
            "name": str(function.get("name") or ""),
            "input": arguments if isinstance(arguments, dict) else {}}


def convert_messages(messages: Any) -> tuple[str, list[Json]]:
    """OpenAI messages -> (system text, alternating Anthropic messages)."""
    system: list[str] = []
    out: list[Json] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "tool":
            result = content_text(message.get("content"))
            role, blocks = "user", [{"type": "tool_result",
                                     "tool_use_id": str(message.get("tool_call_id") or ""),
                                     "content": result}]
        elif role == "assistant":
            blocks = content_blocks(message.get("content"))
            blocks += [tool_use_block(c) for c in message.get("tool_calls") or ()
                       if isinstance(c, Mapping)]
        else:
            role, blocks = "user", content_blocks(message.get("content"))
        if not blocks:
            continue   # Anthropic refuses empty content
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for message in out:  # one plain text block reads better as a string
        blocks = message["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            message["content"] = blocks[0]["text"]
    return "\n\n".join(system), out


def convert_tools(tools: Any) -> list[Json]:
    out: list[Json] = []
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        entry: Json = {"name": function["name"],
                       "input_schema": function.get("parameters")
                       or {"type": "object", "properties": {}}}
        if function.get("description"):
            entry["description"] = function["description"]
        out.append(entry)
    return out


def convert_tool_choice(choice: Any, parallel: Any) -> Json | None:
    out: Json | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and function.get("name"):
            out = {"type": "tool", "name": function["name"]}
    if parallel is False and (out is None or out["type"] != "none"):
        out = out or {"type": "auto"}
        out["disable_parallel_tool_use"] = True
    return out


def messages_body(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                  stream: bool) -> Json:
    if endpoint == "chat":
        system, messages = convert_messages(body.get("messages"))
    else:
        system, messages = "", [{"role": "user", "content": prompt_text(endpoint, body)}]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    out: Json = {"model": dep.model, "messages": messages,
                 "max_tokens": limit if _count(limit) else DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = system
    if isinstance(body.get("temperature"), (int, float)):
        out["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
    if isinstance(body.get("top_p"), (int, float)):
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s.strip()]
    if stops:
        out["stop_sequences"] = stops
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if endpoint == "chat":
        tools = convert_tools(body.get("tools"))
        if tools:
            out["tools"] = tools
            choice = convert_tool_choice(body.get("tool_choice"),
                                         body.get("parallel_tool_calls"))
            if choice is not None:
                out["tool_choice"] = choice
    if stream:
        out["stream"] = True
    return out


# ------------------------------------------------------------------ answers

class AnthropicTranslator(StreamTranslator):
    """Anthropic's event stream -> OpenAI chunks (chat or text completion)."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)
        self.input_tokens: int | None = None
        self.input_usage: Mapping[str, Any] = {}
        self.tool_index: dict[int, int] = {}   # Anthropic block index -> OpenAI tool index
        self.finished = False
        self.handlers = {"message_start": self.on_message_start,
                         "content_block_start": self.on_content_block_start,
                         "content_block_delta": self.on_content_block_delta,
                         "message_delta": self.on_message_delta,
                         "message_stop": self.on_message_stop, "error": self.on_error}

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(message, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        handler = self.handlers.get(str(message.get("type") or event))
        return handler(message) if handler is not None else []   # ping, *_stop, new types

    def chat(self, delta: Json, finish: str | None = None) -> list[Json]:
        if self.endpoint != "chat":
            return [self.text_chunk(delta.get("content", ""), finish)] \
                if finish or delta.get("content") else []
        return [self.chat_chunk(delta, finish)]

    def on_message_start(self, message: Json) -> list[Json]:
        start = message.get("message")
        usage = start.get("usage") if isinstance(start, Mapping) else None
        if isinstance(usage, Mapping):
            self.input_tokens = prompt_tokens_of(usage)
            self.input_usage = usage
        return self.chat({"role": "assistant", "content": ""}) if self.endpoint == "chat" else []

    def on_content_block_start(self, message: Json) -> list[Json]:
        block = message.get("content_block")
        index = message.get("index")
        if not isinstance(block, Mapping) or block.get("type") != "tool_use" \
                or self.endpoint != "chat" or not isinstance(index, int):
            return []
        position = self.tool_index.setdefault(index, len(self.tool_index))
        call = {"index": position, "id": str(block.get("id") or ""), "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": ""}}
        return self.chat({"tool_calls": [call]})

    def on_content_block_delta(self, message: Json) -> list[Json]:
        delta = message.get("delta")
        if not isinstance(delta, Mapping):
            raise BadUpstreamResponse("upstream sent a content_block_delta without a delta")
        if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            self.text_parts.append(delta["text"])
            return self.chat({"content": delta["text"]})
        if delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str) \
                and delta["partial_json"]:
            index = message.get("index")
            position = self.tool_index.get(index) if isinstance(index, int) else None
            if position is None:
                return []
            self.text_parts.append(delta["partial_json"])
            return self.chat({"tool_calls": [{"index": position, "function": {
                "arguments": delta["partial_json"]}}]})
        return []   # thinking / signature / citations deltas have no OpenAI equivalent

    def on_message_delta(self, message: Json) -> list[Json]:
        usage = message.get("usage")
        if isinstance(usage, Mapping):
            output = _count(usage.get("output_tokens"))
            prompt = prompt_tokens_of(usage)
            if prompt is not None:  # newer streams repeat the input counts here
                self.input_tokens, self.input_usage = prompt, usage
            else:  # server tool counts come with the output; the cache counts came before
                self.input_usage = {**self.input_usage, **{
                    k: v for k, v in usage.items() if k == "server_tool_use"}}
            if self.input_tokens is not None and output is not None:
                self.reported = anthropic_usage(self.input_usage, self.input_tokens, output)
        delta = message.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, Mapping) else None
        self.finished = True
        return self.chat({}, finish_reason(reason))

    def on_message_stop(self, message: Json) -> list[Json]:
        chunks = [] if self.finished else self.chat({}, "stop")
        self.finished = self.done = True
        if self.client_wants_usage:
            chunks.append(self.usage_chunk())
        return chunks

    def on_error(self, message: Json) -> list[Json]:
        error = message.get("error")
        text = error.get("message") if isinstance(error, Mapping) else None
        raise BadUpstreamResponse(f"upstream reported an error mid-stream: {text or 'unknown'}")

    def usage(self) -> Usage:
        if self.reported is None and self.input_tokens is not None:
            return with_parts(self.input_tokens, estimate_tokens("".join(self.text_parts)),
                              prompt_parts_of(self.input_usage), estimated=True)
        return super().usage()


def parse_message(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                  data: Json) -> Completion:
    content = data.get("content")
    if data.get("type") == "error" or not isinstance(content, list):
        raise BadUpstreamResponse("upstream answer has no content list")
    texts: list[str] = []
    calls: list[Json] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append({"id": str(block.get("id") or ""), "type": "function", "function": {
                "name": str(block.get("name") or ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    text = "".join(texts)
    usage_data = data.get("usage")
    if not isinstance(usage_data, Mapping):
        usage_data = {}
    prompt = prompt_tokens_of(usage_data)
    output = _count(usage_data.get("output_tokens"))
    counted = text + "".join(c["function"]["arguments"] for c in calls)
    if prompt is not None and output is not None:
        usage = anthropic_usage(usage_data, prompt, output)
    else:
        usage = Usage(estimate_prompt_tokens(endpoint, body), estimate_tokens(counted),
                      estimated=True)
    finish = finish_reason(data.get("stop_reason"))
    created = int(time.time())
    model = data.get("model") if isinstance(data.get("model"), str) else dep.model
    if endpoint == "chat":
        reply: Json = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            reply["tool_calls"] = calls
        choice: Json = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}
        obj, ident = "chat.completion", str(data.get("id") or new_id(endpoint))
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        obj, ident = "text_completion", new_id(endpoint)
    return Completion({"id": ident, "object": obj, "created": created, "model": model,
                       "choices": [choice], "usage": usage.as_openai()}, usage)


class AnthropicProvider(Provider):
    name = "anthropic"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in ("chat", "completions")

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if dep.api_key:
            headers["x-api-key"] = dep.api_key
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        if not self.supports(endpoint):
            raise InvalidRequest("anthropic/ models do not support embeddings")
        base = (dep.api_base or "https://api.anthropic.com").rstrip("/")
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        return UpstreamRequest(url=url, headers=self.headers(dep),
                               body=dumps(messages_body(dep, endpoint, body, stream)),
                               stream_format="sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        return parse_message(dep, endpoint, body, loads_object(payload))

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return AnthropicTranslator(endpoint, body, dep.model)
