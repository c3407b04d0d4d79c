"""What both store backends share: value checks, time and JSON codecs, row arithmetic.

Nothing here touches a database. The backends call these helpers so that both
accept and refuse exactly the same inputs (naive datetimes, negative budgets,
unknown update fields, values that are not JSON) and aggregate ledger rows the
same way, and both build their reserve statement on the same admission rule
(``RESERVE_TAKE`` / ``RESERVE_FITS``, SQL text without values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from ..money import parse_usd, quantize
from .base import UPDATABLE, KeyRecord, LedgerRow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: budgets must stay below this (NUMERIC(30,12) holds 18 integer digits)
MAX_MONEY = Decimal(10) ** 18
#: the earliest and latest instants a report may be asked about (open ranges)
TIME_MIN = datetime(1, 1, 2, tzinfo=UTC)
TIME_MAX = datetime(9999, 12, 30, tzinfo=UTC)


def aware(value: datetime, what: str) -> datetime:
    """Refuse naive datetimes: every time in the store is an instant."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


def optional_aware(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else aware(value, what)


def to_us(value: datetime) -> int:
    """Aware datetime -> integer microseconds since the Unix epoch (exact)."""
    return (aware(value, "time") - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    """Integer microseconds since the Unix epoch -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=value)


def _json_default(value: object) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: object) -> str:
    """Strict JSON text (no NaN/Infinity); a non-JSON value is a ValueError."""
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise ValueError(f"value is not JSON-serialisable: {exc}") from None


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def budget(value: object) -> Decimal | None:
    """A max_budget as stored: None, or a quantised Decimal in [0, 1e18)."""
    if value is None:
        return None
    amount = quantize(value if isinstance(value, Decimal) else parse_usd(value))
    if not amount.is_finite() or amount < 0 or amount >= MAX_MONEY:
        raise ValueError("max_budget must be between 0 and 1e18 USD")
    return amount


def _models(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError("models must be a list of strings")
    models = tuple(value)
    if not all(isinstance(m, str) for m in models):
        raise ValueError("models must be a list of strings")
    return models


def _mapping(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be an object")
    result = dict(value)
    dumps(result)  # refuse what cannot be stored, before any SQL runs
    return result


def _alias(value: object, name: str = "key_alias") -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def normalise_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``update_key``'s changes: only UPDATABLE fields, values of the right type."""
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise ValueError(f"fields cannot be updated: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "expires":
            clean[name] = optional_aware(value, "expires")
        elif name == "models":
            clean[name] = _models(value)
        elif name in ("aliases", "config", "metadata"):
            clean[name] = _mapping(value, name)
        elif name in ("key_alias", "team_id", "user_id"):
            clean[name] = _alias(value, name)
        elif name == "blocked":
            if not isinstance(value, bool):
                raise ValueError("blocked must be a boolean")
            clean[name] = value
        else:
            clean[name] = budget(value)
    return clean


def normalise_key(record: KeyRecord) -> dict[str, Any]:
    """The stored fields of a new key, checked (counters start at zero)."""
    if not isinstance(record.token_hash, str) or not record.token_hash:
        raise ValueError("token_hash must be a non-empty string")
    if not isinstance(record.key_id, str) or not record.key_id:
        raise ValueError("key_id must be a non-empty string (e.g. 'key-' + 16 hex digits)")
    fields = normalise_changes({name: getattr(record, name) for name in UPDATABLE})
    fields["token_hash"] = record.token_hash
    fields["key_id"] = record.key_id
    fields["key_name"] = str(record.key_name)
    fields["created_at"] = aware(record.created_at, "created_at")
    fields["updated_at"] = optional_aware(record.updated_at, "updated_at")
    return fields


def merge(record: KeyRecord, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The UPDATABLE fields of ``record`` with ``changes`` (already normalised) applied."""
    current = {name: getattr(record, name) for name in UPDATABLE}
    current.update(changes)
    return current


def check_rows(rows: Sequence[LedgerRow]) -> list[LedgerRow]:
    """Ledger rows checked and without repeats of a request_id (the first one wins)."""
    seen: set[str] = set()
    unique: list[LedgerRow] = []
    for row in rows:
        if not isinstance(row.request_id, str) or not row.request_id:
            raise ValueError("request_id must be a non-empty string")
        aware(row.time, "time")
        if row.request_id not in seen:
            seen.add(row.request_id)
            unique.append(row)
    unique.sort(key=lambda r: r.request_id)  # one lock order for concurrent writers
    return unique


@dataclass(slots=True)
class KeyDelta:
    """What a batch of inserted rows adds to one key."""

    spend: Decimal
    requests: int


def per_key(rows: Iterable[LedgerRow]) -> dict[str, KeyDelta]:
    """Sum inserted rows per key hash (cost None adds 0 but still one request)."""
    deltas: dict[str, KeyDelta] = {}
    for row in rows:
        if row.key_hash is None:
            continue
        delta = deltas.setdefault(row.key_hash, KeyDelta(Decimal(0), 0))
        delta.spend += quantize(row.cost) if row.cost is not None else Decimal(0)
        delta.requests += 1
    return dict(sorted(deltas.items()))


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")


# Budget reservations: the admission rule, ONE text for both backends. Each backend's
# reserve statement selects from ``gw_keys k`` (its ``spend`` and its ``reserved``
# counter of open reservations) joined with a one-row parameter subquery ``p``
# (``amount``, ``budget``, ``partial``) and inserts the reservation only when
# RESERVE_FITS holds, for RESERVE_TAKE. ``partial`` (calls without max_tokens) takes
# min(amount, remaining) while anything remains; otherwise all of ``amount`` or nothing.
_REMAINING = "(p.budget - k.spend - k.reserved)"
RESERVE_TAKE = (
    "CASE WHEN p.partial AND " + _REMAINING + " < p.amount THEN " + _REMAINING
    + " ELSE p.amount END"
)
RESERVE_FITS = (
    "CASE WHEN p.partial THEN " + _REMAINING + " > 0 ELSE " + _REMAINING
    + " >= p.amount END"
)


def check_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValueError("a reservation amount must be a non-negative Decimal")
    return quantize(amount)
