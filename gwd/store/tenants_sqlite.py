"""The tenant store on SQLite: the SQLite store's own connection and thread.

Every write bumps the key epoch in its transaction, so the other processes sharing
the file drop their key and tenant caches at their next poll (``sqlite_watch``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..money import from_units, to_units
from . import _common as c
from . import tenants_sql as q
from .sqlite_rows import money_sum
from .tenants import (
    LevelRefusal,
    Member,
    Tenant,
    TenantExists,
    TenantStore,
    check_kind,
    fit,
    merge,
    normalise,
)

if TYPE_CHECKING:
    from .sqlite import SQLiteStore

BUMP_EPOCH = "UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1"


def _params(t: Tenant) -> tuple[Any, ...]:
    return (t.alias, c.dumps(list(t.models)),
            None if t.max_budget is None else str(t.max_budget),
            None if t.soft_budget is None else str(t.soft_budget), t.budget_duration,
            c.dumps(t.metadata), int(t.blocked), t.org_id, c.dumps(t.extra))


def _tenant(row: Sequence[Any]) -> Tenant:
    (kind, tid, alias, models, max_budget, soft_budget, duration, metadata, blocked, org_id,
     extra, created_at, updated_at) = row
    return Tenant(kind=kind, id=tid, alias=alias, models=tuple(c.loads(models)),
                  max_budget=None if max_budget is None else Decimal(max_budget),
                  soft_budget=None if soft_budget is None else Decimal(soft_budget),
                  budget_duration=duration, metadata=c.loads(metadata), blocked=bool(blocked),
                  org_id=org_id, extra=c.loads(extra), created_at=c.from_us(created_at),
                  updated_at=None if updated_at is None else c.from_us(updated_at))


class SQLiteTenants(TenantStore):
    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def insert(self, tenant: Tenant) -> None:
        t = normalise(tenant)
        params = (t.kind, t.id, *_params(t), c.to_us(t.created_at),
                  None if t.updated_at is None else c.to_us(t.updated_at))

        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(q.INSERT, params)
            except sqlite3.IntegrityError:
                raise TenantExists(f"a {t.kind} with this id already exists") from None
            initial = q.INITIAL_SPEND[t.kind]  # the ledger's spend under this id
            conn.execute(initial, (t.id, t.id))
            conn.execute(BUMP_EPOCH)

        await self._store._call(self._store._write, tx)

    async def get(self, kind: str, tenant_id: str) -> Tenant | None:
        check_kind(kind)

        def run() -> Tenant | None:
            row = self._store._db().execute(q.SELECT, (kind, tenant_id)).fetchone()
            return None if row is None else _tenant(row)

        return await self._store._call(run)

    async def get_many(self, refs: Sequence[tuple[str, str]]) -> list[Tenant]:
        wanted = list(dict.fromkeys(refs))

        def run() -> list[Tenant]:
            db = self._store._db()
            rows = [db.execute(q.SELECT, ref).fetchone() for ref in wanted]
            return [_tenant(row) for row in rows if row is not None]

        return await self._store._call(run) if wanted else []

    async def update(self, kind: str, tenant_id: str,
                     changes: Mapping[str, Any]) -> Tenant | None:
        check_kind(kind)

        def tx(conn: sqlite3.Connection) -> Tenant | None:
            row = conn.execute(q.SELECT, (kind, tenant_id)).fetchone()
            if row is None:
                return None
            now = datetime.now(UTC)
            new = merge(_tenant(row), changes, now)
            conn.execute(q.UPDATE, (*_params(new), c.to_us(now), kind, tenant_id))
            conn.execute(BUMP_EPOCH)
            return new

        return await self._store._call(self._store._write, tx)

    async def delete(self, kind: str, tenant_ids: Sequence[str]) -> list[str]:
        check_kind(kind)
        wanted = list(dict.fromkeys(tenant_ids))

        def tx(conn: sqlite3.Connection) -> list[str]:
            gone = [tid for tid in wanted
                    if conn.execute(q.DELETE, (kind, tid)).rowcount > 0]
            for tid in gone:
                if kind == "team":
                    conn.execute(q.DELETE_TEAM_MEMBERS, (tid,))
                elif kind == "user":
                    conn.execute(q.DELETE_USER_MEMBERSHIPS, (tid,))
            if gone:
                conn.execute(BUMP_EPOCH)
            return gone

        return await self._store._call(self._store._write, tx) if wanted else []

    async def list(self, kind: str, limit: int = 100, offset: int = 0,
                   org_id: str | None = None) -> list[Tenant]:
        check_kind(kind)
        c.check_page(limit, offset)

        def run() -> list[Tenant]:
            db = self._store._db()
            rows = (db.execute(q.LIST, (kind, limit, offset)) if org_id is None else
                    db.execute(q.LIST_ORG, (kind, org_id, limit, offset))).fetchall()
            return [_tenant(row) for row in rows]

        return await self._store._call(run)

    async def add_members(self, team_id: str, members: Sequence[Member]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(q.UPSERT_MEMBER, [(team_id, m.user_id, m.role) for m in members])
            conn.execute(BUMP_EPOCH)

        await self._store._call(self._store._write, tx)

    async def remove_members(self, team_id: str, user_ids: Sequence[str]) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            removed = sum(conn.execute(q.DELETE_MEMBER, (team_id, uid)).rowcount
                          for uid in dict.fromkeys(user_ids))
            conn.execute(BUMP_EPOCH)
            return removed

        return await self._store._call(self._store._write, tx)

    async def members(self, team_id: str) -> list[Member]:
        return await self._select_members(q.MEMBERS, team_id)

    async def teams_of(self, user_id: str) -> list[Member]:
        return await self._select_members(q.TEAMS_OF, user_id)

    async def reserve(self, request_id: str, levels: Sequence[tuple[str, str]],
                      amount: Decimal, partial: bool) -> Decimal | LevelRefusal | None:
        wanted = sorted(set(levels))

        def tx(conn: sqlite3.Connection) -> Decimal | LevelRefusal | None:
            rows = []
            for kind, tenant_id in wanted:
                row = conn.execute(q.BUDGET_ROW, (kind, tenant_id)).fetchone()
                if row is not None:
                    budget, spend, reserved = row
                    rows.append((kind, tenant_id, None if budget is None else Decimal(budget),
                                 from_units(spend), from_units(reserved)))
            grant = fit(rows, amount, partial)
            if isinstance(grant, Decimal):
                now = c.to_us(datetime.now(UTC))
                conn.executemany(q.RESERVE_LEVEL, [
                    (request_id, kind, tenant_id, to_units(grant), now)
                    for kind, tenant_id, budget, _, _ in rows if budget is not None])
            return grant

        return await self._store._call(self._store._write, tx)

    async def release(self, request_ids: Sequence[str]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(q.RELEASE_LEVELS, [(rid,) for rid in request_ids])

        if request_ids:
            await self._store._call(self._store._write, tx)

    async def expire_reservations(self, older_than: datetime) -> int:
        cutoff = c.to_us(older_than)
        return await self._store._call(self._store._write, lambda conn: conn.execute(
            q.EXPIRE_LEVELS, (cutoff,)).rowcount)

    async def key_hashes(self, kind: str, tenant_id: str) -> list[str]:
        sql = q.KEYS_OF[kind]

        def run() -> list[str]:
            return [h for (h,) in self._store._db().execute(sql, (tenant_id,))]

        return await self._store._call(run)

    async def spend(self, kind: str, tenant_id: str) -> tuple[Decimal, int]:
        sql = q.SQLITE_LEVEL_SPEND[q.LEVEL_COLUMN[check_kind(kind)]]

        def run() -> tuple[Decimal, int]:
            high, low, calls = self._store._db().execute(sql, (tenant_id,)).fetchone()
            return money_sum(high, low), calls

        return await self._store._call(run)

    async def _select_members(self, sql: str, value: str) -> list[Member]:
        def run() -> list[Member]:
            return [Member(*row) for row in self._store._db().execute(sql, (value,))]

        return await self._store._call(run)
