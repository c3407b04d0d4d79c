"""The provider contract: pure translation between OpenAI's wire format and an upstream's.

A provider never does I/O. For one call it:

* ``build_request(dep, endpoint, body, stream)`` -> :class:`UpstreamRequest`
  (URL, headers, encoded body, how the response streams);
* ``parse_response(dep, endpoint, body, status, payload)`` -> :class:`Completion`
  (an OpenAI-shaped response plus normalised :class:`Usage`), raising
  :class:`BadUpstreamResponse` when the payload is not what the upstream should send;
* ``stream_translator(dep, endpoint, body)`` -> a :class:`StreamTranslator`, fed the
  upstream's stream events one by one, giving OpenAI chunks back;
* ``error_message(status, payload)`` -> the upstream's own error text, for the client.

``endpoint`` is ``"chat"``, ``"completions"`` or ``"embeddings"``; ``body`` is the
client's validated OpenAI request (a dict the provider must not mutate).
Usage is always normalised: when an upstream reports none, it is estimated from
the text and marked ``estimated=True``.
"""

from __future__ import annotations

import math
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..config import Deployment

Endpoint = Literal["chat", "completions", "embeddings"]
StreamFormat = Literal["sse", "ndjson", "aws-eventstream"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, normalised across providers.

    ``prompt_tokens`` counts every token the prompt carried and ``completion_tokens``
    every token generated, as OpenAI reports them; the other counts are PARTS of those
    two, billed at their own rates (see :func:`gwd.pricing.usage_cost`), never on top:
    cached input (OpenAI ``prompt_tokens_details.cached_tokens``, Anthropic
    ``cache_read_input_tokens``), cache writes (Anthropic's 5-minute and 1-hour
    ``cache_creation``), audio and image input; reasoning and audio output (OpenAI's
    ``completion_tokens_details``). ``web_searches`` is a count of billed tool calls.
    """

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    cached_tokens: int = 0            # part of prompt_tokens: read from the prompt cache
    cache_write_tokens: int = 0       # part of prompt_tokens: written to a 5-minute cache
    cache_write_1h_tokens: int = 0    # part of prompt_tokens: written to a 1-hour cache
    audio_prompt_tokens: int = 0      # part of prompt_tokens
    image_prompt_tokens: int = 0      # part of prompt_tokens
    reasoning_tokens: int = 0         # part of completion_tokens
    audio_completion_tokens: int = 0  # part of completion_tokens
    web_searches: int = 0             # server-side web search calls (a per-call fee)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def detail(self) -> dict[str, int] | None:
        """The non-zero parts (the ledger's ``usage_detail``), None when there are none."""
        if not (self.cached_tokens or self.cache_write_tokens or self.cache_write_1h_tokens
                or self.audio_prompt_tokens or self.image_prompt_tokens
                or self.reasoning_tokens or self.audio_completion_tokens or self.web_searches):
            return None  # the common case, on every call: no dict built
        return {name: getattr(self, name) for name in DETAIL_FIELDS if getattr(self, name)}

    def as_openai(self) -> Json:
        out: Json = {"prompt_tokens": self.prompt_tokens,
                     "completion_tokens": self.completion_tokens,
                     "total_tokens": self.total_tokens}
        if self.cached_tokens or self.audio_prompt_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens,
                                            "audio_tokens": self.audio_prompt_tokens}
        if self.reasoning_tokens or self.audio_completion_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens,
                                                "audio_tokens": self.audio_completion_tokens}
        return out


#: the parts of a Usage beyond its two totals, in the order the ledger keeps them
DETAIL_FIELDS = ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                 "audio_prompt_tokens", "image_prompt_tokens", "reasoning_tokens",
                 "audio_completion_tokens", "web_searches")
_PROMPT_PARTS = ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                 "audio_prompt_tokens", "image_prompt_tokens")
_COMPLETION_PARTS = ("reasoning_tokens", "audio_completion_tokens")


