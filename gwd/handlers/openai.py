"""The OpenAI-compatible routes: /chat/completions, /completions, /embeddings, /models.

Overload: each process serves at most ``general_settings.global_max_parallel_requests``
proxy calls at once (1024 by default, LiteLLM's setting of that name). A call past
the limit is refused at once with 503 ``overloaded`` and ``Retry-After: 1``, before
its body is read: no upstream request, no ledger row.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import ServiceUnavailable
from ..middleware import CALL, PROXY, Handler, identity, json_response, read_json, route_auth
from ..policy import allowed_models
from ..providers.base import Endpoint
from ..runtime import RUNTIME
from ..schema import validate


def call_handler(endpoint: Endpoint) -> Handler:
    @route_auth(PROXY)
    async def handle(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME]
        limit = runtime.config.general.global_max_parallel_requests
        if runtime.in_flight >= limit:  # shed before reading the body: no upstream, no row
            raise ServiceUnavailable(f"gwd is serving its limit of {limit} concurrent calls; "
                                     "retry shortly.", code="overloaded",
                                     headers={"Retry-After": "1"})
        runtime.in_flight += 1
        try:
            body, size = await read_json(request)
            call = request[CALL] = await runtime.policy.admit(identity(request),
                                                              validate(endpoint, body, size))
            if call.request.stream:
                return await runtime.proxy.stream(call, request)
            return await runtime.proxy.complete(call, request)
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
