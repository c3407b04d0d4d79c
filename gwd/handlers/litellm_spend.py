"""LiteLLM's spend routes: /spend/logs with LiteLLM's filters, /global/spend/keys|models.

SPEC §4a: a LiteLLM client asks ``/spend/logs?request_id=...`` (or ``api_key``,
``user_id``, ``start_date``, ``end_date``) and expects a JSON *list* of LiteLLM
spend-log rows; gw's own parameters (``key``, ``since``, ``until``, ``limit``,
``offset``) keep gw's ``{"logs": [...]}`` answer. Which one a request gets is
decided by its parameters (:func:`wants_litellm`). Rows carry LiteLLM's names
(``api_key``, ``spend``, ``startTime``, ``endTime``, ...) with gw's fields beside
them. Where LiteLLM shows a key's stored hash (``api_key``), gw shows its public
``key_id``: a key's hash never leaves gwd. Master key only, like gw's spend routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from ..errors import InvalidRequest
from ..keys import is_key_id, iso, ref_hash
from ..middleware import ADMIN, json_response, route_auth
from ..money import to_json
from ..runtime import RUNTIME
from ..store.base import LedgerRow
from .spend import _int, _read, log_row, parse_when

LITELLM_PARAMS = ("request_id", "api_key", "user_id", "start_date", "end_date", "summarize")
MAX_ROWS = 1000
MASTER = "master key"  # the bucket of calls made with the master key


def wants_litellm(request: web.Request) -> bool:
    return any(name in request.query for name in LITELLM_PARAMS)


async def key_ids(request: web.Request, hashes: Iterable[str | None]) -> dict[str, str]:
    """The public key_id of each (live) key among these hashes."""
    store = request.app[RUNTIME].store
    out: dict[str, str] = {}
    for token_hash in set(hashes):
        if token_hash is not None:
            record = await _read(request, store.get_key(token_hash))
            if record is not None:
                out[token_hash] = record.key_id
    return out


def litellm_row(r: LedgerRow, key_id: str | None) -> dict[str, Any]:
    """One ledger row as LiteLLM's spend log row, gw's fields beside."""
    start = r.time - timedelta(milliseconds=r.latency_ms)
    return {
        **log_row(r),
        # LiteLLM's request_id is the id of the answer its client saw; gw's own beside
        "request_id": r.response_id or r.request_id, "gw_request_id": r.request_id,
        "api_key": key_id, "key_id": key_id, "spend": to_json(r.cost), "model": r.requested_model,
        "model_id": r.deployment, "custom_llm_provider": r.provider,
        "call_type": r.endpoint, "startTime": iso(start), "endTime": iso(r.time),
        "completionStartTime": None, "user": r.end_user, "end_user": r.end_user,
        "team_id": r.team_id, "organization_id": r.org_id, "request_tags": [],
        "cache_hit": "False",
        "metadata": {"user_api_key": key_id, "user_api_key_alias": r.key_alias,
                     "user_api_key_user_id": r.user_id, "user_api_key_team_id": r.team_id,
                     "user_api_key_org_id": r.org_id, "status": r.status},
    }


def _day_bound(value: str | None, param: str, end: bool) -> datetime | None:
    """LiteLLM's ``start_date``/``end_date`` (YYYY-MM-DD, or a time); an end date
    alone covers its whole day."""
    moment = parse_when(value, param)
    if moment is not None and end and value is not None and len(value) == 10:
        moment += timedelta(days=1)
    return moment


async def litellm_logs(request: web.Request) -> web.Response:
    """``GET /spend/logs`` with LiteLLM's parameters: a list of rows, newest first."""
    store = request.app[RUNTIME].store
    query = request.query
    since = _day_bound(query.get("start_date"), "start_date", end=False)
    until = _day_bound(query.get("end_date"), "end_date", end=True)
    limit = _int(request, "limit", MAX_ROWS, 1, MAX_ROWS)
    offset = _int(request, "offset", 0, 0, 10**9)  # every value checked, whatever is used
    request_id = query.get("request_id")
    if request_id is not None:
        if not 0 < len(request_id) <= 256:
            raise InvalidRequest("'request_id' must be a request id.", param="request_id")
        # gw's id (x-request-id) first, else the answer's id (chatcmpl-..., msg_..., ...)
        row = await _read(request, store.spend_log(request_id))
        found = [row] if row is not None else await _read(
            request, store.spend_logs_by_response_id(request_id, MAX_ROWS))
        ids = await key_ids(request, (r.key_hash for r in found))
        return json_response([litellm_row(r, ids.get(r.key_hash or "")) for r in found])
    key_hash = None
    if query.get("api_key"):
        ref = query["api_key"]
        if is_key_id(ref):
            record = await _read(request, store.get_key_by_id(ref))
            key_hash = record.token_hash if record is not None else "unknown:" + ref
        else:
            key_hash = ref_hash(ref)
    if query.get("user_id"):  # the internal user's keys' rows (its live keys)
        hashes = await _read(request, store.tenants.key_hashes("user", query["user_id"]))
        if key_hash is not None:
            hashes = [h for h in hashes if h == key_hash]
        rows = [r for h in hashes for r in await _read(
            request, store.spend_logs(h, since, until, limit + offset, 0))]
        rows = sorted(rows, key=lambda r: (r.time, r.request_id),
                      reverse=True)[offset:offset + limit]
    else:
        rows = await _read(request, store.spend_logs(key_hash, since, until, limit, offset))
    ids = await key_ids(request, (r.key_hash for r in rows))
    return json_response([litellm_row(r, ids.get(r.key_hash or "")) for r in rows])


