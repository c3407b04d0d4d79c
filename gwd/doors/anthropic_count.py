"""``/v1/messages/count_tokens``: Anthropic's token count, forwarded or estimated.

With an ``anthropic/`` deployment in the model group, the count is Anthropic's
own: the request (only the fields count_tokens takes) is sent to the first such
deployment's ``/v1/messages/count_tokens``. Otherwise it is gw's estimate of the
OpenAI translation's prompt (about four characters per token, the estimate gw
uses everywhere a provider reports no usage). Counting is free and not billed.

Pure: builds the request and reads the answer; the handler does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import Deployment
from ..providers.base import (
    BadUpstreamResponse,
    Json,
    UpstreamRequest,
    dumps,
    estimate_prompt_tokens,
    loads_object,
)
from .anthropic import NativeMessages, messages_url
from .anthropic_request import to_chat

#: the fields Anthropic's count_tokens accepts
COUNT_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking", "mcp_servers")


def count_request(dep: Deployment, body: Mapping[str, Any], version: str | None,
                  beta: str | None) -> UpstreamRequest:
    out: Json = {k: body[k] for k in COUNT_FIELDS if k in body}
    out["model"] = dep.model
    headers = NativeMessages(body, version, beta).headers(dep)
    return UpstreamRequest(messages_url(dep, "/messages/count_tokens"), headers, dumps(out))


def parse_count(payload: bytes) -> Json:
    data = loads_object(payload)
    tokens = data.get("input_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise BadUpstreamResponse("upstream count has no input_tokens")
    return {"input_tokens": tokens}


def estimate_count(body: Mapping[str, Any]) -> Json:
    return {"input_tokens": estimate_prompt_tokens("chat", to_chat(body))}
