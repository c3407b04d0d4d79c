"""The Anthropic Messages routes: ``/v1/messages`` and ``/v1/messages/count_tokens``.

``/v1/messages`` is a proxy call like chat (same handler, overload limit, keys,
models rule, budgets, spend) whose request is read by the Anthropic door
(:mod:`gwd.doors.anthropic`). Routes exist with and without ``/v1`` (Claude Code
and the SDK add ``/v1`` to their base URL; some clients are set up with it).
The door's translators are imported on the first call (they bring the Anthropic
provider with them, which gwd does not load at start unless configured).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..doors.anthropic_request import header_value, prompt_bound, to_chat, validate_messages
from ..errors import InvalidRequest, UpstreamClientError, UpstreamError
from ..middleware import PROXY, identity, json_response, read_json, route_auth
from ..policy import resolve_model
from ..providers.base import BadUpstreamResponse, extract_error_message
from ..runtime import RUNTIME
from ..schema import CallRequest
from ..upstream import MAX_ERROR_BYTES, UpstreamFailure
from .openai import call_handler


def _headers(request: web.Request) -> tuple[str | None, str | None]:
    return (header_value(request.headers, "anthropic-version"),
            header_value(request.headers, "anthropic-beta"))


def parse_messages(request: web.Request, body: Any, size: int) -> CallRequest:
    model, limit, images = validate_messages(body)
    if limit is None:
        raise InvalidRequest("'max_tokens' is required", param="max_tokens")
    version, beta = _headers(request)
    stream = body.get("stream") is True
    from ..doors.anthropic import AnthropicDoor
    return CallRequest("chat", model, stream, to_chat(body), limit,
                       prompt_bound(size, images), AnthropicDoor(body, version, beta))


messages = call_handler("chat", parse_messages)
messages.__name__ = "messages_handler"


@route_auth(PROXY)
async def count_tokens(request: web.Request) -> web.Response:
    from ..doors.anthropic_count import count_request, estimate_count, parse_count
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    model, _, _ = validate_messages(body)
    version, beta = _headers(request)
    group = resolve_model(identity(request).key, model, runtime.groups)
    dep = next((d for d in runtime.groups[group] if d.provider == "anthropic"), None)
    if dep is None:
        return json_response(estimate_count(body))
    upstream_req = count_request(dep, body, version, beta)
    try:
        resp = await runtime.proxy.upstream.open(upstream_req,
                                                 runtime.proxy.timeouts(dep, False), dep)
        if not 200 <= resp.status < 300:
            payload = await resp.read(MAX_ERROR_BYTES)
            message = extract_error_message(resp.status, payload)
            if 400 <= resp.status < 500 and resp.status not in (401, 403, 429):
                raise UpstreamClientError(400, f"anthropic error: {message}")
            raise UpstreamError(f"deployment {dep.id} could not count tokens "
                                f"(HTTP {resp.status})")
        return json_response(parse_count(await resp.read(MAX_ERROR_BYTES)))
    except (UpstreamFailure, BadUpstreamResponse) as exc:
        raise UpstreamError(f"deployment {dep.id} could not count tokens: {exc}") from None


def routes() -> list[web.RouteDef]:
    table = []
    for prefix in ("", "/v1"):
        table += [web.post(f"{prefix}/messages", messages),
                  web.post(f"{prefix}/messages/count_tokens", count_tokens)]
    return table
