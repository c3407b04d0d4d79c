"""LiteLLM's request bodies for teams, users, end-users and organisations, validated (pure).

Each kind has LiteLLM's field names: the ones gw implements map onto a
:class:`~gwd.store.tenants.Tenant`; the ones it does not yet (rate limits, guardrails,
permissions, ...) are accepted when null and refused with a 400 naming them
otherwise (SPEC §4a); anything else is an unknown field. Rendering turns a tenant
back into LiteLLM's response shape, with gw's own fields beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .errors import InvalidRequest
from .keys import MAX_BUDGET, MAX_DEPTH, MAX_LIST, _text, _too_deep
from .money import parse_usd, to_json
from .store.tenants import ROLES, Member, Tenant

#: the request field naming each kind's id, and its alias field
ID_FIELD = {"team": "team_id", "user": "user_id", "customer": "user_id",
            "org": "organization_id"}
ALIAS_FIELD = {"team": "team_alias", "user": "user_alias", "customer": "alias",
               "org": "organization_alias"}
_COMMON = ("models", "max_budget", "metadata", "blocked")
IMPLEMENTED = {
    "team": (*_COMMON, "team_id", "team_alias", "organization_id", "members_with_roles",
             "model_aliases"),
    "user": (*_COMMON, "user_id", "user_alias", "user_email", "user_role", "teams",
             "organization_id"),
    "customer": ("max_budget", "metadata", "blocked", "user_id", "alias"),
    "org": (*_COMMON, "organization_id", "organization_alias"),
}
#: LiteLLM fields gw does not implement yet: null is "not set", anything else a 400.
#: soft_budget is an alert threshold: it comes with budget alerts.
_BUDGETS = ("soft_budget",)
NOT_YET = {
    "team": (*_BUDGETS, "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
             "model_rpm_limit", "model_tpm_limit", "model_max_budget", "guardrails",
             "object_permission", "team_member_budget", "team_member_rpm_limit",
             "team_member_tpm_limit", "team_member_key_duration", "team_member_permissions",
             "prompts", "secret_manager_settings", "router_settings", "tags", "admins",
             "members", "allowed_vector_store_indexes", "allowed_passthrough_routes",
             "tpm_limit_type", "rpm_limit_type", "policies", "allowed_routes"),
    "user": (*_BUDGETS, "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
             "model_rpm_limit", "model_tpm_limit", "model_max_budget", "guardrails",
             "object_permission", "prompts", "permissions", "allowed_cache_controls",
             "sso_user_id", "organizations", "spend", "send_invite_email", "budget_id"),
    "customer": (*_BUDGETS, "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
                 "model_max_budget", "budget_id", "allowed_model_region", "default_model",
                 "object_permission", "spend", "expires"),
    "org": (*_BUDGETS, "budget_duration", "tpm_limit", "rpm_limit", "max_parallel_requests",
            "model_rpm_limit", "model_tpm_limit", "model_max_budget", "budget_id",
            "object_permission", "guardrails", "prompts", "spend", "user_id"),
}
#: /user/new's fields for the key it mints (auto_create_key), as /key/generate takes them
USER_KEY_FIELDS = ("duration", "aliases", "config", "key_alias", "auto_create_key", "team_id")
USER_ROLES = ("proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer",
              "org_admin", "team", "customer")
ALL_PROXY_MODELS = "all-proxy-models"  # LiteLLM's name for "no restriction"


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_field")


def _check_names(kind: str, body: Mapping[str, Any], extra: tuple[str, ...]) -> None:
    allowed = IMPLEMENTED[kind] + NOT_YET[kind] + extra
    for name in body:
        if name not in allowed:
            raise _bad(f"unknown field '{str(name)[:64]}'", str(name)[:64])
    for name in NOT_YET[kind]:
        if body.get(name) is not None:
            raise _bad(f"'{name}' is not supported by gw yet; send null or leave it out",
                       name)


def _budget_field(value: Any, param: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = parse_usd(value)
    except ValueError:
        raise _bad(f"'{param}' must be a number of USD (or null for none)", param) from None
    if amount < 0 or amount > MAX_BUDGET:
        raise _bad(f"'{param}' must be from 0 to {MAX_BUDGET} USD", param)
    return amount


def check_object(value: Any, param: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"'{param}' must be an object", param)
    if _too_deep(value):
        raise _bad(f"'{param}' is nested more than {MAX_DEPTH} levels deep", param)
    return value


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _bad("'models' must be a list of model names (or null for all)", "models")
    names = tuple(dict.fromkeys(_text(m, "models") for m in value))
    return () if ALL_PROXY_MODELS in names else names


def _members(value: Any, param: str) -> list[dict[str, Any]]:
    """``[{"role": ..., "user_id": ..., "user_email": ...}]`` (one object is a list of one)."""
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or len(items) > MAX_LIST:
        raise _bad(f"'{param}' must be a list of members {{role, user_id | user_email}}",
                   param)
    out = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"role", "user_id", "user_email"}:
            raise _bad(f"each of '{param}' is an object with role, user_id or user_email",
                       param)
        role = item.get("role", "user")
        if role not in ROLES:
            raise _bad(f"a member's role is one of {', '.join(ROLES)}", param)
        user_id = item.get("user_id")
        email = item.get("user_email")
        if user_id is None and email is None:
            raise _bad(f"each of '{param}' needs a user_id or a user_email", param)
        out.append({"role": role,
                    "user_id": None if user_id is None else _text(user_id, param),
                    "user_email": None if email is None else _text(email, param)})
    return out


def parse(kind: str, body: Any, *, creating: bool,
          extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate a new/update body of ``kind`` into Tenant fields (only those present) and
    the kind's side fields (``members``, ``key``); nothing is stored on error."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _check_names(kind, body, extra)
    fields: dict[str, Any] = {}
    id_field = ID_FIELD[kind]
    if body.get(id_field) is not None:
        fields["id"] = _text(body[id_field], id_field)
    elif creating and kind == "customer":
        raise _bad("'user_id' (the end-user's id, as sent in a call's 'user') is required",
                   "user_id")
    elif not creating:
        raise _bad(f"'{id_field}' is required", id_field)
    alias = ALIAS_FIELD[kind]
    if alias in body:
        fields["alias"] = None if body[alias] is None else _text(body[alias], alias)
    if "models" in body:
        fields["models"] = _models(body["models"])
    for name in ("max_budget", "soft_budget"):
        if name in body:
            fields[name] = _budget_field(body[name], name)
    if "metadata" in body:
        fields["metadata"] = check_object(body["metadata"], "metadata")
    if body.get("blocked") is not None:
        if not isinstance(body["blocked"], bool):
            raise _bad("'blocked' must be true or false", "blocked")
        fields["blocked"] = body["blocked"]
    if kind in ("team", "user") and "organization_id" in body:
        org = body["organization_id"]
        fields["org_id"] = None if org is None else _text(org, "organization_id")
    extras: dict[str, Any] = {}
    if kind == "team" and body.get("model_aliases") is not None:
        aliases = body["model_aliases"]
        if not isinstance(aliases, dict) or len(aliases) > MAX_LIST:
            raise _bad("'model_aliases' must map a requested name to a model group",
                       "model_aliases")
        extras["model_aliases"] = {_text(k, "model_aliases"): _text(v, "model_aliases")
                                   for k, v in aliases.items()}
    if kind == "user":
        for name in ("user_email",):
            if body.get(name) is not None:
                extras[name] = _text(body[name], name)
        if body.get("user_role") is not None:
            if body["user_role"] not in USER_ROLES:
                raise _bad(f"'user_role' is one of {', '.join(USER_ROLES)}", "user_role")
            extras["user_role"] = body["user_role"]
    if extras:
        fields["extra"] = extras
    out: dict[str, Any] = {"fields": fields}
    if kind == "team" and body.get("members_with_roles") is not None:
        out["members"] = _members(body["members_with_roles"], "members_with_roles")
    if kind == "user" and body.get("teams") is not None:
        teams = body["teams"]
        if not isinstance(teams, list) or len(teams) > MAX_LIST:
            raise _bad("'teams' must be a list of team ids", "teams")
        out["teams"] = [_text(t, "teams") for t in teams]
    return out


def new_id() -> str:
    return str(uuid.uuid4())


def member_rows(team_id: str, members: list[dict[str, Any]]) -> list[Member]:
    """Members with a user_id (an email-only member is resolved by the handler first)."""
    return [Member(team_id, m["user_id"], m["role"]) for m in members if m["user_id"]]


def render(t: Tenant, spend: Decimal, requests: int = 0, **more: Any) -> dict[str, Any]:
    """A tenant in LiteLLM's field names, with gw's beside them."""
    out: dict[str, Any] = {
        ID_FIELD[t.kind]: t.id,
        ALIAS_FIELD[t.kind]: t.alias,
        "models": list(t.models),
        "max_budget": to_json(t.max_budget),
        "soft_budget": to_json(t.soft_budget),
        "spend": to_json(spend),
        "requests": requests,
        "budget_duration": t.budget_duration,
        "budget_reset_at": None,
        "metadata": dict(t.metadata),
        "blocked": t.blocked,
        "created_at": t.created_at.isoformat(),
        "updated_at": None if t.updated_at is None else t.updated_at.isoformat(),
        **{k: v for k, v in t.extra.items()},
    }
    if t.kind in ("team", "user"):
        out["organization_id"] = t.org_id
    if t.kind == "team":
        out.setdefault("model_aliases", {})
    if t.kind == "customer":
        out["end_user_id"] = t.id
        out["litellm_budget_table"] = ({"max_budget": to_json(t.max_budget),
                                        "soft_budget": to_json(t.soft_budget)}
                                       if t.max_budget is not None else None)
    return {**out, **more}

