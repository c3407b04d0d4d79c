"""Key administration routes: /key/generate, /key/info, /key/update, /key/delete, /key/list,
and LiteLLM's /key/regenerate, /key/block, /key/unblock, /key/health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ..auth import credential, hash_key
from ..errors import InvalidRequest, NotFound, PermissionDenied, ServiceUnavailable
from ..key_fields import litellm_view
from ..keys import (
    custom_key,
    expiry,
    info,
    is_key_id,
    is_token_hash,
    iso,
    key_name,
    new_key,
    new_key_id,
    parse_fields,
    ref_hash,
)
from ..middleware import ADMIN, PROXY, identity, json_response, read_json, route_auth
from ..runtime import RUNTIME, Runtime
from ..store.base import KeyExists, KeyRecord, StoreUnavailable
from .tenants import check_key_owners

MAX_PAGE = 1_000_000
MAX_DELETE = 1000  # keys per /key/delete request


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
    fields = parse_fields(body, extra=("key",))
    chosen = custom_key(body["key"]) if body.get("key") is not None else None
    raw, record = await mint(runtime, fields, chosen)
    return json_response(generated(raw, record))


def generated(raw: str, record: KeyRecord) -> dict[str, Any]:
    """/key/generate's answer: the key (shown this once) and its record."""
    return {"key": raw, "expires": iso(record.expires), **litellm_view(record),
            **{k: v for k, v in info(record, None).items()
               if k not in ("spend", "requests", "budget_remaining")}}


async def mint(runtime: Runtime, fields: dict[str, Any],
               chosen: str | None = None) -> tuple[str, KeyRecord]:
    """Make and store a key from validated generate fields (keys.parse_fields)."""
    await check_key_owners(runtime, fields.get("team_id"), fields.get("user_id"),
                           fields.get("models", ()))
    raw = chosen or new_key()
    now = datetime.now(UTC)
    duration = (fields["duration"] if fields.get("duration_given")
                else runtime.config.general.default_key_duration)
    record = KeyRecord(
        token_hash=hash_key(raw), key_id=new_key_id(), key_name=key_name(raw),
        created_at=now, updated_at=now,
        expires=expiry(duration, now), models=fields.get("models", ()),
        aliases=fields.get("aliases", {}), config=fields.get("config", {}),
        metadata=fields.get("metadata", {}), key_alias=fields.get("key_alias"),
        max_budget=fields.get("max_budget"), team_id=fields.get("team_id"),
        user_id=fields.get("user_id"), blocked=fields.get("blocked", False))
    try:
        await runtime.store.insert_key(record)
    except StoreUnavailable:
        raise _unavailable() from None
    except KeyExists:
        raise InvalidRequest("A key with this value already exists; choose another.",
                             param="key", code="key_exists") from None
    runtime.cache.put(record.token_hash, record)
    return raw, record


async def _find(runtime: Runtime, ref: str) -> KeyRecord | None:
    """A key by its secret or by its public key_id."""
    try:
        if is_key_id(ref):
            return await runtime.store.get_key_by_id(ref)
        return await runtime.store.get_key(ref_hash(ref))
    except StoreUnavailable:
        raise _unavailable() from None


async def _load(runtime: Runtime, ref: str) -> KeyRecord:
    """The key's record with every buffered call of it counted in."""
    try:
        await runtime.recorder.flush()
    except StoreUnavailable:
        raise _unavailable() from None
    record = await _find(runtime, ref)
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    return record


