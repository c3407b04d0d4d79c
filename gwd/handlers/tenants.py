"""Admin routes for teams, internal users, end-users (customers) and organisations.

LiteLLM's paths and bodies (``/team/*``, ``/user/*``, ``/customer/*`` and its alias
``/end_user/*``, ``/organization/*``); bodies are validated by :mod:`gwd.tenant_fields`,
records kept by ``store.tenants``. Every change drops the record from this process's
tenant cache at once and reaches the other processes through the store's change
notices. Spend is the sum of the tenant's ledger rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .. import tenant_fields as f
from ..errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from ..keys import parse_fields
from ..middleware import ADMIN, json_response, read_json, route_auth
from ..runtime import RUNTIME, Runtime
from ..store.base import StoreUnavailable
from ..store.tenants import Member, Tenant, TenantExists, notice

Handler = Callable[[web.Request], Awaitable[web.Response]]
NAMES = {"team": "team", "user": "user", "customer": "end-user", "org": "organization"}
#: the body field listing ids in a delete/block request, per kind
MANY_FIELD = {"team": "team_ids", "user": "user_ids", "customer": "user_ids",
              "org": "organization_ids"}
#: the query parameter of an info request, per kind
INFO_PARAM = {"team": "team_id", "user": "user_id", "customer": "end_user_id",
              "org": "organization_id"}
MAX_IDS = 1000


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The database is unavailable; try again shortly.",
                              code="database_unavailable")


def _not_found(kind: str, tenant_id: str) -> NotFound:
    return NotFound(f"No {NAMES[kind]} '{tenant_id[:100]}'.", code=f"{kind}_not_found")


async def _guard(work: Awaitable[Any]) -> Any:
    try:
        return await work
    except StoreUnavailable:
        raise _unavailable() from None


def _forget(runtime: Runtime, kind: str, ids: list[str]) -> None:
    for tenant_id in ids:
        runtime.tenants.invalidate(notice(kind, tenant_id))


async def _rendered(runtime: Runtime, tenant: Tenant, **more: Any) -> dict[str, Any]:
    spend, requests = await _guard(runtime.store.tenants.spend(tenant.kind, tenant.id))
    return f.render(tenant, spend, requests, **more)


async def _members_of(runtime: Runtime, team_id: str) -> list[dict[str, Any]]:
    members = await _guard(runtime.store.tenants.members(team_id))
    users = {u.id: u for u in await _guard(runtime.store.tenants.get_many(
        [("user", m.user_id) for m in members]))}
    return [{"user_id": m.user_id, "role": m.role,
             "user_email": (users[m.user_id].extra.get("user_email")
                            if m.user_id in users else None)} for m in members]


async def _resolve_members(runtime: Runtime, team_id: str,
                           members: list[dict[str, Any]]) -> list[Member]:
    """Members as (team, user, role): an email-only member is the user with that email,
    created (with a new id) if there is none, as LiteLLM does."""
    out: list[Member] = []
    by_email: dict[str, str] | None = None
    for m in members:
        user_id = m["user_id"]
        if user_id is None:
            if by_email is None:
                users = await _guard(runtime.store.tenants.list("user", limit=1_000_000))
                by_email = {u.extra.get("user_email"): u.id for u in users
                            if u.extra.get("user_email")}
            user_id = by_email.get(m["user_email"])
            if user_id is None:
                user_id = f.new_id()
                await _guard(runtime.store.tenants.insert(Tenant(
                    kind="user", id=user_id, created_at=datetime.now(UTC),
                    extra={"user_email": m["user_email"]})))
                by_email[m["user_email"]] = user_id
        elif await _guard(runtime.store.tenants.get("user", user_id)) is None:
            await _guard(runtime.store.tenants.insert(Tenant(
                kind="user", id=user_id, created_at=datetime.now(UTC),
                extra={"user_email": m["user_email"]} if m["user_email"] else {})))
        out.append(Member(team_id, user_id, m["role"]))
    return out


async def create_tenant(runtime: Runtime, kind: str, body: Any,
                        extra: tuple[str, ...] = ()) -> tuple[Tenant, dict[str, Any]]:
    parsed = f.parse(kind, body, creating=True, extra=extra)
    fields = parsed["fields"]
    tenant_id = fields.pop("id", None) or f.new_id()
    now = datetime.now(UTC)
    if kind == "team" and fields.get("org_id") is not None:
        await _existing(runtime, "org", fields["org_id"])
    tenant = Tenant(kind=kind, id=tenant_id, created_at=now, updated_at=now, **fields)
    try:
        await _guard(runtime.store.tenants.insert(tenant))
    except TenantExists:
        raise Conflict(f"A {NAMES[kind]} with the id '{tenant_id[:100]}' already exists.",
                       code=f"{kind}_exists") from None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    _forget(runtime, kind, [tenant_id])
    return tenant, parsed


async def _existing(runtime: Runtime, kind: str, tenant_id: str) -> Tenant:
    tenant = await _guard(runtime.store.tenants.get(kind, tenant_id))
    if tenant is None:
        raise _not_found(kind, tenant_id)
    return tenant


async def update_tenant(runtime: Runtime, kind: str, tenant_id: str,
                        changes: dict[str, Any]) -> Tenant:
    if kind == "team" and changes.get("org_id") is not None:
        await _existing(runtime, "org", changes["org_id"])
    try:
        tenant = await _guard(runtime.store.tenants.update(kind, tenant_id, changes))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if tenant is None:
        raise _not_found(kind, tenant_id)
    _forget(runtime, kind, [tenant_id])
    return tenant


def _ids(body: Any, field: str) -> list[str]:
    if not isinstance(body, dict) or set(body) != {field} \
            or not isinstance(body[field], list) or not body[field] \
            or len(body[field]) > MAX_IDS:
        raise InvalidRequest(f"Send {{\"{field}\": [...]}} with 1 to {MAX_IDS} ids.",
                             param=field)
    if any(not isinstance(i, str) or not i or len(i) > 256 for i in body[field]):
        raise InvalidRequest(f"Each of '{field}' must be a non-empty string.", param=field)
    return list(dict.fromkeys(body[field]))


def _query_id(request: web.Request, param: str) -> str:
    value = request.query.get(param)
    if not value or len(value) > 256:
        raise InvalidRequest(f"Give the id: ?{param}=<id>.", param=param)
    return value


async def check_key_owners(runtime: Runtime, team_id: str | None, user_id: str | None,
                           models: tuple[str, ...]) -> None:
    """A key may name a team that exists, and only models within the team's (and its
    organisation's) lists; a user it names is created if new, as LiteLLM does."""
    if team_id is not None:
        team = await _guard(runtime.store.tenants.get("team", team_id))
        if team is None:  # a bad field of the key's body: 400 naming it
            raise InvalidRequest(f"No team '{team_id[:100]}': create it with /team/new first.",
                                 param="team_id", code="team_not_found")
        outer = [team]
        if team.org_id is not None:
            org = await _guard(runtime.store.tenants.get("org", team.org_id))
            outer += [org] if org is not None else []
        for level in outer:
            outside = [m for m in models if level.models and m not in level.models]
            if outside:
                raise InvalidRequest(
                    f"The key's models must be within its {NAMES[level.kind]}'s: "
                    f"{', '.join(outside)[:200]} {'is' if len(outside) == 1 else 'are'} not.",
                    param="models", code="model_not_allowed")
    if user_id is not None and await _guard(runtime.store.tenants.get("user", user_id)) is None:
        with contextlib.suppress(TenantExists):  # made meanwhile: as good
            await _guard(runtime.store.tenants.insert(Tenant(
                kind="user", id=user_id, created_at=datetime.now(UTC))))
        _forget(runtime, "user", [user_id])


