"""OpenAI answers -> Anthropic Messages answers, whole and streamed.

For calls the Anthropic door sends to OpenAI-format deployments. A chat
completion becomes one ``message``: text -> a text block, ``tool_calls`` ->
``tool_use`` blocks (arguments parsed; unparseable ones become ``{}``), finish
reasons stop/length/tool_calls/content_filter -> end_turn/max_tokens/tool_use/
refusal. Usage: ``input_tokens`` is the prompt minus OpenAI's cached tokens, which
are reported as ``cache_read_input_tokens``; ``output_tokens`` the completion.

Streams (:class:`AnthropicSink`) follow Anthropic's event sequence: message_start
(with output usage 0 and input usage 0: OpenAI reports usage only at the end),
ping, then per content block content_block_start / content_block_delta (text_delta
or input_json_delta) / content_block_stop, then message_delta with the stop reason
and the call's usage, then message_stop. A failure midway is an ``error`` event.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..providers.base import Json, Usage, content_text, random_hex
from .base import Sink, named_event

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}


def new_message_id() -> str:
    return "msg_gw" + random_hex(24)


def stop_reason(finish: Any) -> str:
    return STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"


def cached_tokens(openai_usage: Any) -> int:
    """OpenAI's ``prompt_tokens_details.cached_tokens`` (0 when absent)."""
    details = openai_usage.get("prompt_tokens_details") if isinstance(openai_usage, Mapping) \
        else None
    value = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def anthropic_usage(usage: Usage, cached: int = 0) -> Json:
    """Anthropic's usage object: the input tokens net of cache reads and writes."""
    cached = min(max(cached, usage.cached_tokens), usage.prompt_tokens)
    written = min(usage.cache_write_tokens + usage.cache_write_1h_tokens,
                  usage.prompt_tokens - cached)
    return {"input_tokens": usage.prompt_tokens - cached - written,
            "cache_creation_input_tokens": written, "cache_read_input_tokens": cached,
            "output_tokens": usage.completion_tokens}


def tool_input(arguments: Any) -> Json:
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message_from_chat(body: Mapping[str, Any], usage: Usage, model: str) -> Json:
    """A chat completion (OpenAI shape) -> an Anthropic ``message``."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices \
        and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") if isinstance(choice.get("message"), Mapping) else {}
    content: list[Json] = []
    text = content_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
        content.append({"type": "tool_use", "id": str(call.get("id") or "toolu_gw"
                                                     + random_hex(20)),
                        "name": str(function.get("name") or ""),
                        "input": tool_input(function.get("arguments"))})
    return {"id": new_message_id(), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason(choice.get("finish_reason")),
            "stop_sequence": None,
            "usage": anthropic_usage(usage, cached_tokens(body.get("usage")))}


def error_event(body: Mapping[str, Any]) -> bytes:
    """gw's OpenAI-shaped error body -> Anthropic's mid-stream ``error`` event."""
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    kind = "overloaded_error" if error.get("code") == "upstream_timeout" else "api_error"
    return named_event({"type": "error", "error": {"type": kind,
                                                   "message": str(error.get("message", ""))}})


class AnthropicSink(Sink):
    """OpenAI stream chunks -> Anthropic stream events (see the module docstring)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.block = -1                  # index of the open content block, -1: none
        self.block_kind = ""             # "text" or "tool_use"
        self.tools: dict[int, int] = {}  # OpenAI tool call index -> content block index
        self.finish: Any = None
        self.cached = 0
        self.message_id: str | None = None

    def _start(self, out: list[Json]) -> None:
        self.started = True
        self.message_id = new_message_id()
        out.append({"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})
        out.append({"type": "ping"})

    def _close(self, out: list[Json]) -> None:
        if self.block >= 0 and self.block_kind:
            out.append({"type": "content_block_stop", "index": self.block})
            self.block_kind = ""

    def _open(self, out: list[Json], block: Json) -> int:
        self._close(out)
        self.block += 1
        self.block_kind = block["type"]
        out.append({"type": "content_block_start", "index": self.block, "content_block": block})
        return self.block

    def answer_id(self, chunk: Json) -> str | None:
        return self.message_id

    def chunk(self, chunk: Json) -> bytes:
        out: list[Json] = []
        if not self.started:
            self._start(out)
        self.cached = cached_tokens(chunk.get("usage")) or self.cached
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices \
            and isinstance(choices[0], Mapping) else {}
        delta = choice.get("delta") if isinstance(choice.get("delta"), Mapping) else {}
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self.block_kind != "text":
                self._open(out, {"type": "text", "text": ""})
            out.append({"type": "content_block_delta", "index": self.block,
                        "delta": {"type": "text_delta", "text": text}})
        for call in delta.get("tool_calls") or ():
            if isinstance(call, Mapping):
                self._tool_delta(out, call)
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        return b"".join(named_event(e) for e in out)

    def _tool_delta(self, out: list[Json], call: Mapping[str, Any]) -> None:
        position = call.get("index") if isinstance(call.get("index"), int) else 0
        function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
        index = self.tools.get(position)
        if index is None:
            index = self.tools[position] = self._open(out, {
                "type": "tool_use", "id": str(call.get("id") or "toolu_gw" + random_hex(20)),
                "name": str(function.get("name") or ""), "input": {}})
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": arguments}})

    def end(self, usage: Usage) -> bytes:
        out: list[Json] = []
        if not self.started:
            self._start(out)
        self._close(out)
        out.append({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(self.finish), "stop_sequence": None},
                    "usage": anthropic_usage(usage, self.cached)})
        out.append({"type": "message_stop"})
        return b"".join(named_event(e) for e in out)

    def error(self, body: Json) -> bytes:
        return error_event(body)
