"""Virtual keys: minting, validating admin request bodies, and rendering key info (pure-ish).

A key is ``sk-`` + 22 url-safe characters (128 random bits); only its SHA-256
is stored. Admin bodies are strict: an unknown or mistyped field is a 400
naming it, and nothing is stored. Durations follow :mod:`gwd.durations`. The
free-form ``config`` and ``metadata`` objects are nested at most ``MAX_DEPTH``
levels (as request bodies are; deeper ones could not even be stored) and hold at
most 64 KB of JSON each (a key record is cached and read on every call).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from .auth import hash_key
from .durations import DurationError, parse_duration
from .errors import InvalidRequest
from .key_fields import NOT_YET, check_not_yet, litellm_view, strip_unset
from .money import parse_usd, to_json
from .store.base import KeyRecord

KEY_FIELDS = ("models", "duration", "aliases", "config", "max_budget", "metadata", "key_alias",
              "team_id", "user_id", "blocked")
MAX_NAME = 256
MAX_LIST = 1000
MAX_BUDGET = Decimal("1000000000")
MAX_DEPTH = 64
MAX_OBJECT_BYTES = 64 * 1024   # each of 'config' and 'metadata', as compact JSON


def new_key() -> str:
    return "sk-" + secrets.token_urlsafe(16)


def custom_key(value: Any) -> str:
    """A key value the operator chose (LiteLLM's ``key`` on /key/generate)."""
    if not isinstance(value, str) or not value.startswith("sk-") or \
            not 20 <= len(value) <= MAX_NAME or \
            any(not c.isascii() or not c.isprintable() or c.isspace() for c in value):
        raise _bad("'key' must be \"sk-\" followed by 17 to 253 printable ASCII characters "
                   "(or null for a random key)", "key")
    return value


def new_key_id() -> str:
    """A public, non-secret name for a key: lets an operator list, inspect, update and
    delete keys without holding their secrets (and without exposing their hashes)."""
    return "key-" + secrets.token_hex(8)


def is_key_id(value: str) -> bool:
    return value.startswith("key-") and len(value) == 20


def is_token_hash(value: str) -> bool:
    """A stored key hash (LiteLLM's ``token``: 64 lowercase hex digits), which LiteLLM's
    admin routes accept wherever they take a key."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def ref_hash(ref: str) -> str:
    """The stored hash a key reference (a key or its hash) names; not for key_ids."""
    return ref if is_token_hash(ref) else hash_key(ref)


def key_name(raw: str) -> str:
    """A display form that reveals nothing useful: ``sk-...abcd``."""
    return f"sk-...{raw[-4:]}"


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_field")


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or \
            any(ord(c) < 32 for c in value):
        raise _bad(f"'{param}' must be a non-empty string of at most {MAX_NAME} printable "
                   "characters", param)
    return value


def parse_fields(body: Any, *, required: tuple[str, ...] = (),
                 extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate a generate/update body into typed values (only the fields present).

    LiteLLM's fields are accepted too (:mod:`gwd.key_fields`): unset, or a 400 naming
    the one gw does not support yet."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    allowed = KEY_FIELDS + required + extra
    for name in body:
        if name not in allowed and name not in NOT_YET:
            raise _bad(f"unknown field '{str(name)[:64]}'; accepted: {', '.join(allowed)} "
                       "(and LiteLLM's key fields)", str(name)[:64])
    check_not_yet(body)
    body = strip_unset(body)
    for name in required:
        if name not in body:
            raise _bad(f"'{name}' is required", name)
    out: dict[str, Any] = {}
    if body.get("models") is not None:
        models = body["models"]
        if not isinstance(models, list) or len(models) > MAX_LIST:
            raise _bad("'models' must be a list of model names (or null for all)", "models")
        out["models"] = tuple(dict.fromkeys(_text(m, "models") for m in models))
    elif "models" in body:
        out["models"] = ()
    if "duration" in body:
        try:
            out["duration"] = (None if body["duration"] is None
                               else parse_duration(body["duration"]))
        except DurationError as exc:
            raise _bad(str(exc), "duration") from None
        out["duration_given"] = body["duration"] is not None
    if body.get("aliases") is not None:
        aliases = body["aliases"]
        if not isinstance(aliases, dict) or len(aliases) > MAX_LIST:
            raise _bad("'aliases' must be an object mapping a requested model name to a "
                       "model group", "aliases")
        out["aliases"] = {_text(k, "aliases"): _text(v, "aliases") for k, v in aliases.items()}
    elif "aliases" in body:
        out["aliases"] = {}
    for name in ("config", "metadata"):
        if body.get(name) is not None:
            if not isinstance(body[name], dict):
                raise _bad(f"'{name}' must be an object", name)
            if _too_deep(body[name]):
                raise _bad(f"'{name}' is nested more than {MAX_DEPTH} levels deep", name)
            if len(orjson.dumps(body[name])) > MAX_OBJECT_BYTES:
                raise _bad(f"'{name}' is larger than {MAX_OBJECT_BYTES // 1024} KB of JSON",
                           name)
            out[name] = body[name]
        elif name in body:
            out[name] = {}
    if "max_budget" in body:
        out["max_budget"] = None if body["max_budget"] is None else _budget(body["max_budget"])
    if body.get("blocked") is not None:
        if not isinstance(body["blocked"], bool):
            raise _bad("'blocked' must be true or false", "blocked")
        out["blocked"] = body["blocked"]
    if "key_alias" in body:
        out["key_alias"] = None if body["key_alias"] is None else _text(body["key_alias"],
                                                                        "key_alias")
    for owner in ("team_id", "user_id"):
        if owner in body:
            out[owner] = None if body[owner] is None else _text(body[owner], owner)
    _check_aliases(out)
    return out


def _too_deep(value: Any) -> bool:
    """Whether a parsed JSON value nests lists/objects more than MAX_DEPTH levels."""
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [item for v in level if isinstance(v, (dict, list))
                 for item in (v.values() if isinstance(v, dict) else v)]
        if not level:
            return False
    return any(isinstance(v, (dict, list)) for v in level)


def _budget(value: Any) -> Decimal:
    try:
        amount = parse_usd(value)
    except ValueError:
        raise _bad("'max_budget' must be a number of USD (or null for no budget)",
                   "max_budget") from None
    if amount < 0 or amount > MAX_BUDGET:
        raise _bad(f"'max_budget' must be from 0 to {MAX_BUDGET} USD", "max_budget")
    return amount


def _check_aliases(fields: Mapping[str, Any]) -> None:
    aliases: dict[str, str] = fields.get("aliases") or {}
    for source, target in aliases.items():
        if target in aliases:
            raise _bad(f"alias '{source}' points at '{target}', which is itself an alias; "
                       "an alias must name a model group", "aliases")
    # An alias may name a group outside the key's models (LiteLLM's e2e tests make such
    # keys): the models check runs after alias resolution, so it can never reach it.


def expiry(duration: timedelta | None, now: datetime | None = None) -> datetime | None:
    return None if duration is None else (now or datetime.now(UTC)) + duration


def info(record: KeyRecord, raw: str | None, pending: Decimal = Decimal(0),
         pending_requests: int = 0) -> dict[str, Any]:
    """The ``info`` object of /key/info (SPEC §4); ``raw`` is echoed only when the
    caller supplied it."""
    spend = record.spend + pending
    out: dict[str, Any] = {
        "key_id": record.key_id,
        "key_name": record.key_name,
        "key_alias": record.key_alias,
        "spend": to_json(spend),
        "max_budget": to_json(record.max_budget),
        "budget_remaining": (to_json(max(record.max_budget - spend, Decimal(0)))
                             if record.max_budget is not None else None),
        "expires": iso(record.expires),
        "models": list(record.models),
        "aliases": dict(record.aliases),
        "config": dict(record.config),
        "metadata": dict(record.metadata),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "requests": record.requests + pending_requests,
        "team_id": record.team_id,
        "user_id": record.user_id,
        "blocked": record.blocked,
    }
    view = litellm_view(record)
    if raw is not None:
        view["token"] = raw  # SPEC §4: the key as the caller gave it
    return {**view, **out}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