async def _delete_keys_of(runtime: Runtime, kind: str, ids: list[str]) -> int:
    """Delete the keys of teams or users being deleted (ledger rows stay), refused at
    once here and, through the key-change notices, on every other process."""
    hashes = [h for tenant_id in ids
              for h in await _guard(runtime.store.tenants.key_hashes(kind, tenant_id))]
    if not hashes:
        return 0
    deleted = await _guard(runtime.store.delete_keys(hashes))
    for token_hash in hashes:
        runtime.cache.invalidate(token_hash)
    return len(deleted)


async def _keys_of(runtime: Runtime, kind: str, tenant_id: str) -> list[dict[str, Any]]:
    from ..keys import info  # the key info renderer of /key/info

    out = []
    for token_hash in await _guard(runtime.store.tenants.key_hashes(kind, tenant_id)):
        record = await _guard(runtime.store.get_key(token_hash))
        if record is not None:
            out.append(info(record, None))
    return out


# generic handlers, one per action, made per kind -----------------------------------
def new_handler(kind: str) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        body, _ = await read_json(request)
        tenant, parsed = await create_tenant(runtime, kind, body,
                                             f.USER_KEY_FIELDS if kind == "user" else ())
        more: dict[str, Any] = {}
        if kind == "team":
            members = await _resolve_members(runtime, tenant.id, parsed.get("members", []))
            if members:
                await _guard(runtime.store.tenants.add_members(tenant.id, members))
            more["members_with_roles"] = await _members_of(runtime, tenant.id)
        if kind == "user":
            more = await _user_extras(runtime, tenant, body, parsed)
        return json_response(await _rendered(runtime, tenant, **more))

    return handle


