"""CohereFake: Cohere's v2 API, ``POST /v2/chat`` and ``POST /v2/embed``.

Like the real API: the key is a Bearer token (else 401 ``{"message": "invalid api
token"}``); errors are ``{"id", "message"}``; ``messages`` is required; ``/v2/embed``
refuses a request without ``input_type`` or ``embedding_types``. Streams are SSE with
``event:`` names: message-start, content-start, content-delta x words, content-end,
message-end (finish_reason, usage). ``tool_choice: REQUIRED`` makes the answer one
call of the first tool, arguments ``{"fake": <name>}``.
"""

from __future__ import annotations

import json
from typing import Any

from .base import FakeUpstream, Fault, JsonReply, RecordedRequest, StreamReply, fake_vector, \
    sse, words


class CohereFake(FakeUpstream):
    def error_body(self, status: int, message: str) -> Any:
        return {"id": "fake-error-id", "message": message}

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if request.method != "POST" or request.path not in ("/v2/chat", "/v2/embed"):
            return None
        auth = request.header("authorization") or ""
        if not auth.startswith("Bearer ") or len(auth) < 12:
            return JsonReply(self.error_body(401, "invalid api token"), 401)
        body = request.json if isinstance(request.json, dict) else {}
        if request.path == "/v2/embed":
            if not body.get("input_type") or not body.get("embedding_types"):
                return JsonReply(self.error_body(400, "invalid request: valid input_type "
                                                      "must be provided"), 400)
            texts = body.get("texts") or []
            out: dict[str, Any] = {"id": "fake-embed", "texts": texts, "embeddings": {
                "float": [fake_vector(str(t)) for t in texts]},
                "meta": {"api_version": {"version": "2"}}}
            if not fault.no_usage:
                out["meta"]["billed_units"] = {"input_tokens": self.prompt_tokens}
            return JsonReply(out)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return JsonReply(self.error_body(400, "invalid request: messages must not be "
                                                  "empty"), 400)
        tool = self.forced_tool(body)
        usage = None if fault.no_usage else {
            "billed_units": {"input_tokens": self.prompt_tokens,
                             "output_tokens": self.completion_tokens},
            "tokens": {"input_tokens": self.prompt_tokens + 60,
                       "output_tokens": self.completion_tokens}}
        finish = "TOOL_CALL" if tool else "COMPLETE"
        call = {"id": f"{tool}_fake01", "type": "function",
                "function": {"name": tool, "arguments": json.dumps({"fake": tool})}}
        if body.get("stream") is not True:
            message: dict[str, Any] = {"role": "assistant"}
            if tool:
                message["tool_calls"] = [call]
            else:
                message["content"] = [{"type": "text", "text": self.reply_text}]
            reply = {"id": "fake-chat-id", "finish_reason": finish, "message": message}
            if usage is not None:
                reply["usage"] = usage
            return JsonReply(reply)
        events = [sse({"id": "fake-chat-id", "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}}},
            "message-start")]
        if tool:
            start = {**call, "function": {"name": tool, "arguments": ""}}
            events.append(sse({"type": "tool-call-start", "index": 0,
                               "delta": {"message": {"tool_calls": start}}}, "tool-call-start"))
            events.append(sse({"type": "tool-call-delta", "index": 0, "delta": {"message": {
                "tool_calls": {"function": {"arguments": call["function"]["arguments"]}}}}},
                "tool-call-delta"))
            events.append(sse({"type": "tool-call-end", "index": 0}, "tool-call-end"))
        else:
            events.append(sse({"type": "content-start", "index": 0, "delta": {"message": {
                "content": {"type": "text", "text": ""}}}}, "content-start"))
            events += [sse({"type": "content-delta", "index": 0, "delta": {"message": {
                "content": {"text": w}}}}, "content-delta") for w in words(self.reply_text)]
            events.append(sse({"type": "content-end", "index": 0}, "content-end"))
        end: dict[str, Any] = {"finish_reason": finish}
        if usage is not None:
            end["usage"] = usage
        events.append(sse({"type": "message-end", "delta": end}, "message-end"))
        return StreamReply(events)

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        tools = body.get("tools")
        if body.get("tool_choice") != "REQUIRED" or not isinstance(tools, list) or not tools:
            return None
        return str(tools[0].get("function", {}).get("name"))
