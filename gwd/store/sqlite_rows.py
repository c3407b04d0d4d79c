"""Row codecs of the SQLite backend: records to bound parameters and result rows back.

Money goes in as INTEGER pico-dollars (``to_units``) and comes back as Decimal
(``from_units``); times as integer microseconds since the epoch, UTC; JSON
fields as text; ``max_budget`` as decimal text (compared only in Python).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..money import from_units, to_units
from . import _common as c
from .base import KeyRecord, KeySpend, LedgerRow
from .sqlite_sql import SPLIT

LOW, HIGH = -(2**62), 2**62  # the open ends of a time range, in microseconds
#: the largest INTEGER SQLite keeps exactly (money columns are int64 pico-dollars)
INT64_MAX = 2**63 - 1


def key_record(row: Sequence[Any]) -> KeyRecord:
    (token_hash, key_name, key_alias, models, aliases, config, metadata, max_budget,
     spend, requests, expires, created_at, updated_at, key_id, reserved, team_id, user_id,
     blocked) = row
    return KeyRecord(
        token_hash=token_hash, key_id=key_id, key_name=key_name, key_alias=key_alias,
        models=tuple(c.loads(models)), aliases=c.loads(aliases), config=c.loads(config),
        metadata=c.loads(metadata),
        max_budget=None if max_budget is None else Decimal(max_budget),
        spend=from_units(spend), requests=requests, reserved=from_units(reserved),
        expires=None if expires is None else c.from_us(expires),
        created_at=c.from_us(created_at),
        updated_at=None if updated_at is None else c.from_us(updated_at),
        team_id=team_id, user_id=user_id,
        blocked=bool(blocked),
    )


def key_spend(row: Sequence[Any]) -> KeySpend:
    """A row of SPEND_BY_KEY or SPEND_BY_KEY_IN (spend as split sums)."""
    token_hash, key_name, key_alias, high, low, requests, max_budget, expires, key_id = row
    return KeySpend(token_hash=token_hash, key_name=key_name, key_alias=key_alias,
                    spend=money_sum(high, low), requests=requests,
                    max_budget=None if max_budget is None else Decimal(max_budget),
                    expires=None if expires is None else c.from_us(expires), key_id=key_id)


def ledger_row(row: Sequence[Any]) -> LedgerRow:
    (request_id, time, key_hash, key_alias, endpoint, requested_model, model_group,
     deployment, provider, prompt_tokens, completion_tokens, cost, latency_ms, status,
     stream, usage_estimated, usage_detail, usage_over_reported, team_id, user_id, org_id,
     end_user, response_id) = row
    return LedgerRow(
        request_id=request_id, time=c.from_us(time), key_hash=key_hash, key_alias=key_alias,
        endpoint=endpoint, requested_model=requested_model, model_group=model_group,
        deployment=deployment, provider=provider, prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=None if cost is None else from_units(cost), latency_ms=latency_ms,
        status=status, stream=bool(stream), usage_estimated=bool(usage_estimated),
        usage_detail=None if usage_detail is None else c.loads(usage_detail),
        usage_over_reported=bool(usage_over_reported),
        team_id=team_id, user_id=user_id, org_id=org_id, end_user=end_user,
        response_id=response_id,
    )


def ledger_params(row: LedgerRow) -> tuple[Any, ...]:
    return (row.request_id, c.to_us(row.time), row.key_hash, row.key_alias, row.endpoint,
            row.requested_model, row.model_group, row.deployment, row.provider,
            int(row.prompt_tokens), int(row.completion_tokens),
            None if row.cost is None else to_units(row.cost), int(row.latency_ms),
            row.status, int(bool(row.stream)), int(bool(row.usage_estimated)),
            None if not row.usage_detail else c.dumps(row.usage_detail),
            int(bool(row.usage_over_reported)), row.team_id, row.user_id, row.org_id,
            row.end_user, row.response_id)


def key_params(fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """expires, models, aliases, config, metadata, key_alias, max_budget, team_id, user_id
    as stored."""
    budget = fields["max_budget"]
    expires = fields["expires"]
    return (None if expires is None else c.to_us(expires), c.dumps(list(fields["models"])),
            c.dumps(fields["aliases"]), c.dumps(fields["config"]), c.dumps(fields["metadata"]),
            fields["key_alias"], None if budget is None else str(budget), fields["team_id"],
            fields["user_id"])


def time_range(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    return (LOW if since is None else c.to_us(since), HIGH if until is None else c.to_us(until))


def money_sum(high: int | None, low: int | None) -> Decimal:
    """Exact sum from SQL's split sums (cost / 10^6 and cost % 10^6 never overflow int64)."""
    return from_units((high or 0) * SPLIT + (low or 0))


def bounded_units(amount: Decimal, bound: int) -> int:
    """Pico-dollars, clamped to [-bound, bound] so that they can be bound as int64.

    reserve() binds its budget with ``INT64_MAX - 1`` and its amount with ``INT64_MAX``:
    a clamped amount never fits a clamped budget whole and takes all that remains if
    partial, which is what the true values would give, since no stored spend or
    reservation total exceeds ``INT64_MAX`` (a budget above ~9.2 million USD acts as that)."""
    return max(-bound, min(to_units(amount), bound))


def now_us() -> int:
    return c.to_us(datetime.now(UTC))