async def _user_extras(runtime: Runtime, user: Tenant, body: dict[str, Any],
                       parsed: dict[str, Any]) -> dict[str, Any]:
    """/user/new's memberships and, unless ``auto_create_key`` is false, the user's first
    key (its fields as /key/generate takes them; shown this once)."""
    from .keys import generated, mint  # the key routes build on this module

    teams = list(parsed.get("teams", []))
    if body.get("team_id") is not None:
        teams.append(body["team_id"])
    for team_id in dict.fromkeys(teams):
        await _existing(runtime, "team", team_id)
        await _guard(runtime.store.tenants.add_members(team_id,
                                                       [Member(team_id, user.id, "user")]))
        _forget(runtime, "team", [team_id])
    if body.get("auto_create_key") is False:
        return {}
    key_body = {name: body[name] for name in ("models", "duration", "aliases", "config",
                                              "key_alias", "team_id") if name in body}
    raw, record = await mint(runtime, {**parse_fields(key_body), "user_id": user.id})
    return {k: v for k, v in generated(raw, record).items()
            if k not in ("models", "max_budget", "metadata", "created_at", "updated_at")}


def update_handler(kind: str) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        body, _ = await read_json(request)
        parsed = f.parse(kind, body, creating=False)
        changes = dict(parsed["fields"])
        tenant_id = changes.pop("id")
        if "extra" in changes:  # kind-specific fields merge into what is stored
            current = await _existing(runtime, kind, tenant_id)
            changes["extra"] = {**current.extra, **changes["extra"]}
        tenant = (await update_tenant(runtime, kind, tenant_id, changes) if changes
                  else await _existing(runtime, kind, tenant_id))
        more: dict[str, Any] = {}
        if kind == "team":
            if "members" in parsed:
                members = await _resolve_members(runtime, tenant_id, parsed["members"])
                await _guard(runtime.store.tenants.add_members(tenant_id, members))
                _forget(runtime, kind, [tenant_id])
            more["members_with_roles"] = await _members_of(runtime, tenant_id)
        rendered = await _rendered(runtime, tenant, **more)
        if kind == "team":
            return json_response({"team_id": tenant_id, "data": rendered})
        if kind == "user":
            return json_response({"user_id": tenant_id, "data": rendered, **rendered})
        return json_response(rendered)

    return handle


