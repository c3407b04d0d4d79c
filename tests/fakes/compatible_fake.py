"""MistralFake: an OpenAI-compatible host with Mistral's quirks, for the compatible family.

Mistral's API validates bodies strictly: a field it does not define (``stream_options``,
``max_completion_tokens``) is a 422 with its validation-error shape. It reports usage
in the last content chunk of every stream, unasked, and has no ``/completions``.
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import Fault, JsonReply, RecordedRequest, StreamReply
from .openai_fake import OpenAIFake

UNKNOWN_TO_MISTRAL = ("stream_options", "max_completion_tokens")


class MistralFake(OpenAIFake):
    def route(self, path: str) -> str | None:
        kind = super().route(path)
        return None if kind == "completions" else kind

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        body = request.json if isinstance(request.json, dict) else {}
        extra = [k for k in UNKNOWN_TO_MISTRAL if k in body]
        if extra and self.route(request.path) is not None:
            detail = [{"type": "extra_forbidden", "loc": ["body", k],
                       "msg": "Extra inputs are not permitted", "input": body[k]}
                      for k in extra]
            return JsonReply({"object": "error", "message": {"detail": detail},
                              "type": "invalid_request_error", "param": None, "code": None},
                             422)
        return super().answer(request, fault)

    def stream(self, kind: str, body: dict[str, Any], model: str, fault: Fault) -> list[bytes]:
        events = super().stream(kind, body, model, fault)
        usage = self.usage(fault)
        if usage is not None:   # usage rides on the chunk with the finish_reason
            last = orjson.loads(events[-2][len(b"data: "):])
            last["usage"] = usage
            events[-2] = b"data: " + orjson.dumps(last) + b"\n\n"
        return events
