"""ResponsesFake: OpenAI's Responses API, beside chat (an :class:`OpenAIFake`).

``POST /responses`` (with or without ``/v1``) answers a ``response`` object whose
one output message is ``reply_text``, usage ``prompt_tokens`` in (of which
``cached_tokens`` cached) and ``completion_tokens`` out (of which
``reasoning_tokens`` reasoning); with ``stream: true`` it sends the real event
sequence (response.created, response.in_progress, output_item.added,
content_part.added, output_text.delta per word, output_text.done,
content_part.done, output_item.done, response.completed), each with its
``sequence_number``. Responses are kept: ``GET``/``DELETE /responses/{id}`` find
and delete them (404 for an unknown id). AzureResponsesFake serves the same
under ``/openai/responses?api-version=``.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Fault, JsonReply, RecordedRequest, StreamReply, sse, words
from .openai_fake import OpenAIFake


class ResponsesFake(OpenAIFake):
    cached_tokens = 0
    reasoning_tokens = 0
    prefix = ("/responses", "/v1/responses")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored: dict[str, dict[str, Any]] = {}
        self.counter = 0

    def responses_path(self, request: RecordedRequest) -> str | None:
        for prefix in self.prefix:
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return request.path[len(prefix):]
        return None

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        rest = self.responses_path(request)
        if rest is None:
            return super().answer(request, fault)
        if rest:
            found = self.stored.get(rest[1:])
            if found is None or request.method not in ("GET", "DELETE"):
                return JsonReply(self.error_body(404, "No response found"), 404)
            if request.method == "DELETE":
                del self.stored[rest[1:]]
                return JsonReply({"id": found["id"], "object": "response.deleted",
                                  "deleted": True})
            return JsonReply(found)
        body = request.json
        if request.method != "POST" or not isinstance(body, dict) or "input" not in body:
            return JsonReply(self.error_body(400, "Missing required parameter: 'input'."), 400)
        self.counter += 1
        response = self.response(str(body.get("model")), f"resp_fake{self.counter:04d}")
        self.stored[response["id"]] = response
        if body.get("stream") is True:
            return StreamReply(self.events(response))
        return JsonReply(response)

    def response(self, model: str, ident: str) -> dict[str, Any]:
        return {"id": ident, "object": "response", "created_at": int(time.time()),
                "status": "completed", "error": None, "incomplete_details": None,
                "model": model, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "output": [{
                    "type": "message", "id": "msg_fake1", "status": "completed",
                    "role": "assistant", "content": [{"type": "output_text",
                                                      "text": self.reply_text,
                                                      "annotations": []}]}],
                "usage": {"input_tokens": self.prompt_tokens,
                          "input_tokens_details": {"cached_tokens": self.cached_tokens},
                          "output_tokens": self.completion_tokens,
                          "output_tokens_details": {"reasoning_tokens":
                                                    self.reasoning_tokens},
                          "total_tokens": self.prompt_tokens + self.completion_tokens}}

    def events(self, response: dict[str, Any]) -> list[bytes]:
        start = {**response, "status": "in_progress", "output": [], "usage": None}
        item = {**response["output"][0], "status": "in_progress", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": "msg_fake1", "output_index": 0, "content_index": 0}
        out: list[dict[str, Any]] = [
            {"type": "response.created", "response": start},
            {"type": "response.in_progress", "response": start},
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.content_part.added", **where, "part": part}]
        out += [{"type": "response.output_text.delta", **where, "delta": w, "logprobs": []}
                for w in words(self.reply_text)]
        done_part = {**part, "text": self.reply_text}
        out += [{"type": "response.output_text.done", **where, "text": self.reply_text,
                 "logprobs": []},
                {"type": "response.content_part.done", **where, "part": done_part},
                {"type": "response.output_item.done", "output_index": 0,
                 "item": response["output"][0]},
                {"type": "response.completed", "response": response}]
        return [sse({**e, "sequence_number": i}, e["type"]) for i, e in enumerate(out)]


class AzureResponsesFake(ResponsesFake):
    prefix = ("/openai/responses",)

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if self.responses_path(request) is not None and "api-version" not in request.query:
            return JsonReply(self.error_body(400, "Missing required query parameter: "
                                                  "api-version"), 400)
        return super().answer(request, fault)
