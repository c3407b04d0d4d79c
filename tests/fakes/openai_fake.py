"""OpenAIFake and AzureFake: OpenAI's wire format (chat, completions, embeddings).

Routes (with or without ``/v1``): ``POST /chat/completions``, ``/completions``,
``/embeddings``. Streams are SSE ending with ``data: [DONE]``; the usage chunk
(``choices: []``) is sent only when ``stream_options.include_usage`` is true.
Embeddings honour ``encoding_format: "base64"`` (little-endian float32).
AzureFake serves the same under ``/openai/deployments/{name}/...`` and answers
400 when the ``api-version`` query parameter is missing (it is recorded in
``request.query`` like any other).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

from .base import (
    FakeUpstream,
    Fault,
    JsonReply,
    RecordedRequest,
    StreamReply,
    fake_vector,
    sse,
    words,
)

ROUTES = {"/chat/completions": "chat", "/completions": "completions",
          "/embeddings": "embeddings"}


class OpenAIFake(FakeUpstream):
    def route(self, path: str) -> str | None:
        return ROUTES.get(path[3:] if path.startswith("/v1/") else path)

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        kind = self.route(request.path)
        body = request.json if isinstance(request.json, dict) else None
        if request.method != "POST" or kind is None:
            return None
        if body is None:
            return JsonReply(self.error_body(400, "body must be a JSON object"), 400)
        model = str(body.get("model") or "fake-model")
        if kind == "embeddings":
            return JsonReply(self.embeddings(body, model, fault))
        if body.get("stream") is True:
            return StreamReply(self.stream(kind, body, model, fault))
        return JsonReply(self.completion(kind, model, fault))

    def usage(self, fault: Fault) -> dict[str, int] | None:
        if fault.no_usage:
            return None
        if fault.usage is not None:
            return dict(fault.usage)
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def completion(self, kind: str, model: str, fault: Fault) -> dict[str, Any]:
        if kind == "chat":
            choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": "stop",
                                      "message": {"role": "assistant",
                                                  "content": self.reply_text, "refusal": None}}
            ident, obj = "chatcmpl-fake0001", "chat.completion"
        else:
            choice = {"index": 0, "text": self.reply_text, "logprobs": None,
                      "finish_reason": "stop"}
            ident, obj = "cmpl-fake0001", "text_completion"
        out = {"id": ident, "object": obj, "created": int(time.time()), "model": model,
               "system_fingerprint": "fp_fake", "choices": [choice]}
        usage = self.usage(fault)
        if usage is not None:
            out["usage"] = usage
        return out

    def stream(self, kind: str, body: dict[str, Any], model: str, fault: Fault) -> list[bytes]:
        chat = kind == "chat"
        base = {"id": "chatcmpl-fake0001" if chat else "cmpl-fake0001",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_fake"}

        def chunk(piece: str | None, finish: str | None = None,
                  role: bool = False) -> bytes:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if role else {}
                if piece is not None:
                    delta["content"] = piece
                choice: dict[str, Any] = {"index": 0, "delta": delta}
            else:
                choice = {"index": 0, "text": piece or ""}
            choice.update(logprobs=None, finish_reason=finish)
            return sse({**base, "choices": [choice]})

        events = [chunk("", role=True)] if chat else []
        events += [chunk(w) for w in words(self.reply_text)]
        events.append(chunk(None if chat else "", "stop"))
        options = body.get("stream_options")
        usage = self.usage(fault)
        if isinstance(options, dict) and options.get("include_usage") and usage is not None:
            events.append(sse({**base, "choices": [], "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return events

    def embeddings(self, body: dict[str, Any], model: str, fault: Fault) -> dict[str, Any]:
        value = body.get("input")
        inputs = value if isinstance(value, list) else [value]
        data = []
        for i, text in enumerate(inputs):
            vector = fake_vector(str(text))
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                encoded = base64.b64encode(packed).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        out: dict[str, Any] = {"object": "list", "data": data, "model": model}
        if not fault.no_usage:
            out["usage"] = {"prompt_tokens": self.prompt_tokens,
                            "total_tokens": self.prompt_tokens}
        return out


class AzureFake(OpenAIFake):
    """Azure OpenAI: ``/openai/deployments/{deployment}/{route}?api-version=...``."""

    def route(self, path: str) -> str | None:
        parts = path.split("/", 4)   # "", "openai", "deployments", name, rest
        if len(parts) < 5 or parts[1:3] != ["openai", "deployments"]:
            return None
        return ROUTES.get("/" + parts[4])

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if self.route(request.path) is not None and "api-version" not in request.query:
            return JsonReply(self.error_body(400, "Missing required query parameter: "
                                                  "api-version"), 400)
        reply = super().answer(request, fault)
        deployment = request.path.split("/")[3] if request.path.count("/") >= 4 else ""
        if isinstance(reply, JsonReply) and reply.status == 200 and deployment:
            reply.body["model"] = deployment
        return reply
