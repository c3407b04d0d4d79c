"""GeminiFake: Google AI Studio's native API (``generativelanguage.googleapis.com``).

Routes: ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent``,
``:embedContent``, ``:batchEmbedContents``. Like the real API:

* the key must come in ``x-goog-api-key`` (else 403 PERMISSION_DENIED); errors are
  ``{"error": {"code", "message", "status"}}``;
* ``contents`` must be a non-empty list of ``user``/``model`` turns with ``parts``
  (else 400 INVALID_ARGUMENT);
* ``streamGenerateContent`` streams SSE only with ``?alt=sse``; without it the answer is
  one JSON array of responses (what a client that forgot ``alt=sse`` gets);
* each stream event carries ``usageMetadata`` so far; the last one has ``finishReason``;
* a ``functionCallingConfig`` of mode ANY makes the answer one ``functionCall`` of the
  first allowed (or declared) function, with ``args`` ``{"fake": <name>}``.

VertexFake (``vertex_fake.py``) serves the same under Vertex AI's paths.
"""

from __future__ import annotations

import base64
from typing import Any

from .base import FakeUpstream, Fault, JsonReply, RecordedRequest, StreamReply, fake_vector, \
    sse, words

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GeminiFake(FakeUpstream):
    def __init__(self, name: str = "gemini", *, api_key: str | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.api_key = api_key

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message,
                          "status": STATUS.get(status, "UNKNOWN")}}

    def split(self, path: str) -> tuple[str, str] | None:
        """(model, method) of an AI Studio path, else None."""
        prefix = "/v1beta/models/"
        if not path.startswith(prefix) or ":" not in path:
            return None
        model, _, method = path[len(prefix):].partition(":")
        return model, method

    def authorised(self, request: RecordedRequest) -> bool:
        key = request.header("x-goog-api-key")
        return key is not None and (self.api_key is None or key == self.api_key)

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        route = self.split(request.path)
        if request.method != "POST" or route is None:
            return None
        if not self.authorised(request):
            return JsonReply(self.error_body(403, "Method doesn't allow unregistered callers. "
                                                  "Please use API Key or other form of API "
                                                  "consumer identity to call this API."), 403)
        model, method = route
        body = request.json if isinstance(request.json, dict) else {}
        if method == "embedContent":
            return JsonReply({"embedding": {"values": self.vector(body.get("content"))}})
        if method == "batchEmbedContents":
            reqs = body.get("requests")
            if not isinstance(reqs, list) or not reqs:
                return JsonReply(self.error_body(400, "requests must not be empty"), 400)
            return JsonReply({"embeddings": [{"values": self.vector(r.get("content"),
                                                                    r.get("outputDimensionality"))}
                                             for r in reqs]})
        if method not in ("generateContent", "streamGenerateContent"):
            return None
        problem = self.invalid(body)
        if problem:
            return JsonReply(self.error_body(400, problem), 400)
        events = self.responses(body, model, fault, stream=method != "generateContent")
        if method == "generateContent":
            return JsonReply(events[0])
        if request.query.get("alt") != "sse":
            return JsonReply(events)
        return StreamReply([sse(e) for e in events])

    @staticmethod
    def invalid(body: dict[str, Any]) -> str | None:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        for turn in contents:
            if not isinstance(turn, dict) or turn.get("role") not in ("user", "model") \
                    or not isinstance(turn.get("parts"), list) or not turn["parts"]:
                return "* GenerateContentRequest.contents: invalid turn"
        return None

    @staticmethod
    def vector(content: Any, dims: Any = None) -> list[float]:
        parts = content.get("parts") if isinstance(content, dict) else None
        text = "".join(str(p.get("text", "")) for p in parts or () if isinstance(p, dict))
        return fake_vector(text, dims if isinstance(dims, int) and dims > 0 else 8)

    @staticmethod
    def forced_function(body: dict[str, Any]) -> str | None:
        config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if config.get("mode") != "ANY":
            return None
        allowed = config.get("allowedFunctionNames") or []
        if allowed:
            return str(allowed[0])
        for tool in body.get("tools") or ():
            for declaration in tool.get("functionDeclarations") or ():
                return str(declaration.get("name"))
        return None

    def usage(self, done: int, fault: Fault) -> dict[str, Any] | None:
        if fault.no_usage:
            return None
        out = {"promptTokenCount": self.prompt_tokens,
               "totalTokenCount": self.prompt_tokens + done}
        if done:
            out["candidatesTokenCount"] = done
        return out

    def responses(self, body: dict[str, Any], model: str, fault: Fault,
                  stream: bool) -> list[dict[str, Any]]:
        """The answer as a list of GenerateContentResponse (one when not streamed)."""
        function = self.forced_function(body)
        ident = base64.urlsafe_b64encode(model.encode()).decode()[:16]
        if function is not None:
            pieces: list[dict[str, Any]] = [{"functionCall": {"name": function,
                                                              "args": {"fake": function}}}]
        elif stream:
            pieces = [{"text": w} for w in words(self.reply_text)]
        else:
            pieces = [{"text": self.reply_text}]
        out = []
        for i, part in enumerate(pieces):
            last = i == len(pieces) - 1
            candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"},
                                         "index": 0}
            if last:
                candidate["finishReason"] = "STOP"
            event: dict[str, Any] = {"candidates": [candidate], "modelVersion": model,
                                     "responseId": ident}
            usage = self.usage(self.completion_tokens if last else 0, fault)
            if usage is not None:
                event["usageMetadata"] = usage
            out.append(event)
        return out