def _ref(value: object, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise InvalidRequest(f"'{param}' must be a key (sk-...) or a key_id (key-...).",
                             param=param)
    return value


@route_auth(PROXY)
async def key_info(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ident = identity(request)
    ref = request.query.get("key")
    if ref is None:
        if ident.master:
            raise InvalidRequest("Give the key to look up: /key/info?key=<key or key_id>.",
                                 param="key")
        ref = _presented(request)
    ref = _ref(ref, "key")
    own = ident.key is not None and ref in (ident.key.key_id, ident.key.token_hash,
                                            _presented(request))
    if not ident.master and not own:
        raise PermissionDenied("A key may only read its own info.", code="not_own_key")
    record = await _load(runtime, ref)
    raw = None if is_key_id(ref) or is_token_hash(ref) else ref
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
    ref = _ref(body["key"], "key")
    changes = _record_changes(fields)
    current = await _find(runtime, ref)
    if current is None:
        raise NotFound("No such key.", code="key_not_found")
    if "aliases" in changes or "models" in changes:
        parse_fields({"models": list(changes.get("models", current.models)),
                      "aliases": dict(changes.get("aliases", current.aliases))})
    if {"team_id", "user_id", "models"} & set(changes):
        await check_key_owners(runtime, changes.get("team_id", current.team_id),
                               changes.get("user_id", current.user_id),
                               changes.get("models", current.models))
    try:
        record = await runtime.store.update_key(current.token_hash, changes)
    except StoreUnavailable:
        raise _unavailable() from None
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    runtime.cache.invalidate(record.token_hash)
    raw = None if is_key_id(ref) or is_token_hash(ref) else ref
    # LiteLLM answers with the updated record at the top level; gw's "info" stays beside it
    return json_response(_record_body(record, raw))


@route_auth(ADMIN)
async def delete(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"keys"}:
        raise InvalidRequest("Send {\"keys\": [\"sk-...\" or \"key-...\"]}.", param="keys")
    refs = body.get("keys")
    if not isinstance(refs, list) or not refs:
        raise InvalidRequest("'keys' must be a non-empty list of keys or key_ids.",
                             param="keys")
    if len(refs) > MAX_DELETE:
        raise InvalidRequest(f"'keys' has {len(refs)} items; at most {MAX_DELETE} keys can "
                             "be deleted in one request.", param="keys")
    hashes: dict[str, str] = {}
    for ref in refs:
        ref = _ref(ref, "keys")
        if is_key_id(ref):
            found = await _find(runtime, ref)
            if found is not None:
                hashes[found.token_hash] = ref
        else:
            hashes[ref_hash(ref)] = ref
    try:
        deleted = set(await runtime.store.delete_keys(list(hashes)))
    except StoreUnavailable:
        raise _unavailable() from None
    for token_hash in hashes:
        runtime.cache.invalidate(token_hash)
    if not deleted:
        raise NotFound("None of these keys exist.", code="key_not_found")
    return json_response({"deleted_keys": [r for h, r in hashes.items() if h in deleted],
                          "not_found": len(refs) - len(deleted)})


@route_auth(ADMIN)
async def list_keys(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", "100"))
    except ValueError:
        raise InvalidRequest("'page' and 'size' must be integers.", param="page") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= size <= 1000:  # the offset must fit in 64 bits
        raise InvalidRequest(f"'page' must be from 1 to {MAX_PAGE} and 'size' from 1 to 1000.",
                             param="size")
    query = request.query
    alias = query.get("key_alias") or None
    wanted = _ref(query["key_hash"], "key_hash") if "key_hash" in query else None
    try:
        await runtime.recorder.flush()
        if query.get("organization_id"):
            records, total = [], 0  # keys belong to teams, not to organisations
        elif query.get("user_id") or query.get("team_id"):
            kind = "user" if query.get("user_id") else "team"
            hashes = await runtime.store.tenants.key_hashes(kind, query[f"{kind}_id"])
            found = [r for h in hashes if (r := await runtime.store.get_key(h)) is not None
                     and alias in (None, r.key_alias)]
            records, total = found[(page - 1) * size:page * size], len(found)
        elif wanted is not None:  # LiteLLM's filter: one key (a key, key_id or hash)
            found = await _find(runtime, wanted)
            records = [found] if found is not None and alias in (None, found.key_alias) \
                and page == 1 else []
            total = int(found is not None and alias in (None, found.key_alias))
        else:
            records = await runtime.store.list_keys(limit=size, offset=(page - 1) * size,
                                                    key_alias=alias)
            total = await runtime.store.count_keys(alias)
    except StoreUnavailable:
        raise _unavailable() from None
    return json_response({"keys": [info(r, None) for r in records], "page": page,
                          "size": size, "total_count": total, "current_page": page,
                          "total_pages": (total + size - 1) // size})


def _record_body(record: KeyRecord, raw: str | None) -> dict[str, Any]:
    """A key record as LiteLLM answers it (top level), gw's ``info`` beside it."""
    return {**litellm_view(record), **info(record, None), "key": raw,
            "info": info(record, raw)}


@route_auth(ADMIN)
async def regenerate(request: web.Request) -> web.Response:
    """``POST /key/regenerate`` (or ``/key/{key}/regenerate``): a new secret for the same
    record, spend and ledger; the old secret is refused at once on every replica. Other
    generate fields in the body update the key as /key/update does."""
    runtime = request.app[RUNTIME]
    path_ref = request.match_info.get("key")
    body: Any = {}
    if path_ref is None or request.body_exists:  # /key/{key}/regenerate may send none
        body, _ = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if path_ref is not None:
        body = {**body, "key": body.get("key") or path_ref}
    fields = parse_fields(body, required=("key",), extra=("new_key",))
    ref = _ref(body["key"], "key")
    new_raw = custom_key(body["new_key"]) if body.get("new_key") is not None else new_key()
    current = await _find(runtime, ref)
    if current is None:
        raise NotFound("No such key.", code="key_not_found")
    changes = _record_changes(fields)
    if "aliases" in changes or "models" in changes:
        parse_fields({"models": list(changes.get("models", current.models)),
                      "aliases": dict(changes.get("aliases", current.aliases))})
    try:
        record = await runtime.store.rekey(current.token_hash, hash_key(new_raw),
                                           key_name(new_raw))
        if record is not None and changes:
            record = await runtime.store.update_key(record.token_hash, changes)
    except StoreUnavailable:
        raise _unavailable() from None
    except KeyExists:
        raise InvalidRequest("A key with this value already exists; choose another.",
                             param="new_key", code="key_exists") from None
    runtime.cache.invalidate(current.token_hash)
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    runtime.cache.invalidate(record.token_hash)
    return json_response({**_record_body(record, new_raw), "key": new_raw,
                          "expires": iso(record.expires)})


async def _set_blocked(request: web.Request, blocked: bool) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"key"}:
        raise InvalidRequest("Send {\"key\": \"sk-...\" or \"key-...\"}.", param="key")
    ref = _ref(body["key"], "key")
    current = await _find(runtime, ref)
    if current is None:
        raise NotFound("No such key.", code="key_not_found")
    try:
        record = await runtime.store.update_key(current.token_hash, {"blocked": blocked})
    except StoreUnavailable:
        raise _unavailable() from None
    runtime.cache.invalidate(current.token_hash)
    if record is None:
        raise NotFound("No such key.", code="key_not_found")
    return json_response(_record_body(record, None if is_key_id(ref) or is_token_hash(ref)
                                      else ref))


@route_auth(ADMIN)
async def block(request: web.Request) -> web.Response:
    """``POST /key/block``: the key is refused (401 blocked_key) until unblocked."""
    return await _set_blocked(request, True)


@route_auth(ADMIN)
async def unblock(request: web.Request) -> web.Response:
    return await _set_blocked(request, False)


@route_auth(PROXY)
async def key_health(request: web.Request) -> web.Response:
    """``POST /key/health``: the calling key works (auth passed). gw has no per-key
    logging callbacks, so there is nothing else to check."""
    return json_response({"key": "healthy", "logging_callbacks": None})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/key/generate", generate),
        web.get("/key/info", key_info, allow_head=False),
        web.post("/key/update", update),
        web.post("/key/delete", delete),
        web.get("/key/list", list_keys, allow_head=False),
        web.post("/key/regenerate", regenerate),
        web.post("/key/{key}/regenerate", regenerate),
        web.post("/key/block", block),
        web.post("/key/unblock", unblock),
        web.post("/key/health", key_health),
    ]