def info_handler(kind: str) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        if request.method == "POST":  # /organization/info {"organizations": [...]}
            body, _ = await read_json(request)
            ids = _ids(body, "organizations")
            return json_response([await _rendered(runtime, await _existing(runtime, kind, i))
                                  for i in ids])
        tenant_id = _query_id(request, INFO_PARAM[kind])
        tenant = await _existing(runtime, kind, tenant_id)
        await _guard(runtime.recorder.flush())
        if kind == "team":
            rendered = await _rendered(runtime, tenant,
                                       members_with_roles=await _members_of(runtime, tenant_id))
            return json_response({"team_id": tenant_id, "team_info": rendered,
                                  "keys": await _keys_of(runtime, "team", tenant_id),
                                  "team_memberships": []})
        if kind == "user":
            teams = await _guard(runtime.store.tenants.teams_of(tenant_id))
            rendered = await _rendered(runtime, tenant)
            team_records = await _guard(runtime.store.tenants.get_many(
                [("team", m.team_id) for m in teams]))
            return json_response({
                "user_id": tenant_id, "user_info": rendered,
                "keys": await _keys_of(runtime, "user", tenant_id),
                "teams": [{"team_id": t.id, "team_alias": t.alias} for t in team_records],
                **{k: rendered[k] for k in ("spend", "max_budget", "models")}})
        if kind == "org":
            teams = await _guard(runtime.store.tenants.list("team", limit=MAX_IDS,
                                                            org_id=tenant_id))
            return json_response(await _rendered(
                runtime, tenant, teams=[{"team_id": t.id, "team_alias": t.alias}
                                        for t in teams]))
        return json_response(await _rendered(runtime, tenant))

    return handle


def list_handler(kind: str) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        try:
            page = int(request.query.get("page", "1"))
            size = int(request.query.get("page_size", request.query.get("size", "100")))
        except ValueError:
            raise InvalidRequest("'page' and 'page_size' must be integers.",
                                 param="page") from None
        if not 1 <= page <= 1_000_000 or not 1 <= size <= 1000:
            raise InvalidRequest("'page' must be from 1 to 1000000 and 'page_size' from 1 "
                                 "to 1000.", param="page_size")
        org_id = request.query.get("organization_id") if kind == "team" else None
        await _guard(runtime.recorder.flush())
        tenants = await _guard(runtime.store.tenants.list(
            kind, limit=size, offset=(page - 1) * size, org_id=org_id))
        rendered = []
        for tenant in tenants:
            more = ({"members_with_roles": await _members_of(runtime, tenant.id)}
                    if kind == "team" else {})
            rendered.append(await _rendered(runtime, tenant, **more))
        if kind == "user":
            return json_response({"users": rendered, "page": page, "page_size": size})
        return json_response(rendered)

    return handle


def delete_handler(kind: str) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        body, _ = await read_json(request)
        ids = _ids(body, MANY_FIELD[kind])
        if kind == "org":
            for org_id in ids:
                teams = await _guard(runtime.store.tenants.list("team", limit=1, org_id=org_id))
                if teams:
                    raise Conflict(f"The organization '{org_id[:100]}' still has teams; "
                                   "delete or move them first.", code="organization_not_empty")
        deleted = await _guard(runtime.store.tenants.delete(kind, ids))
        _forget(runtime, kind, ids)
        if kind in ("team", "user"):
            await _delete_keys_of(runtime, kind, deleted)
        if not deleted:
            raise NotFound(f"None of these {NAMES[kind]}s exist.", code=f"{kind}_not_found")
        return json_response({"deleted": deleted, MANY_FIELD[kind]: deleted,
                              "not_found": [i for i in ids if i not in deleted]})

    return handle


