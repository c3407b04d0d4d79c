"""Row codecs of the PostgreSQL backend: records to bound arguments and result rows back.

Money is bound and read as :class:`~decimal.Decimal` (``NUMERIC(30,12)``) and
quantised to 12 places on the way out; times are aware ``timestamptz``; JSON
fields go through the per-connection ``jsonb`` codec. Batches of ledger rows
are bound as one array per column (for ``unnest``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from ..money import quantize
from . import _common as c
from .base import KeyRecord, KeySpend, LedgerRow, ModelSpend


def usd(value: Decimal | None) -> Decimal | None:
    return None if value is None else quantize(value)


def key_record(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(
        token_hash=row["token_hash"], key_id=row["key_id"], key_name=row["key_name"],
        key_alias=row["key_alias"],
        models=tuple(row["models"]), aliases=row["aliases"], config=row["config"],
        metadata=row["metadata"], max_budget=usd(row["max_budget"]),
        spend=quantize(row["spend"]), requests=row["requests"],
        reserved=quantize(row["reserved"]), expires=row["expires"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        team_id=row["team_id"], user_id=row["user_id"],
        blocked=row["blocked"],
    )


def ledger_row(row: asyncpg.Record) -> LedgerRow:
    return LedgerRow(**{**dict(row.items()), "cost": usd(row["cost"])})


def key_spend(row: asyncpg.Record) -> KeySpend:
    return KeySpend(token_hash=row["token_hash"], key_name=row["key_name"],
                    key_alias=row["key_alias"], spend=quantize(row["spend"]),
                    requests=row["requests"], max_budget=usd(row["max_budget"]),
                    expires=row["expires"], key_id=row["key_id"])


def model_spend(row: asyncpg.Record) -> ModelSpend:
    return ModelSpend(model_group=row[0], deployment=row[1], provider=row[2],
                      spend=quantize(row[3]), requests=row[4], prompt_tokens=row[5],
                      completion_tokens=row[6])


def key_args(fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """expires, models, aliases, config, metadata, key_alias, max_budget, team_id, user_id
    as bound."""
    return (fields["expires"], list(fields["models"]), fields["aliases"], fields["config"],
            fields["metadata"], fields["key_alias"], fields["max_budget"], fields["team_id"],
            fields["user_id"])


def _money_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(quantize(value))
    raise TypeError(f"cannot store a {type(value).__name__} in the ledger")


def ledger_json(rows: Sequence[LedgerRow]) -> str:
    """The rows as one JSON array of objects, keyed by column (``pg_sql.RECORD``)."""
    return orjson.dumps(list(rows), default=_money_text).decode()


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """``since <= time < until`` with open ends as the earliest/latest instants."""
    return (c.TIME_MIN if since is None else c.aware(since, "since"),
            c.TIME_MAX if until is None else c.aware(until, "until"))
