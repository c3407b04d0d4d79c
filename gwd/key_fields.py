"""LiteLLM's key fields: which request fields gw accepts, and the response fields it adds.

SPEC §4a: a /key/generate, /key/update or /key/regenerate body may carry every
field LiteLLM's proxy accepts there. ``null`` (and LiteLLM's own defaults, such as
``[]``, ``{}``, ``spend: 0``, ``key_type: "default"``) means "not set". A field gw
does not implement yet (teams, users, rate limits, budget periods, ...) with any
other value is a 400 that names it — never silently dropped. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest
from .store.base import KeyRecord

#: LiteLLM fields gw does not implement yet; the value is why (shown in the 400).
NOT_YET: dict[str, str] = {
    **dict.fromkeys(("organization_id", "project_id", "agent_id",
                     "budget_id", "access_group_ids"),
                    "teams, users and organisations arrive with their own issue"),
    **dict.fromkeys(("rpm_limit", "tpm_limit", "max_parallel_requests", "model_rpm_limit",
                     "model_tpm_limit", "rpm_limit_type", "tpm_limit_type"),
                    "rate limits arrive with their own issue"),
    **dict.fromkeys(("budget_duration", "soft_budget", "budget_limits", "model_max_budget",
                     "temp_budget_increase", "temp_budget_expiry", "budget_fallbacks"),
                    "budget periods arrive with their own issue"),
    **dict.fromkeys(("spend",), "a key's spend is what its calls cost"),
    **dict.fromkeys(("grace_period",), "a regenerated key's old secret stops at once"),
    **dict.fromkeys(("allowed_cache_controls", "permissions", "guardrails", "policies",
                     "prompts", "object_permission", "tags", "enforced_params",
                     "allowed_routes", "allowed_passthrough_routes",
                     "allowed_vector_store_indexes", "router_settings", "key_type",
                     "auto_rotate", "rotation_interval", "send_invite_email",
                     "new_master_key"),
                    "it is not part of gw"),
}

#: a value that means "not set" for a field, beyond null, [] and {} (LiteLLM's defaults)
_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "spend": (0,), "key_type": ("default",), "auto_rotate": (False,),
    "send_invite_email": (False,),
}

#: LiteLLM-only fields a key record answers with (gw has no value for them yet)
NULL_FIELDS = ("organization_id", "project_id", "budget_duration",
               "soft_budget", "tpm_limit", "rpm_limit", "max_parallel_requests",
               "budget_reset_at", "created_by", "updated_by", "litellm_budget_table")


def _unset(name: str, value: Any) -> bool:
    if value is None or (isinstance(value, (list, dict)) and not value):
        return True
    return any(isinstance(value, bool) == isinstance(d, bool) and value == d
               for d in _DEFAULTS.get(name, ()))  # 0 and 0.0 alike; never True == 1


def check_not_yet(body: dict[str, Any]) -> None:
    """Raise a 400 naming the first LiteLLM field that is set but not implemented."""
    for name, why in NOT_YET.items():
        if name in body and not _unset(name, body[name]):
            raise InvalidRequest(
                f"'{name}' is a LiteLLM field; gw does not support it yet ({why}). Send "
                "null or leave it out.", param=name, code="unsupported_field")


def strip_unset(body: dict[str, Any]) -> dict[str, Any]:
    """The body without LiteLLM-only fields (after :func:`check_not_yet` passed)."""
    return {k: v for k, v in body.items() if k not in NOT_YET}


def litellm_view(record: KeyRecord) -> dict[str, Any]:
    """The LiteLLM names for a key record, beside gw's own: ``token`` is the key's public
    id (LiteLLM shows its stored hash there; gw never shows a key's hash, and its key_id
    is what every admin route takes in its place), ``blocked``, and null for what gw
    does not have yet."""
    return {"token": record.key_id, "blocked": record.blocked,
            "permissions": {}, "model_max_budget": {}, "allowed_cache_controls": [],
            "tags": [], **dict.fromkeys(NULL_FIELDS)}
