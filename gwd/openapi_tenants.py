"""The OpenAPI operations of the tenant admin routes (teams, users, end-users,
organisations), merged into :mod:`gwd.openapi`'s document. Bodies are closed objects
with LiteLLM's field names: the implemented ones typed, the not-yet ones null only."""

from __future__ import annotations

from typing import Any

from .keys import MAX_BUDGET, MAX_LIST
from .openapi import ADMIN, BODY, NAME, OBJECT, STRING, array, nullable, obj, op
from .tenant_fields import IMPLEMENTED, NOT_YET, USER_KEY_FIELDS, USER_ROLES

Json = dict[str, Any]
_MONEY_IN = nullable({"type": "number", "minimum": 0, "maximum": int(MAX_BUDGET)})
_MEMBER = obj((), True, role={"enum": ["admin", "user"]}, user_id=NAME, user_email=NAME)
_TYPES: Json = {
    "models": nullable(array(NAME, 0, MAX_LIST)), "max_budget": _MONEY_IN,
    "soft_budget": _MONEY_IN, "metadata": nullable(OBJECT),
    "blocked": {"type": ["boolean", "null"]}, "team_id": nullable(NAME),
    "team_alias": nullable(NAME), "organization_id": nullable(NAME),
    "members_with_roles": nullable(array(_MEMBER, 0, MAX_LIST)),
    "model_aliases": nullable({"type": "object", "additionalProperties": NAME}),
    "user_id": nullable(NAME), "user_alias": nullable(NAME), "user_email": nullable(NAME),
    "user_role": nullable({"enum": list(USER_ROLES)}), "teams": nullable(array(NAME)),
    "alias": nullable(NAME), "organization_alias": nullable(NAME),
    "duration": nullable(STRING), "aliases": nullable(OBJECT), "config": nullable(OBJECT),
    "key_alias": nullable(NAME), "auto_create_key": {"type": ["boolean", "null"]},
}
_NULL: Json = {"type": "null"}


def _body(kind: str, required: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Json:
    fields = {name: _TYPES[name] for name in IMPLEMENTED[kind] + extra}
    fields.update({name: _NULL for name in NOT_YET[kind]})
    return obj(required, True, **fields)


_IDS = {"team": "team_ids", "user": "user_ids", "customer": "user_ids",
        "org": "organization_ids"}
_ID = {"team": "team_id", "user": "user_id", "customer": "user_id", "org": "organization_id"}
_INFO = {"team": "team_id", "user": "user_id", "customer": "end_user_id",
         "org": "organization_id"}
_NAMES = {"team": "team", "user": "user", "customer": "end-user", "org": "organization"}
_ERRORS = (*BODY, *ADMIN, 404, 409)
_PAGE = (("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
         ("page_size", {"type": "integer", "minimum": 1, "maximum": 1000}))


def _ops(prefix: str, kind: str) -> Json:
    name = _NAMES[kind]
    tag = "tenants"
    extra = USER_KEY_FIELDS if kind == "user" else ()
    ids_body = obj([_IDS[kind]], True, **{_IDS[kind]: array(NAME, 1, 1000)})
    schemas = {f"{kind}_new": _body(kind, ("user_id",) if kind == "customer" else (), extra),
               f"{kind}_update": _body(kind, (_ID[kind],)), f"{kind}_ids": ids_body}
    p = prefix.strip("/")
    paths: Json = {
        f"{prefix}/new": {"post": op(f"New {name} ({p})", OBJECT, _ERRORS,
                                     body=f"{kind}_new", tag=tag)},
        f"{prefix}/update": {"post": op(f"Update {name} ({p})", OBJECT, _ERRORS,
                                        body=f"{kind}_update", tag=tag)},
        f"{prefix}/info": {"get": op(f"{name} info ({p})", OBJECT, (400, 404, *ADMIN),
                                     query=[(_INFO[kind], NAME)], tag=tag)},
        f"{prefix}/list": {"get": op(f"List {name}s ({p})", None, (400, *ADMIN), query=_PAGE,
                                     tag=tag, ok_type="application/json")},
        f"{prefix}/delete": {"post": op(f"Delete {name}s ({p})", OBJECT, _ERRORS,
                                        body=f"{kind}_ids", tag=tag)},
    }
    paths[f"{prefix}/list"]["get"]["responses"]["200"]["content"]["application/json"] = {
        "schema": {"type": ["array", "object"]}}
    if kind == "customer":
        for action in ("block", "unblock"):
            paths[f"{prefix}/{action}"] = {"post": op(f"{action} {name}s ({p})", OBJECT,
                                                      _ERRORS, body=f"{kind}_ids", tag=tag)}
    return {"paths": paths, "schemas": schemas}


def operations() -> tuple[Json, Json]:
    """(paths, schemas) of every tenant route."""
    paths: Json = {}
    schemas: Json = {}
    for prefix, kind in (("/team", "team"), ("/user", "user"), ("/customer", "customer"),
                         ("/end_user", "customer"), ("/organization", "org")):
        part = _ops(prefix, kind)
        paths.update(part["paths"])
        schemas.update(part["schemas"])
    team_ref = obj(["team_id"], True, team_id=NAME)
    schemas["team_ref"] = team_ref
    schemas["team_member_add"] = obj(["team_id", "member"], True, team_id=NAME,
                                     member={"anyOf": [_MEMBER, array(_MEMBER, 1, MAX_LIST)]},
                                     max_budget_in_team=_NULL)
    schemas["team_member_delete"] = obj(["team_id"], True, team_id=NAME, user_id=NAME,
                                        user_email=NAME)
    schemas["organizations"] = obj(["organizations"], True,
                                   organizations=array(NAME, 1, 1000))
    for action in ("block", "unblock"):
        paths[f"/team/{action}"] = {"post": op(f"{action} a team", OBJECT, _ERRORS,
                                               body="team_ref", tag="tenants")}
    paths["/team/member_add"] = {"post": op("Add team members", OBJECT, _ERRORS,
                                            body="team_member_add", tag="tenants")}
    paths["/team/member_delete"] = {"post": op("Remove a team member", OBJECT, _ERRORS,
                                               body="team_member_delete", tag="tenants")}
    org = paths["/organization/update"]
    paths["/organization/update"] = {**org, "patch": {
        **org["post"], "operationId": org["post"]["operationId"] + "_patch"}}
    info = paths["/organization/info"]
    paths["/organization/info"] = {**info, "post": op(
        "organization info (several)", {"type": "array"}, _ERRORS, body="organizations",
        tag="tenants")}
    delete = paths["/organization/delete"]
    paths["/organization/delete"] = {**delete, "delete": {
        **delete["post"], "operationId": delete["post"]["operationId"] + "_delete"}}
    return paths, schemas
