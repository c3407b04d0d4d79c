"""The Responses API routes: ``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}``.

``POST`` is a proxy call like chat (same handler, keys, models rule, budgets,
spend), read by the Responses door (:mod:`gwd.doors.responses`). A stored
response lives at the upstream that made it, and its id says nothing of which
one: ``GET``/``DELETE`` try the ``openai/`` and ``azure/`` upstreams of the model
groups the key may use (each distinct endpoint and credential once, at most
:data:`MAX_UPSTREAMS`), and answer with the first that knows the id. These are
not billed (OpenAI does not charge for them).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..config import Deployment
from ..doors.responses import (
    NATIVE,
    RESPONSE_ID,
    ResponsesDoor,
    responses_url,
    upstream_headers,
    validate_responses,
)
from ..doors.responses_chat import to_chat
from ..errors import NotFound, UpstreamClientError, UpstreamError
from ..middleware import PROXY, identity, route_auth
from ..policy import allowed_models
from ..providers.base import UpstreamRequest, extract_error_message
from ..runtime import RUNTIME
from ..schema import CallRequest
from ..upstream import MAX_BODY_BYTES, MAX_ERROR_BYTES, UpstreamFailure
from .openai import call_handler

MAX_UPSTREAMS = 8


def parse_responses(request: web.Request, body: Any, size: int) -> CallRequest:
    model, limit = validate_responses(body)
    door = ResponsesDoor(body)
    if door.why_not is None:
        call_body = to_chat(body)
    else:  # only native deployments will take it; this body is for estimates alone
        text = body["input"] if isinstance(body["input"], str) else ""
        call_body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return CallRequest("chat", model, body.get("stream") is True, call_body, limit, size, door)


create = call_handler("chat", parse_responses)
create.__name__ = "responses_handler"


def _upstreams(request: web.Request) -> list[Deployment]:
    runtime = request.app[RUNTIME]
    seen: set[tuple[str, str | None, str | None]] = set()
    found: list[Deployment] = []
    for name in allowed_models(identity(request).key, runtime.groups):
        for dep in runtime.groups.get(name, ()):
            where = (dep.provider, dep.api_base, dep.api_key)
            if dep.provider in NATIVE and where not in seen and len(found) < MAX_UPSTREAMS:
                seen.add(where)
                found.append(dep)
    return found


async def _stored(request: web.Request, method: str) -> web.Response:
    response_id = request.match_info["response_id"]
    if not RESPONSE_ID.match(response_id):
        raise NotFound("No response with that id.")
    runtime = request.app[RUNTIME]
    for dep in _upstreams(request):
        req = UpstreamRequest(responses_url(dep, f"/{response_id}"), upstream_headers(dep),
                              b"", "sse", method)
        try:
            resp = await runtime.proxy.upstream.open(req, runtime.proxy.timeouts(dep, False),
                                                     dep)
            if resp.status == 404:
                await resp.read(MAX_ERROR_BYTES)
                continue
            if 200 <= resp.status < 300:
                return web.Response(body=await resp.read(MAX_BODY_BYTES),
                                    content_type="application/json")
            payload = await resp.read(MAX_ERROR_BYTES)
        except UpstreamFailure as exc:
            raise UpstreamError(f"deployment {dep.id}: {exc.message}") from None
        if resp.status in (400, 409, 422):
            raise UpstreamClientError(resp.status, "openai error: "
                                      + extract_error_message(resp.status, payload))
        raise UpstreamError(f"deployment {dep.id} answered HTTP {resp.status}")
    raise NotFound("No response with that id.")


@route_auth(PROXY)
async def retrieve(request: web.Request) -> web.Response:
    return await _stored(request, "GET")


@route_auth(PROXY)
async def delete(request: web.Request) -> web.Response:
    return await _stored(request, "DELETE")


def routes() -> list[web.RouteDef]:
    table = []
    for prefix in ("", "/v1"):
        table += [web.post(f"{prefix}/responses", create),
                  web.get(f"{prefix}/responses/{{response_id}}", retrieve, allow_head=False),
                  web.delete(f"{prefix}/responses/{{response_id}}", delete)]
    return table
