"""TGIFake: Hugging Face text-generation-inference (+ text-embeddings-inference routes).

* ``POST /v1/chat/completions``: the Messages API, OpenAI's format (see OpenAIFake);
  set ``send_done = False`` to mimic TGI before 2.1.1, whose streams end without
  ``data: [DONE]``.
* ``POST /generate``: ``{"generated_text", "details"}``; details (with ``prefill``
  when ``decoder_input_details``) only when ``parameters.details`` is true.
* ``POST /generate_stream``: SSE of ``{"index", "token", "generated_text", "details"}``;
  the last event is the special end-of-sequence token with ``generated_text`` and
  ``details`` (finish_reason eos_token, generated_tokens, input_length).
* ``POST /embed`` (TEI native: a bare list of vectors) and ``POST /v1/embeddings``
  (TEI's OpenAI route, with usage).

Errors are TGI's ``{"error": "...", "error_type": "..."}``.
"""

from __future__ import annotations

from typing import Any

from .base import Fault, JsonReply, RecordedRequest, StreamReply, fake_vector, sse, words
from .openai_fake import OpenAIFake


class TGIFake(OpenAIFake):
    send_done = True

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "error_type": "validation" if status < 500 else "generation"}

    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        if request.method != "POST":
            return None
        body = request.json if isinstance(request.json, dict) else {}
        if request.path in ("/v1/chat/completions", "/v1/embeddings"):
            reply = super().answer(request, fault)
            if isinstance(reply, StreamReply) and not self.send_done:
                reply.events = [e for e in reply.events if e != b"data: [DONE]\n\n"]
            return reply
        if request.path == "/embed":
            value = body.get("inputs")
            inputs = value if isinstance(value, list) else [value]
            return JsonReply([fake_vector(str(v)) for v in inputs])
        if request.path not in ("/generate", "/generate_stream"):
            return None
        if not isinstance(body.get("inputs"), str):
            return JsonReply(self.error_body(422, "inputs: expected a string"), 422)
        params: dict[str, Any] = body.get("parameters") or {}
        if not isinstance(params, dict):
            return JsonReply(self.error_body(422, "parameters: expected an object"), 422)
        if request.path == "/generate_stream":
            return StreamReply(self.generate_stream(params, fault))
        out: dict[str, Any] = {"generated_text": self.reply_text}
        if params.get("details") and not fault.no_usage:
            out["details"] = {"finish_reason": "eos_token",
                              "generated_tokens": self.completion_tokens, "seed": None,
                              "prefill": [], "tokens": self.tokens()}
            if params.get("decoder_input_details"):
                out["details"]["prefill"] = [{"id": 1000 + i, "text": f"t{i}", "logprob": None}
                                             for i in range(self.prompt_tokens)]
        return JsonReply(out)

    def tokens(self) -> list[dict[str, Any]]:
        return [{"id": 2000 + i, "text": w, "logprob": -0.25, "special": False}
                for i, w in enumerate(words(self.reply_text))]

    def generate_stream(self, params: dict[str, Any], fault: Fault) -> list[bytes]:
        events = [sse({"index": i + 1, "token": token, "generated_text": None, "details": None})
                  for i, token in enumerate(self.tokens())]
        details = None
        if params.get("details") and not fault.no_usage:
            details = {"finish_reason": "eos_token", "generated_tokens": self.completion_tokens,
                       "seed": None, "input_length": self.prompt_tokens}
        events.append(sse({"index": len(events) + 1,
                           "token": {"id": 2, "text": "</s>", "logprob": -0.1, "special": True},
                           "generated_text": self.reply_text, "details": details}))
        return events
