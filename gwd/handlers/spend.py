"""Spend report routes: /spend/keys, /spend/models, /spend/days, /spend/logs (master key)."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from ..auth import hash_key
from ..errors import InvalidRequest, ServiceUnavailable
from ..keys import is_key_id, iso
from ..middleware import ADMIN, json_response, route_auth
from ..money import to_json
from ..runtime import RUNTIME
from ..store.base import LedgerRow, StoreUnavailable

T = TypeVar("T")
_RELATIVE = re.compile(r"([0-9]{1,6})(m|h|d)", re.ASCII)
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_when(value: str | None, param: str) -> datetime | None:
    """An ISO 8601 date/time (UTC if no zone), or a span back from now: 30m, 24h, 7d."""
    if value is None or value == "":
        return None
    match = _RELATIVE.fullmatch(value)
    try:
        if match:
            return datetime.now(UTC) - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # 999999d and 0001-01-01T00:00+01:00 overflow
        raise InvalidRequest(f"'{param}' must be an ISO 8601 date or time "
                             "(2026-11-28, 2026-11-28T10:00:00Z) or a span like 24h or 7d, "
                             "from year 1 to 9999.", param=param) from None


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be an integer from {low} to {high}.", param=name)
    return value


async def _read(request: web.Request, work: Awaitable[T]) -> T:
    try:
        await request.app[RUNTIME].recorder.flush()
        return await work
    except StoreUnavailable:
        raise ServiceUnavailable("The spend database is unavailable; try again shortly.",
                                 code="database_unavailable") from None


async def _key_hash(request: web.Request) -> str | None:
    """The ``key`` query parameter (a key or a key_id) as the hash the ledger uses."""
    ref = request.query.get("key")
    if not ref:
        return None
    if not is_key_id(ref):
        return hash_key(ref)
    try:
        record = await request.app[RUNTIME].store.get_key_by_id(ref)
    except StoreUnavailable:
        raise ServiceUnavailable("The spend database is unavailable; try again shortly.",
                                 code="database_unavailable") from None
    # an unknown key_id matches no ledger row
    return record.token_hash if record is not None else "unknown:" + ref


def _total(rows: list[Any]) -> dict[str, Any]:
    return {"total_spend": to_json(sum((r.spend for r in rows), Decimal(0))),
            "total_requests": sum(r.requests for r in rows)}


@route_auth(ADMIN)
async def by_key(request: web.Request) -> web.Response:
    store = request.app[RUNTIME].store
    since = parse_when(request.query.get("since"), "since")
    until = parse_when(request.query.get("until"), "until")
    rows = await _read(request, store.spend_by_key(since, until))
    return json_response({"keys": [
        {"key_id": r.key_id, "key_name": r.key_name, "key_alias": r.key_alias,
         "spend": to_json(r.spend), "requests": r.requests,
         "max_budget": to_json(r.max_budget), "expires": iso(r.expires)}
        for r in rows], **_total(rows)})


@route_auth(ADMIN)
async def by_model(request: web.Request) -> web.Response:
    store = request.app[RUNTIME].store
    since = parse_when(request.query.get("since"), "since")
    until = parse_when(request.query.get("until"), "until")
    rows = await _read(request, store.spend_by_model(since, until, await _key_hash(request)))
    return json_response({"models": [
        {"model_group": r.model_group, "deployment": r.deployment, "provider": r.provider,
         "spend": to_json(r.spend), "requests": r.requests, "prompt_tokens": r.prompt_tokens,
         "completion_tokens": r.completion_tokens} for r in rows], **_total(rows)})


@route_auth(ADMIN)
async def by_day(request: web.Request) -> web.Response:
    store = request.app[RUNTIME].store
    since = parse_when(request.query.get("since"), "since")
    until = parse_when(request.query.get("until"), "until")
    rows = await _read(request, store.spend_by_day(since, until, await _key_hash(request)))
    return json_response({"days": [
        {"day": r.day, "spend": to_json(r.spend), "requests": r.requests,
         "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}
        for r in rows], **_total(rows)})


def log_row(r: LedgerRow) -> dict[str, Any]:
    return {"request_id": r.request_id, "time": iso(r.time), "key_alias": r.key_alias,
            "master_key": r.key_hash is None, "endpoint": r.endpoint,
            "requested_model": r.requested_model, "model_group": r.model_group,
            "deployment": r.deployment, "provider": r.provider,
            "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
            "total_tokens": r.prompt_tokens + r.completion_tokens, "cost": to_json(r.cost),
            "latency_ms": r.latency_ms, "status": r.status, "stream": r.stream,
            "usage_estimated": r.usage_estimated, "usage_detail": r.usage_detail or {},
            "usage_over_reported": r.usage_over_reported, "response_id": r.response_id}


@route_auth(ADMIN)
async def logs(request: web.Request) -> web.Response:
    """gw's ledger page; LiteLLM's parameters get LiteLLM's list (``litellm_spend``)."""
    from .litellm_spend import litellm_logs, wants_litellm  # it imports this module

    if wants_litellm(request):
        return await litellm_logs(request)
    store = request.app[RUNTIME].store
    key_hash = await _key_hash(request)
    since = parse_when(request.query.get("since"), "since")
    until = parse_when(request.query.get("until"), "until")
    limit = _int(request, "limit", 100, 1, 1000)
    offset = _int(request, "offset", 0, 0, 10**9)
    rows = await _read(request, store.spend_logs(key_hash, since, until, limit, offset))
    return json_response({"logs": [log_row(r) for r in rows], "limit": limit,
                          "offset": offset})


def routes() -> list[web.RouteDef]:
    return [web.get("/spend/keys", by_key, allow_head=False),
            web.get("/spend/models", by_model, allow_head=False),
            web.get("/spend/days", by_day, allow_head=False),
            web.get("/spend/logs", logs, allow_head=False)]
