"""The OpenAI-compatible routes: /chat/completions, /completions, /embeddings, /models."""

from __future__ import annotations

from aiohttp import web

from ..middleware import CALL, PROXY, Handler, identity, json_response, read_json, route_auth
from ..policy import allowed_models
from ..providers.base import Endpoint
from ..runtime import RUNTIME
from ..schema import validate


def call_handler(endpoint: Endpoint) -> Handler:
    @route_auth(PROXY)
    async def handle(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME]
        body, size = await read_json(request)
        call = request[CALL] = await runtime.policy.admit(identity(request),
                                                          validate(endpoint, body, size))
        runtime.in_flight += 1
        try:
            if call.request.stream:
                return await runtime.proxy.stream(call, request)
            return await runtime.proxy.complete(call)
        finally:
            runtime.in_flight -= 1
    handle.__name__ = f"{endpoint}_handler"
    return handle


@route_auth(PROXY)
async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    created = int(runtime.started_at.timestamp())
    names = allowed_models(identity(request).key, runtime.groups)
    return json_response({"object": "list", "data": [
        {"id": name, "object": "model", "created": created, "owned_by": "gw"}
        for name in names]})


def routes() -> list[web.RouteDef]:
    table = []
    for prefix in ("", "/v1"):
        table += [
            web.post(f"{prefix}/chat/completions", call_handler("chat")),
            web.post(f"{prefix}/completions", call_handler("completions")),
            web.post(f"{prefix}/embeddings", call_handler("embeddings")),
            web.get(f"{prefix}/models", list_models, allow_head=False),
        ]
    return table
