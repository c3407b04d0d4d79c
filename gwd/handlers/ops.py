"""Operations routes: health probes, detailed health, config reload, metrics, OpenAPI,
the route list.

The probes and ``/health`` carry LiteLLM's fields beside gw's (SPEC §4a): readiness
adds ``cache``, ``litellm_version`` (null: this is not LiteLLM), ``success_callbacks``
(empty: a public probe reveals nothing);
``/health`` adds ``healthy_endpoints``/``unhealthy_endpoints`` and their counts from
the router's own view (a deployment cooling down after failures is unhealthy) —
gw does not spend a paid call per deployment to answer a health check.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from .. import __version__, metrics
from ..auth import credential
from ..config import ConfigError
from ..errors import InvalidRequest
from ..middleware import ADMIN, METRICS, PUBLIC, json_response, route_auth
from ..runtime import RUNTIME
from ..store.base import StoreUnavailable


@route_auth(PUBLIC)
async def liveliness(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def _ready(body: dict[str, str], status: int = 200) -> web.Response:
    """The public probe's answer: LiteLLM's fields, empty (a probe reveals nothing)."""
    return json_response({**body, "cache": None, "litellm_version": None,
                          "success_callbacks": []}, status=status)


@route_auth(PUBLIC)
async def readiness(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.draining:
        return _ready({"status": "unavailable", "db": "unknown"}, status=503)
    try:
        await runtime.store.ping()
    except StoreUnavailable:
        if runtime.config.general.allow_requests_on_db_unavailable:  # fail open: stay in
            return _ready({"status": "degraded", "db": "down"})  # rotation, say so
        return _ready({"status": "unavailable", "db": "down"}, status=503)
    return _ready({"status": "ok", "db": "ok"})


@route_auth(ADMIN)
async def health(request: web.Request) -> web.Response:
    """Detailed health for the operator: store, spend buffer, each deployment's state."""
    runtime = request.app[RUNTIME]
    try:
        await runtime.store.ping()
        db = "ok"
    except StoreUnavailable:
        db = "down"
    deployments = []
    now = runtime.router.clock()
    healthy: list[dict[str, object]] = []
    unhealthy: list[dict[str, object]] = []
    for group, deps in sorted(runtime.groups.items()):
        for dep in deps:
            h = runtime.router.health.get(dep.id)
            cooling = runtime.router.cooling(dep)
            deployments.append({
                "model_group": group, "deployment": dep.id, "provider": dep.provider,
                "cooling_down": cooling,
                "cooldown_seconds": round(max(0.0, h.cooldown_until - now), 1) if h else 0.0,
                "latency_ms": round(h.latency * 1000, 1) if h and h.latency is not None
                else None,
                "in_flight": h.in_flight if h else 0,
                "successes": h.successes if h else 0, "errors": h.errors if h else 0})
            endpoint: dict[str, object] = {
                "model_name": group, "model": dep.litellm_model, "model_id": dep.id,
                "custom_llm_provider": dep.provider}  # no api_base: no upstream URL shown
            if cooling:
                unhealthy.append({**endpoint, "error": "cooling down after failed calls"})
            else:
                healthy.append(endpoint)
    return json_response({
        "status": "ok" if db == "ok" else "degraded", "version": __version__, "db": db,
        "store": runtime.store.backend, "in_flight": runtime.in_flight,
        "spend_buffered": runtime.recorder.pending, "deployments": deployments,
        "healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy,
        "healthy_count": len(healthy), "unhealthy_count": len(unhealthy)})


@route_auth(ADMIN)
async def readiness_details(request: web.Request) -> web.Response:
    """LiteLLM's authenticated readiness: the probe's answer (always 200 here)."""
    response = await readiness(request)
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    return json_response({**orjson.loads(response.body), "gw_version": __version__})


@route_auth(PUBLIC)
async def list_routes(request: web.Request) -> web.Response:
    """``GET /routes`` (LiteLLM's): every route gwd serves, method and path."""
    table: dict[str, list[str]] = {}
    for route in request.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD":
            table.setdefault(path, []).append(route.method)
    return json_response({"routes": [{"path": path, "methods": sorted(methods)}
                                     for path, methods in sorted(table.items())]})


@route_auth(ADMIN)
async def reload_config(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        config = runtime.reload("http")
    except ConfigError as exc:
        raise InvalidRequest(f"config not reloaded, the old one keeps serving: {exc}",
                             code="invalid_config") from None
    return json_response({"status": "reloaded", "model_groups": len(config.groups),
                          "deployments": len(config.deployments),
                          "warnings": list(config.warnings)})


@route_auth(METRICS)
async def prometheus(request: web.Request) -> web.Response:
    body = metrics.scrape(request.app[RUNTIME])
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


@route_auth(PUBLIC)
async def openapi_json(request: web.Request) -> web.Response:
    """Public; the configured model groups are shown (as examples) to the master key only."""
    runtime = request.app[RUNTIME]
    raw = credential(request.headers)
    master = runtime.auth.open or (raw is not None and runtime.auth.is_master(raw))
    from .. import openapi  # a large table, imported when first asked for

    return json_response(openapi.document(runtime.groups if master else ()))


def routes() -> list[web.RouteDef]:
    return [web.get("/health/liveliness", liveliness, allow_head=False),
            web.get("/health/liveness", liveliness, allow_head=False),
            web.get("/health/readiness", readiness, allow_head=False),
            web.get("/health", health, allow_head=False),
            web.get("/health/readiness/details", readiness_details, allow_head=False),
            web.get("/routes", list_routes, allow_head=False),
            web.post("/config/reload", reload_config),
            web.get("/metrics", prometheus, allow_head=False),
            web.get("/openapi.json", openapi_json, allow_head=False)]
