"""The OpenAI-compatible family (``groq/``, ``mistral/``, ``deepseek/``, ``hosted_vllm/``, ...):
one translator driven by the rows of :data:`catalog.COMPATIBLE`.

These hosts speak OpenAI's wire format, so the OpenAI translator does the work; a row
only says which endpoints the host serves (others answer 400 before any call) and its
quirks: fields it calls by another name, and whether it accepts
``stream_options.include_usage`` (hosts that do not are sent no ``stream_options``
at all; they report usage in their last chunk unasked, which is read the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import Deployment
from .base import Endpoint, UpstreamRequest, dumps
from .catalog import COMPATIBLE
from .openai import OpenAIProvider


class CompatibleProvider(OpenAIProvider):
    """One row of the OpenAI-compatible table."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.row = COMPATIBLE[name]

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in self.row.endpoints

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        row = self.row
        out = dict(body)
        out["model"] = dep.model
        for ours, theirs in row.renames.items():
            if ours in out:
                value = out.pop(ours)
                out.setdefault(theirs, value)
        if not row.stream_options:
            out.pop("stream_options", None)
        elif stream:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        return UpstreamRequest(self.url(dep, endpoint), self.headers(dep), dumps(out), "sse")
