"""The OpenAI-compatible routes: /chat/completions, /completions, /embeddings, /models.

Overload and fairness: a call takes a proxy slot only once its body is read and
valid, and each process serves at most ``global_max_parallel_requests`` calls at
once, of which one key holds at most its share (see :mod:`gwd.admission`). A
refused call gets 503 ``overloaded`` or 429 ``parallel_request_limit``, with
``Retry-After: 1``: no upstream request, no ledger row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..middleware import CALL, PROXY, Handler, identity, json_response, read_json, route_auth
from ..policy import allowed_models
from ..providers.base import Endpoint
from ..runtime import RUNTIME
from ..schema import CallRequest, validate

#: a front door's request reader: (request, parsed body, its size) -> the call to make
Parse = Callable[[web.Request, Any, int], CallRequest]


def call_handler(endpoint: Endpoint, parse: Parse | None = None) -> Handler:
    @route_auth(PROXY)
    async def handle(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME]
        body, size = await read_json(request)
        req = validate(endpoint, body, size) if parse is None else parse(request, body, size)
        ident = identity(request)
        caller = ident.token_hash or "master"
        general = runtime.config.general
        runtime.slots.take(caller, general.global_max_parallel_requests,
                           general.max_parallel_requests_per_key_share)
        try:
            call = request[CALL] = await runtime.policy.admit(ident, req)
            if runtime.tracer is not None:
                call.attempts = []  # traced: the proxy records each attempt's times
            if call.request.stream:
                return await runtime.proxy.stream(call, request)
            return await runtime.proxy.complete(call, request)
        finally:
            runtime.slots.give(caller)
    handle.__name__ = f"{endpoint}_handler"
    return handle


@route_auth(PROXY)
async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    created = int(runtime.started_at.timestamp())
    key = identity(request).key
    named = runtime.policy.names  # model_group_alias, wildcard groups (gwd/wildcards.py)
    extra = named.listed(key, runtime.groups, runtime.prices.model_names) if named else ()
    names = allowed_models(key, runtime.groups, extra)
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
