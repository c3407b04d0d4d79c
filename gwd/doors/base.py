"""The door contract the proxy calls, and OpenAI's own framing (the default).

For one call, a :class:`Door` says:

* ``provider(dep)``: the provider to use for a deployment: its own native one
  (the request forwarded in the client's format) or the deployment's usual
  provider, fed the door's OpenAI translation of the request;
* ``render(dep, completion)``: the body of a non-streamed answer;
* ``sink(dep)``: a :class:`Sink`, which frames the stream events the provider's
  translator gives (OpenAI chunks, or the door's native events) for the client.

Pure: no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import orjson

from ..config import Deployment
from ..providers import get_provider
from ..providers.base import Completion, Json, Provider, Usage
from ..sse import DONE, encode, encode_error


class Sink:
    """Frames one stream for the client (this default: OpenAI's ``data:`` chunks)."""

    def chunk(self, chunk: Json) -> bytes:
        return encode(chunk)

    def answer_id(self, chunk: Json) -> str | None:
        """The id of the answer this chunk (already written) belongs to, if it tells
        (OpenAI chunks carry it: ``chatcmpl-...``, ``cmpl-...``)."""
        found = chunk.get("id")
        return found if isinstance(found, str) and found else None

    def end(self, usage: Usage) -> bytes:
        """What follows the last chunk of a stream the upstream finished."""
        return DONE

    def error(self, body: Json) -> bytes:
        """The event that ends a stream that failed midway."""
        return encode_error(body)


OPENAI_SINK = Sink()


def nested_id(chunk: Json, key: str) -> str | None:
    """``chunk[key]["id"]``: the answer's id in Anthropic's ``message_start`` (key
    ``message``) and the Responses API's ``response.*`` events (key ``response``)."""
    inner = chunk.get(key)
    found = inner.get("id") if isinstance(inner, dict) else None
    return found if isinstance(found, str) and found else None


def named_event(obj: Json) -> bytes:
    """An SSE event named after its ``type`` (Anthropic's and the Responses API's framing)."""
    return b"event: " + str(obj.get("type", "message")).encode() + b"\ndata: " \
        + orjson.dumps(obj) + b"\n\n"


class Door(ABC):
    """One call's front door (see the module docstring)."""

    #: the ``endpoint`` recorded in the ledger for calls through this door
    name = "chat"

    def provider(self, dep: Deployment) -> Provider:
        return get_provider(dep.provider)

    def serves(self, dep: Deployment) -> bool:
        """Whether this call can go to ``dep`` (the policy keeps only those that can)."""
        return True

    def refusal(self) -> str:
        """Why no deployment of the model could take this call."""
        return "no deployment of the model can serve it"

    @abstractmethod
    def render(self, dep: Deployment, completion: Completion) -> bytes: ...

    @abstractmethod
    def sink(self, dep: Deployment) -> Sink: ...