def with_parts(prompt: int, completion: int, parts: Mapping[str, Any],
               estimated: bool = False) -> Usage:
    """A Usage from totals and reported parts. A part that is not a count is 0; parts
    are clipped so that together they never exceed their total (a provider reporting
    more cached than prompt tokens cannot make gw bill a token twice or negatively)."""
    counts: dict[str, int] = {}
    for total, names in ((prompt, _PROMPT_PARTS), (completion, _COMPLETION_PARTS)):
        left = total
        for name in names:
            value = parts.get(name)
            take = min(value, left) if _is_count(value) else 0
            if take:
                counts[name] = take
                left -= take
    searches = parts.get("web_searches")
    if _is_count(searches) and searches:
        counts["web_searches"] = searches
    return Usage(prompt, completion, estimated, **counts)


@dataclass(slots=True)
class UpstreamRequest:
    """Everything the upstream module needs to send one request."""

    url: str
    headers: dict[str, str]
    body: bytes
    stream_format: StreamFormat = "sse"
    method: str = "POST"


@dataclass(slots=True)
class Completion:
    """A non-streamed answer in OpenAI's shape, with its usage.

    ``raw`` may hold the upstream's bytes when they already are the OpenAI answer
    the client should get, so they are sent without re-encoding.
    """

    body: Json
    usage: Usage
    raw: bytes | None = None


class BadUpstreamResponse(Exception):
    """The upstream answered 2xx with something that is not a valid answer."""


class StreamTranslator(ABC):
    """Turns one upstream stream into OpenAI stream chunks (dicts).

    ``feed`` is called once per upstream event (an SSE ``data`` payload with its
    ``event`` name, or one NDJSON line). ``done`` turns true when the upstream
    signalled a clean end. ``usage()`` gives the reported usage, or an estimate
    from the prompt and the text streamed so far (``estimated=True``).
    """

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        self.endpoint = endpoint
        self.body = body
        self.model = model
        self.done = False
        self.reported: Usage | None = None
        self.text_parts: list[str] = []
        self.id = new_id(endpoint)
        self.created = int(time.time())

    @abstractmethod
    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        """One upstream event -> zero or more OpenAI chunks."""

    def finish(self) -> list[Json]:
        """Chunks to send after the upstream ended cleanly (default: none)."""
        return []

    def usage(self) -> Usage:
        if self.reported is not None:
            return self.reported
        return Usage(estimate_prompt_tokens(self.endpoint, self.body),
                     estimate_tokens("".join(self.text_parts)), estimated=True)

    # helpers for subclasses building OpenAI chunks
    def chat_chunk(self, delta: Json, finish_reason: str | None = None) -> Json:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish_reason}]}

    def text_chunk(self, text: str, finish_reason: str | None = None) -> Json:
        return {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "text": text, "logprobs": None,
                             "finish_reason": finish_reason}]}

    def usage_chunk(self) -> Json:
        obj = "chat.completion.chunk" if self.endpoint == "chat" else "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                "choices": [], "usage": self.usage().as_openai()}


class Provider(ABC):
    """A provider's four pure functions (see the module docstring)."""

    name: str = ""
    #: a local provider (mock/) answers in-process: see ``answer`` / ``stream_chunks``
    local: bool = False

    @abstractmethod
    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest: ...

    @abstractmethod
    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion: ...

    @abstractmethod
    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator: ...

    def error_message(self, status: int, payload: bytes) -> str:
        """The upstream's error text (first 500 chars), from the common error shapes."""
        return extract_error_message(status, payload)

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    #: True when :meth:`prepare` must be awaited before ``build_request`` (vertex_ai/)
    prepares: bool = False

    async def prepare(self, dep: Deployment) -> None:
        """Async, I/O-doing set-up of one call (e.g. a fresh OAuth2 token), kept out of
        the pure functions: they then read what it left. Default: nothing."""


# ---------------------------------------------------------------- shared pure helpers

_SECRETISH = re.compile(r"(sk|pk|rk|hf|key)[-_][A-Za-z0-9_\-*]{6,}", re.IGNORECASE)


def extract_error_message(status: int, payload: bytes) -> str:
    """Find the message in OpenAI / Anthropic / Ollama / TGI error bodies."""
    message = ""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or "")
        elif isinstance(err, str):
            message = err
        elif isinstance(data.get("message"), str):
            message = data["message"]
        elif isinstance(data.get("detail"), str):
            message = data["detail"]
    if not message:
        message = f"upstream answered HTTP {status}"
    return _SECRETISH.sub("[redacted]", message)[:500]


