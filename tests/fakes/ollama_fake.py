"""OllamaFake: Ollama's native API, ``/api/chat``, ``/api/generate``, ``/api/embed``.

Like Ollama, chat and generate stream unless the body says ``"stream": false``;
streams are NDJSON (``application/x-ndjson``), one object per line, the last with
``done: true``, ``done_reason``, ``prompt_eval_count`` and ``eval_count``. Errors
are ``{"error": "..."}``; a body without ``model`` gets 400.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .base import (
    FakeUpstream,
    Fault,
    JsonReply,
    RecordedRequest,
    StreamReply,
    fake_vector,
    ndjson,
    words,
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaFake(FakeUpstream):
    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        kind = {"/api/chat": "chat", "/api/generate": "generate",
                "/api/embed": "embed"}.get(request.path)
        if request.method != "POST" or kind is None:
            return None
        body = request.json
        if not isinstance(body, dict) or not body.get("model"):
            return JsonReply(self.error_body(400, "model is required"), 400)
        model = str(body["model"])
        if kind == "embed":
            value = body.get("input")
            inputs = value if isinstance(value, list) else [value]
            out: dict[str, Any] = {"model": model,
                                   "embeddings": [fake_vector(str(v)) for v in inputs],
                                   "total_duration": 14143917, "load_duration": 1019500}
            if not fault.no_usage:
                out["prompt_eval_count"] = self.prompt_tokens
            return JsonReply(out)
        final = self.final(model, kind, fault)
        if body.get("stream", True) is False:
            text = self.reply_text
            return JsonReply({**final, **self.piece(model, kind, text), "done": True})
        lines = [ndjson({**self.piece(model, kind, w), "done": False})
                 for w in words(self.reply_text)]
        lines.append(ndjson({**self.piece(model, kind, ""), **final}))
        return StreamReply(lines, content_type="application/x-ndjson", kind="ndjson")

    @staticmethod
    def piece(model: str, kind: str, text: str) -> dict[str, Any]:
        if kind == "chat":
            return {"model": model, "created_at": _now(),
                    "message": {"role": "assistant", "content": text}}
        return {"model": model, "created_at": _now(), "response": text}

    def final(self, model: str, kind: str, fault: Fault) -> dict[str, Any]:
        out: dict[str, Any] = {"done": True, "done_reason": "stop",
                               "total_duration": 4883583458, "load_duration": 1334875,
                               "prompt_eval_duration": 342546000, "eval_duration": 4535599000}
        if kind == "generate":
            out["context"] = [1, 2, 3]
        if not fault.no_usage:
            out.update(prompt_eval_count=self.prompt_tokens, eval_count=self.completion_tokens)
        return out