@route_auth(ADMIN)
async def global_keys(request: web.Request) -> web.Response:
    """``GET /global/spend/keys?limit=N``: the keys with the highest spend."""
    limit = _int(request, "limit", 100, 1, 10_000)
    rows = await _read(request, request.app[RUNTIME].store.spend_by_key())
    return json_response([
        {"api_key": r.key_id, "total_spend": to_json(r.spend), "key_alias": r.key_alias,
         "key_name": r.key_name, "key_id": r.key_id, "requests": r.requests}
        for r in rows[:limit]])


@route_auth(ADMIN)
async def global_models(request: web.Request) -> web.Response:
    """``GET /global/spend/models?limit=N``: the model groups with the highest spend."""
    limit = _int(request, "limit", 100, 1, 10_000)
    rows = await _read(request, request.app[RUNTIME].store.spend_by_model())
    totals: dict[str, list[Any]] = {}
    for r in rows:
        entry = totals.setdefault(r.model_group, [Decimal(0), 0, 0, 0])
        entry[0] += r.spend
        entry[1] += r.requests
        entry[2] += r.prompt_tokens
        entry[3] += r.completion_tokens
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return json_response([
        {"model": group, "total_spend": to_json(spend), "requests": requests,
         "prompt_tokens": prompt, "completion_tokens": completion}
        for group, (spend, requests, prompt, completion) in ranked])


@route_auth(ADMIN)
async def global_report(request: web.Request) -> web.Response:
    """``GET /global/spend/report?start_date=&end_date=&group_by=api_key|team|customer``:
    spend per day, and per key (or in one bucket for teams and customers, which gw does
    not have yet) with its models."""
    group_by = request.query.get("group_by", "team")
    if group_by not in ("team", "customer", "api_key"):
        raise InvalidRequest("'group_by' must be team, customer or api_key.",
                             param="group_by")
    since = _day_bound(request.query.get("start_date"), "start_date", end=False)
    until = _day_bound(request.query.get("end_date"), "end_date", end=True)
    store = request.app[RUNTIME].store
    days: dict[str, dict[str, dict[str, list[Any]]]] = {}
    offset = 0
    while True:  # the ledger rows of the period, a page at a time
        page = await _read(request, store.spend_logs(None, since, until, MAX_ROWS, offset))
        for r in page:
            group = (r.key_hash or MASTER) if group_by == "api_key" else ""
            models = days.setdefault(r.time.date().isoformat(), {}).setdefault(group, {})
            entry = models.setdefault(r.model_group, [Decimal(0), 0])
            entry[0] += r.cost or 0
            entry[1] += r.prompt_tokens + r.completion_tokens
        if len(page) < MAX_ROWS or offset >= 100 * MAX_ROWS:
            break
        offset += MAX_ROWS
    ids = await key_ids(request, (g for groups in days.values() for g in groups
                                  if g not in ("", MASTER)))
    name = {"api_key": "api_keys", "team": "teams", "customer": "customers"}[group_by]
    label = {"api_key": "api_key", "team": "team_name", "customer": "customer"}[group_by]
    return json_response([
        {"group_by_day": day, name: [
            {label: _label(group, ids),
             "total_spend": to_json(sum((m[0] for m in models.values()), Decimal(0))),
             "metadata": [{"model": model, "spend": to_json(spend), "total_tokens": tokens}
                          for model, (spend, tokens) in sorted(models.items())]}
            for group, models in sorted(groups.items())]}
        for day, groups in sorted(days.items())])


def _label(group: str, ids: dict[str, str]) -> str | None:
    """A report bucket's name: a key's key_id (never its hash)."""
    if group in ("", MASTER):
        return group or None
    return ids.get(group, "deleted key")


def routes() -> list[web.RouteDef]:
    return [web.get("/global/spend/keys", global_keys, allow_head=False),
            web.get("/global/spend/models", global_models, allow_head=False),
            web.get("/global/spend/report", global_report, allow_head=False)]