def random_hex(digits: int) -> str:
    """``digits`` random hex digits for ids that are not secrets (request and completion
    ids). From :mod:`random`, not ``os.urandom``: that is a system call, which lets go of
    the GIL on every request and invites the store's thread in (measured under load)."""
    return f"{random.getrandbits(4 * digits):0{digits}x}"


def new_id(endpoint: Endpoint) -> str:
    prefix = {"chat": "chatcmpl-", "completions": "cmpl-", "embeddings": "embd-"}[endpoint]
    return prefix + random_hex(24)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token."""
    return math.ceil(len(text) / 4) if text else 0


def prompt_text(endpoint: Endpoint, body: Mapping[str, Any]) -> str:
    """All text the prompt carries (message contents, prompt, input)."""
    if endpoint == "chat":
        parts: list[str] = []
        for message in body.get("messages") or ():
            if isinstance(message, Mapping):
                parts.append(content_text(message.get("content")))
        return "\n".join(parts)
    value = body.get("prompt" if endpoint == "completions" else "input")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(v for v in value if isinstance(v, str))
    return ""


def content_items(content: Any) -> Iterator[tuple[str, Any]]:
    """The parts of an OpenAI message ``content`` that translators carry over, in order:
    ``("text", a non-empty string)`` and ``("image", the image_url's url as sent)``."""
    if isinstance(content, str):
        if content:
            yield "text", content
        return
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str) and part["text"]:
            yield "text", part["text"]
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            yield "image", image.get("url") if isinstance(image, Mapping) else image


def content_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def estimate_prompt_tokens(endpoint: Endpoint, body: Mapping[str, Any]) -> int:
    extra = 4 * len(body.get("messages") or ()) if endpoint == "chat" else 0
    return estimate_tokens(prompt_text(endpoint, body)) + extra


def reported_usage(data: Any, endpoint: Endpoint) -> Usage | None:
    """Usage from an OpenAI-shaped ``usage`` object, or None if it is absent or bad.

    Its parts come from ``prompt_tokens_details`` (``cached_tokens``, ``audio_tokens``,
    ``image_tokens``) and ``completion_tokens_details`` (``reasoning_tokens``,
    ``audio_tokens``): OpenAI counts them INSIDE the two totals."""
    if isinstance(data, dict):
        prompt = data.get("prompt_tokens")
        completion = data.get("completion_tokens", 0 if endpoint == "embeddings" else None)
        if _is_count(prompt) and _is_count(completion):
            given = data.get("prompt_tokens_details")
            made = data.get("completion_tokens_details")
            if not isinstance(given, dict) and not isinstance(made, dict):
                return Usage(prompt, completion)
            given = given if isinstance(given, dict) else {}
            made = made if isinstance(made, dict) else {}
            return with_parts(prompt, completion, {
                "cached_tokens": given.get("cached_tokens"),
                "audio_prompt_tokens": given.get("audio_tokens"),
                "image_prompt_tokens": given.get("image_tokens"),
                "reasoning_tokens": made.get("reasoning_tokens"),
                "audio_completion_tokens": made.get("audio_tokens")})
    return None


def estimated_usage(endpoint: Endpoint, body: Mapping[str, Any], text: str = "") -> Usage:
    """Usage estimated from the request body and the answer's text."""
    return Usage(estimate_prompt_tokens(endpoint, body), estimate_tokens(text), estimated=True)


def openai_usage(data: Any, endpoint: Endpoint, body: Mapping[str, Any],
                 text: str = "") -> Usage:
    """Usage from an OpenAI-shaped ``usage`` object, estimated when absent."""
    return reported_usage(data, endpoint) or estimated_usage(endpoint, body, text)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def loads_object(payload: bytes) -> Json:
    """Parse an upstream JSON object or raise :class:`BadUpstreamResponse`."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadUpstreamResponse("upstream sent a body that is not JSON") from None
    if not isinstance(data, dict):
        raise BadUpstreamResponse("upstream sent JSON that is not an object")
    return data
