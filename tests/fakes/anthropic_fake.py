"""AnthropicFake: the Messages API, ``POST /v1/messages``.

Like the real API it answers 400 when ``anthropic-version`` or ``max_tokens`` is
missing, and its errors use ``{"type": "error", "error": {"type", "message"}}``.
Streams are the real event sequence: message_start (input usage), content_block_start,
ping, content_block_delta x words, content_block_stop, message_delta (stop_reason,
output usage), message_stop. When the request forces a tool (``tool_choice`` of
type ``tool`` or ``any``), the answer is one ``tool_use`` block for that tool,
with input ``{"fake": <name>}``, and stop_reason ``tool_use``.

``cache_read_tokens`` / ``cache_creation_tokens`` (attributes, 0 by default) are
reported as ``cache_read_input_tokens`` / ``cache_creation_input_tokens``.
``POST /v1/messages/count_tokens`` answers ``{"input_tokens": prompt_tokens}``.
"""

from __future__ import annotations

from typing import Any

from .base import FakeUpstream, Fault, JsonReply, RecordedRequest, StreamReply, sse, words

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
MESSAGE_ID = "msg_01FakeAnthropicMessage"


class AnthropicFake(FakeUpstream):
    cache_read_tokens = 0
    cache_creation_tokens = 0

    def error_body(self, status: int, message: str) -> Any:
        return {"type": "error",
                "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if request.method != "POST" or request.path not in ("/v1/messages",
                                                            "/v1/messages/count_tokens"):
            return None
        body = request.json
        if request.header("anthropic-version") is None:
            return JsonReply(self.error_body(400, "anthropic-version: header is required"), 400)
        if request.path.endswith("/count_tokens"):
            if not isinstance(body, dict) or "max_tokens" in body:
                return JsonReply(self.error_body(400, "max_tokens: Extra inputs are not "
                                                      "permitted"), 400)
            return JsonReply({"input_tokens": self.prompt_tokens})
        if not isinstance(body, dict) or not isinstance(body.get("max_tokens"), int):
            return JsonReply(self.error_body(400, "max_tokens: Field required"), 400)
        if not isinstance(body.get("messages"), list):
            return JsonReply(self.error_body(400, "messages: Field required"), 400)
        tool = self.forced_tool(body)
        model = str(body.get("model") or "claude-fake")
        if body.get("stream") is True:
            return StreamReply(self.stream(model, tool, fault))
        content: list[dict[str, Any]] = (
            [{"type": "tool_use", "id": "toolu_01Fake", "name": tool, "input": {"fake": tool}}]
            if tool else [{"type": "text", "text": self.reply_text}])
        out: dict[str, Any] = {"id": MESSAGE_ID, "type": "message", "role": "assistant",
                               "model": model, "content": content,
                               "stop_reason": "tool_use" if tool else "end_turn",
                               "stop_sequence": None}
        if not fault.no_usage:
            out["usage"] = dict(fault.usage) if fault.usage is not None else {
                "input_tokens": self.prompt_tokens,
                "cache_creation_input_tokens": self.cache_creation_tokens,
                "cache_read_input_tokens": self.cache_read_tokens,
                "output_tokens": self.completion_tokens}
        return JsonReply(out)

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        choice = body.get("tool_choice")
        tools = body.get("tools")
        if not isinstance(choice, dict) or not isinstance(tools, list) or not tools:
            return None
        if choice.get("type") == "tool":
            return str(choice.get("name"))
        if choice.get("type") == "any":
            return str(tools[0].get("name"))
        return None

    def stream(self, model: str, tool: str | None, fault: Fault) -> list[bytes]:
        start: dict[str, Any] = {"id": MESSAGE_ID, "type": "message", "role": "assistant",
                                 "model": model, "content": [], "stop_reason": None,
                                 "stop_sequence": None}
        recorded = dict(fault.usage) if fault.usage is not None else None
        if not fault.no_usage:  # a recorded usage: its input side here, as Anthropic does
            start["usage"] = {"input_tokens": self.prompt_tokens,
                              "cache_creation_input_tokens": self.cache_creation_tokens,
                              "cache_read_input_tokens": self.cache_read_tokens,
                              "output_tokens": 1}
            if recorded is not None:
                start["usage"] = {**{k: v for k, v in recorded.items()
                                     if k != "server_tool_use"}, "output_tokens": 1}
        events = [sse({"type": "message_start", "message": start}, "message_start")]
        if tool:
            block: dict[str, Any] = {"type": "tool_use", "id": "toolu_01Fake", "name": tool,
                                     "input": {}}
            pieces = [{"type": "input_json_delta", "partial_json": p}
                      for p in ('{"fake": ', f'"{tool}"}}')]
        else:
            block = {"type": "text", "text": ""}
            pieces = [{"type": "text_delta", "text": w} for w in words(self.reply_text)]
        events.append(sse({"type": "content_block_start", "index": 0, "content_block": block},
                          "content_block_start"))
        events.append(sse({"type": "ping"}, "ping"))
        events += [sse({"type": "content_block_delta", "index": 0, "delta": p},
                       "content_block_delta") for p in pieces]
        events.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        delta: dict[str, Any] = {"type": "message_delta",
                                 "delta": {"stop_reason": "tool_use" if tool else "end_turn",
                                           "stop_sequence": None}}
        if not fault.no_usage:  # ... and its output side (with server tool counts) here
            delta["usage"] = {"output_tokens": self.completion_tokens}
            if recorded is not None:
                delta["usage"] = {k: v for k, v in recorded.items()
                                  if k in ("output_tokens", "server_tool_use")}
        events.append(sse(delta, "message_delta"))
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return events
