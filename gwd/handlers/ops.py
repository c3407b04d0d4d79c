"""Operations routes: health probes, detailed health, config reload, metrics, OpenAPI."""

from __future__ import annotations

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


@route_auth(PUBLIC)
async def readiness(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.draining:
        return json_response({"status": "unavailable", "db": "unknown"}, status=503)
    try:
        await runtime.store.ping()
    except StoreUnavailable:
        if runtime.config.general.allow_requests_on_db_unavailable:  # fail open: stay in
            return json_response({"status": "degraded", "db": "down"})  # rotation, say so
        return json_response({"status": "unavailable", "db": "down"}, status=503)
    return json_response({"status": "ok", "db": "ok"})


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
    for group, deps in sorted(runtime.groups.items()):
        for dep in deps:
            h = runtime.router.health.get(dep.id)
            deployments.append({
                "model_group": group, "deployment": dep.id, "provider": dep.provider,
                "cooling_down": runtime.router.cooling(dep),
                "cooldown_seconds": round(max(0.0, h.cooldown_until - now), 1) if h else 0.0,
                "latency_ms": round(h.latency * 1000, 1) if h and h.latency is not None
                else None,
                "in_flight": h.in_flight if h else 0,
                "successes": h.successes if h else 0, "errors": h.errors if h else 0})
    return json_response({
        "status": "ok" if db == "ok" else "degraded", "version": __version__, "db": db,
        "store": runtime.store.backend, "in_flight": runtime.in_flight,
        "spend_buffered": runtime.recorder.pending, "deployments": deployments})


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
            web.post("/config/reload", reload_config),
            web.get("/metrics", prometheus, allow_head=False),
            web.get("/openapi.json", openapi_json, allow_head=False)]