def block_handler(kind: str, blocked: bool) -> Handler:
    @route_auth(ADMIN)
    async def handle(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        body, _ = await read_json(request)
        if kind == "team":
            if not isinstance(body, dict) or set(body) != {"team_id"} \
                    or not isinstance(body["team_id"], str) or not body["team_id"]:
                raise InvalidRequest("Send {\"team_id\": \"...\"}.", param="team_id")
            tenant = await update_tenant(runtime, kind, body["team_id"], {"blocked": blocked})
            return json_response(await _rendered(runtime, tenant))
        ids = _ids(body, MANY_FIELD[kind])
        done = [await update_tenant(runtime, kind, i, {"blocked": blocked}) for i in ids]
        return json_response({"blocked_users" if blocked else "unblocked_users":
                              [t.id for t in done]})

    return handle


@route_auth(ADMIN)
async def member_add(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"team_id", "member", "max_budget_in_team"}:
        raise InvalidRequest("Send {\"team_id\": ..., \"member\": {role, user_id | "
                             "user_email}} (or a list of members).", param="member")
    if body.get("max_budget_in_team") is not None:
        raise InvalidRequest("'max_budget_in_team' is not supported by gw yet; send null or "
                             "leave it out", param="max_budget_in_team", code="invalid_field")
    team_id = body.get("team_id")
    if not isinstance(team_id, str):
        raise InvalidRequest("'team_id' is required.", param="team_id")
    wanted = f._members(body.get("member"), "member")  # validated before any lookup
    team = await _existing(runtime, "team", team_id)
    members = await _resolve_members(runtime, team_id, wanted)
    await _guard(runtime.store.tenants.add_members(team_id, members))
    _forget(runtime, "team", [team_id])
    return json_response(await _rendered(
        runtime, team, members_with_roles=await _members_of(runtime, team_id),
        updated_users=[m.user_id for m in members]))


@route_auth(ADMIN)
async def member_delete(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) - {"team_id", "user_id", "user_email"} \
            or not isinstance(body.get("team_id"), str):
        raise InvalidRequest("Send {\"team_id\": ..., \"user_id\" or \"user_email\": ...}.",
                             param="team_id")
    team_id = body["team_id"]
    team = await _existing(runtime, "team", team_id)
    user_id = body.get("user_id")
    if user_id is None and isinstance(body.get("user_email"), str):
        current = await _members_of(runtime, team_id)
        user_id = next((m["user_id"] for m in current
                        if m["user_email"] == body["user_email"]), None)
    if not isinstance(user_id, str):
        raise NotFound("No such member of this team.", code="member_not_found")
    if not await _guard(runtime.store.tenants.remove_members(team_id, [user_id])):
        raise NotFound("No such member of this team.", code="member_not_found")
    _forget(runtime, "team", [team_id])
    return json_response(await _rendered(
        runtime, team, members_with_roles=await _members_of(runtime, team_id)))


def routes() -> list[web.RouteDef]:
    out = [
        web.post("/team/member_add", member_add),
        web.post("/team/member_delete", member_delete),
        web.post("/team/block", block_handler("team", True)),
        web.post("/team/unblock", block_handler("team", False)),
        web.post("/organization/info", info_handler("org")),
        web.patch("/organization/update", update_handler("org")),
        web.delete("/organization/delete", delete_handler("org")),
    ]
    for prefix, kind in (("/team", "team"), ("/user", "user"), ("/customer", "customer"),
                         ("/end_user", "customer"), ("/organization", "org")):
        out += [web.post(f"{prefix}/new", new_handler(kind)),
                web.post(f"{prefix}/update", update_handler(kind)),
                web.get(f"{prefix}/info", info_handler(kind), allow_head=False),
                web.get(f"{prefix}/list", list_handler(kind), allow_head=False),
                web.post(f"{prefix}/delete", delete_handler(kind))]
        if kind == "customer":
            out += [web.post(f"{prefix}/block", block_handler(kind, True)),
                    web.post(f"{prefix}/unblock", block_handler(kind, False))]
    return out
