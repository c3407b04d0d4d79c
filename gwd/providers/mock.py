"""``mock/``: answers in-process, deterministically, with usage. For demos and tests.

The reply is ``litellm_params.mock_response`` when set, else a sentence echoing
the last user message. Usage counts the same four-characters-per-token estimate
gw uses elsewhere, but it is *reported* usage (the mock is the upstream), so the
cost is exact and repeatable. Embeddings are unit vectors derived from a hash
of each input; ``encoding_format: "base64"`` (the openai SDK's default) is honoured.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ..config import Deployment
from .base import (
    Completion,
    Endpoint,
    Json,
    Provider,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    content_text,
    estimate_prompt_tokens,
    estimate_tokens,
    new_id,
    prompt_text,
)

EMBEDDING_DIMENSIONS = 16


def reply_text(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any]) -> str:
    fixed = dep.extra.get("mock_response")
    if isinstance(fixed, str):
        return fixed
    if endpoint == "chat":
        last = ""
        for message in body.get("messages") or ():
            if isinstance(message, Mapping) and message.get("role") == "user":
                last = content_text(message.get("content"))
        said = last
    else:
        said = prompt_text(endpoint, body)
    said = " ".join(said.split())[:200]
    return f"This is a mock response from {dep.model} to: {said}"


def limited(text: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """Cut the reply to ``max_tokens`` (as estimated), giving the finish reason."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and estimate_tokens(text) > limit:
        return text[: limit * 4], "length"
    return text, "stop"


def embedding(text: str, encoding: str | None) -> list[float] | str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [(b - 127.5) / 127.5 for b in digest[:EMBEDDING_DIMENSIONS]]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    vector = [round(v / norm, 6) for v in raw]
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


class MockTranslator(StreamTranslator):
    def feed(self, data: bytes, event: str | None = None) -> list[Json]:  # pragma: no cover
        return []


class MockProvider(Provider):
    name = "mock"
    local = True

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        raise NotImplementedError("mock/ answers locally")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        raise NotImplementedError("mock/ answers locally")

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return MockTranslator(endpoint, body, dep.model)

    def answer(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any]) -> Completion:
        created = int(time.time())
        if endpoint == "embeddings":
            value = body.get("input")
            inputs = [value] if isinstance(value, str) else list(value or [])
            items = [{"object": "embedding", "index": i,
                      "embedding": embedding(str(v), body.get("encoding_format"))}
                     for i, v in enumerate(inputs)]
            usage = Usage(estimate_prompt_tokens(endpoint, body), 0)
            return Completion({"object": "list", "data": items, "model": dep.model,
                               "usage": {"prompt_tokens": usage.prompt_tokens,
                                         "total_tokens": usage.total_tokens}}, usage)
        text, finish = limited(reply_text(dep, endpoint, body), body)
        usage = Usage(estimate_prompt_tokens(endpoint, body), estimate_tokens(text))
        if endpoint == "chat":
            choice: Json = {"index": 0, "message": {"role": "assistant", "content": text},
                            "logprobs": None, "finish_reason": finish}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            obj = "text_completion"
        return Completion({"id": new_id(endpoint), "object": obj, "created": created,
                           "model": dep.model, "choices": [choice],
                           "usage": usage.as_openai()}, usage)

    def stream_chunks(self, dep: Deployment, endpoint: Endpoint,
                      body: Mapping[str, Any]) -> Iterator[Json]:
        """The same answer as ``answer``, as OpenAI chunks, one per word."""
        t = self.stream_translator(dep, endpoint, body)
        text, finish = limited(reply_text(dep, endpoint, body), body)
        words = text.split(" ")
        if endpoint == "chat":
            yield t.chat_chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            t.text_parts.append(piece)
            yield t.chat_chunk({"content": piece}) if endpoint == "chat" else t.text_chunk(piece)
        yield t.chat_chunk({}, finish) if endpoint == "chat" else t.text_chunk("", finish)
        t.reported = Usage(estimate_prompt_tokens(endpoint, body), estimate_tokens(text))
        yield t.usage_chunk()
