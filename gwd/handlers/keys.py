"""Key administration routes: /key/generate, /key/info, /key/update, /key/delete, /key/list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ..auth import credential, hash_key
from ..errors import InvalidRequest, NotFound, PermissionDenied, ServiceUnavailable
from ..keys import expiry, info, iso, key_name, new_key, parse_fields
from ..middleware import ADMIN, PROXY, identity, json_response, read_json, route_auth
from ..runtime import RUNTIME, Runtime
from ..store.base import KeyRecord, StoreUnavailable


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The key database is unavailable; try again shortly.",
                              code="database_unavailable")


def _record_changes(fields: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in fields.items() if k not in ("duration", "duration_given")}
    if fields.get("duration_given"):  # an explicit null duration changes nothing
        changes["expires"] = expiry(fields["duration"])
    return changes


@route_auth(ADMIN)
async def generate(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    fields = parse_fields(body)
    raw = new_key()
    now = datetime.now(UTC)
    duration = (fields["duration"] if fields.get("duration_given")
                else runtime.config.general.default_key_duration)
    record = KeyRecord(
        token_hash=hash_key(raw), key_name=key_name(raw), created_at=now, updated_at=now,
        expires=expiry(duration, now), models=fields.get("models", ()),
        aliases=fields.get("aliases", {}), config=fields.get("config", {}),
        metadata=fields.get("metadata", {}), key_alias=fields.get("key_alias"),
        max_budget=fields.get("max_budget"))
    try:
        await runtime.store.insert_key(record)
    except StoreUnavailable:
        raise _unavailable() from None
    runtime.cache.put(record.token_hash, record)
    return json_response({"key": raw, "expires": iso(record.expires),
                          **{k: v for k, v in info(record, None).items()
                             if k not in ("spend", "requests", "budget_remaining")}})


async def _load(runtime: Runtime, raw: str) -> KeyRecord:
    try:
        await runtime.recorder.flush()
        record = await runtime.store.get_key(hash_key(raw))
    except StoreUnavailable:
        raise _unavailable() from None
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    return record


@route_auth(PROXY)
async def key_info(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ident = identity(request)
    raw = request.query.get("key")
    if raw is None:
        if ident.master:
            raise InvalidRequest("Give the key to look up: /key/info?key=<key>.", param="key")
        record = await _load(runtime, _presented(request))
        return json_response({"key": None, "info": info(record, None)})
    if not ident.master and (ident.key is None or hash_key(raw) != ident.key.token_hash):
        raise PermissionDenied("A key may only read its own info.", code="not_own_key")
    record = await _load(runtime, raw)
    return json_response({"key": raw, "info": info(record, raw)})


def _presented(request: web.Request) -> str:
    raw = credential(request.headers)
    assert raw is not None  # an authenticated virtual key was presented
    return raw


@route_auth(ADMIN)
async def update(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    fields = parse_fields(body, required=("key",))
    raw = body["key"]
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest("'key' must be the key to update.", param="key")
    changes = _record_changes(fields)
    if "aliases" in changes or "models" in changes:
        current = await _load(runtime, raw)
        merged = {"models": changes.get("models", current.models),
                  "aliases": changes.get("aliases", current.aliases)}
        parse_fields(merged)
    token_hash = hash_key(raw)
    try:
        record = await runtime.store.update_key(token_hash, changes)
    except StoreUnavailable:
        raise _unavailable() from None
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    runtime.cache.invalidate(token_hash)
    return json_response({"key": raw, "info": info(record, raw)})


@route_auth(ADMIN)
async def delete(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"keys"}:
        raise InvalidRequest("Send {\"keys\": [\"sk-...\"]}.", param="keys")
    keys = body.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise InvalidRequest("'keys' must be a non-empty list of keys.", param="keys")
    hashes = {hash_key(k): k for k in keys}
    try:
        deleted = set(await runtime.store.delete_keys(list(hashes)))
    except StoreUnavailable:
        raise _unavailable() from None
    for token_hash in hashes:
        runtime.cache.invalidate(token_hash)
    if not deleted:
        raise NotFound("None of these keys exist.", code="key_not_found")
    return json_response({"deleted_keys": [k for h, k in hashes.items() if h in deleted],
                          "not_found": len(hashes) - len(deleted)})


@route_auth(ADMIN)
async def list_keys(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", "100"))
    except ValueError:
        raise InvalidRequest("'page' and 'size' must be integers.", param="page") from None
    if page < 1 or not 1 <= size <= 1000:
        raise InvalidRequest("'page' must be >= 1 and 'size' from 1 to 1000.", param="size")
    try:
        await runtime.recorder.flush()
        records = await runtime.store.list_keys(limit=size, offset=(page - 1) * size)
    except StoreUnavailable:
        raise _unavailable() from None
    return json_response({"keys": [info(r, None) for r in records], "page": page,
                          "size": size})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/key/generate", generate),
        web.get("/key/info", key_info, allow_head=False),
        web.post("/key/update", update),
        web.post("/key/delete", delete),
        web.get("/key/list", list_keys, allow_head=False),
    ]
