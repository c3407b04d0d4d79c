"""The tenant store on PostgreSQL: the PostgreSQL store's pool, its retries and timeouts.

Every write NOTIFYs ``tenant:<kind>:<id>`` on the key-change channel in its
transaction, so every replica drops that tenant from its cache at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg

from ..money import quantize
from . import _common as c
from . import tenants_sql as q
from .pg_sql import CHANNEL, NOTIFY
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
    notice,
)

if TYPE_CHECKING:
    from .postgres import PostgresStore

INSERT, SELECT, UPDATE, DELETE = q.pg(q.INSERT), q.pg(q.SELECT), q.pg(q.UPDATE), q.pg(q.DELETE)
SELECT_FOR_UPDATE = q.pg(q.SELECT_FOR_UPDATE)
LIST, LIST_ORG = q.pg(q.LIST), q.pg(q.LIST_ORG)
UPSERT_MEMBER, DELETE_MEMBER = q.pg(q.UPSERT_MEMBER), q.pg(q.DELETE_MEMBER)
DELETE_TEAM_MEMBERS, DELETE_USER_MEMBERSHIPS = (q.pg(q.DELETE_TEAM_MEMBERS),
                                                q.pg(q.DELETE_USER_MEMBERSHIPS))
MEMBERS, TEAMS_OF = q.pg(q.MEMBERS), q.pg(q.TEAMS_OF)
PG_KEYS_OF = {kind: q.pg(sql) for kind, sql in q.KEYS_OF.items()}
BUDGET_ROW_LOCKED = q.pg(q.BUDGET_ROW_FOR_UPDATE)
RESERVE_LEVEL, EXPIRE_LEVELS = q.pg(q.RESERVE_LEVEL), q.pg(q.EXPIRE_LEVELS)
RELEASE_MANY = "DELETE FROM gw_level_reservations WHERE request_id = ANY($1::text[])"
INITIAL_SPEND = {kind: q.pg(sql) for kind, sql in q.INITIAL_SPEND.items()}


def _args(t: Tenant) -> tuple[Any, ...]:
    return (t.alias, list(t.models), t.max_budget, t.soft_budget, t.budget_duration,
            dict(t.metadata), t.blocked, t.org_id, dict(t.extra))


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(kind=row["kind"], id=row["id"], alias=row["alias"],
                  models=tuple(row["models"]), max_budget=c.budget(row["max_budget"]),
                  soft_budget=c.budget(row["soft_budget"]),
                  budget_duration=row["budget_duration"], metadata=row["metadata"],
                  blocked=row["blocked"], org_id=row["org_id"], extra=row["extra"],
                  created_at=row["created_at"], updated_at=row["updated_at"])


class PostgresTenants(TenantStore):
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def _notify(self, conn: asyncpg.Connection, kind: str, ids: Sequence[str]) -> None:
        await conn.execute(NOTIFY, CHANNEL, [notice(kind, tid) for tid in ids])

    async def insert(self, tenant: Tenant) -> None:
        t = normalise(tenant)

        async def tx(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(INSERT, t.kind, t.id, *_args(t), t.created_at, t.updated_at)
            except asyncpg.UniqueViolationError:
                raise TenantExists(f"a {t.kind} with this id already exists") from None
            initial = INITIAL_SPEND[t.kind]  # the ledger's spend under this id
            await conn.execute(initial, t.id, t.id)
            await self._notify(conn, t.kind, [t.id])  # drops a cached "absent"

        await self._store._run(tx)

    async def get(self, kind: str, tenant_id: str) -> Tenant | None:
        check_kind(kind)
        row = await self._store._run(lambda conn: conn.fetchrow(SELECT, kind, tenant_id),
                                     transaction=False)
        return None if row is None else _tenant(row)

    async def get_many(self, refs: Sequence[tuple[str, str]]) -> list[Tenant]:
        wanted = list(dict.fromkeys(refs))

        async def run(conn: asyncpg.Connection) -> list[Tenant]:
            rows = [await conn.fetchrow(SELECT, kind, tid) for kind, tid in wanted]
            return [_tenant(row) for row in rows if row is not None]

        return await self._store._run(run, transaction=False) if wanted else []

    async def update(self, kind: str, tenant_id: str,
                     changes: Mapping[str, Any]) -> Tenant | None:
        check_kind(kind)

        async def tx(conn: asyncpg.Connection) -> Tenant | None:
            row = await conn.fetchrow(SELECT_FOR_UPDATE, kind, tenant_id)
            if row is None:
                return None
            now = datetime.now(UTC)
            new = merge(_tenant(row), changes, now)
            await conn.execute(UPDATE, *_args(new), now, kind, tenant_id)
            await self._notify(conn, kind, [tenant_id])
            return new

        return await self._store._run(tx)

    async def delete(self, kind: str, tenant_ids: Sequence[str]) -> list[str]:
        check_kind(kind)
        wanted = list(dict.fromkeys(tenant_ids))

        async def tx(conn: asyncpg.Connection) -> list[str]:
            gone = [tid for tid in wanted
                    if (await conn.execute(DELETE, kind, tid)) != "DELETE 0"]
            for tid in gone:
                if kind == "team":
                    await conn.execute(DELETE_TEAM_MEMBERS, tid)
                elif kind == "user":
                    await conn.execute(DELETE_USER_MEMBERSHIPS, tid)
            if gone:
                await self._notify(conn, kind, gone)
            return gone

        return await self._store._run(tx) if wanted else []

    async def list(self, kind: str, limit: int = 100, offset: int = 0,
                   org_id: str | None = None) -> list[Tenant]:
        check_kind(kind)
        c.check_page(limit, offset)
        rows = await self._store._run(
            lambda conn: (conn.fetch(LIST, kind, limit, offset) if org_id is None
                          else conn.fetch(LIST_ORG, kind, org_id, limit, offset)),
            transaction=False)
        return [_tenant(row) for row in rows]

    async def add_members(self, team_id: str, members: Sequence[Member]) -> None:
        async def tx(conn: asyncpg.Connection) -> None:
            await conn.executemany(UPSERT_MEMBER, [(team_id, m.user_id, m.role)
                                                   for m in members])
            await self._notify(conn, "team", [team_id])

        await self._store._run(tx)

    async def remove_members(self, team_id: str, user_ids: Sequence[str]) -> int:
        async def tx(conn: asyncpg.Connection) -> int:
            removed = 0
            for uid in dict.fromkeys(user_ids):
                removed += (await conn.execute(DELETE_MEMBER, team_id, uid)) != "DELETE 0"
            await self._notify(conn, "team", [team_id])
            return removed

        return await self._store._run(tx)

    async def members(self, team_id: str) -> list[Member]:
        rows = await self._store._run(lambda conn: conn.fetch(MEMBERS, team_id),
                                      transaction=False)
        return [Member(row[0], row[1], row[2]) for row in rows]

    async def reserve(self, request_id: str, levels: Sequence[tuple[str, str]],
                      amount: Decimal, partial: bool) -> Decimal | LevelRefusal | None:
        wanted = sorted(set(levels))  # one lock order for every replica: no deadlocks

        async def tx(conn: asyncpg.Connection) -> Decimal | LevelRefusal | None:
            rows = []
            for kind, tenant_id in wanted:
                row = await conn.fetchrow(BUDGET_ROW_LOCKED, kind, tenant_id)
                if row is not None:
                    rows.append((kind, tenant_id, c.budget(row[0]), quantize(row[1]),
                                 quantize(row[2])))
            grant = fit(rows, amount, partial)
            if isinstance(grant, Decimal):
                now = datetime.now(UTC)
                await conn.executemany(RESERVE_LEVEL, [
                    (request_id, kind, tenant_id, grant, now)
                    for kind, tenant_id, budget, _, _ in rows if budget is not None])
            return grant

        return await self._store._run(tx)

    async def release(self, request_ids: Sequence[str]) -> None:
        if request_ids:
            await self._store._run(lambda conn: conn.execute(RELEASE_MANY, list(request_ids)),
                                   transaction=False)

    async def expire_reservations(self, older_than: datetime) -> int:
        status = await self._store._run(lambda conn: conn.execute(EXPIRE_LEVELS, older_than),
                                        transaction=False)
        return int(status.split()[-1])

    async def key_hashes(self, kind: str, tenant_id: str) -> list[str]:
        sql = PG_KEYS_OF[kind]
        rows = await self._store._run(lambda conn: conn.fetch(sql, tenant_id),
                                      transaction=False)
        return [row[0] for row in rows]

    async def spend(self, kind: str, tenant_id: str) -> tuple[Decimal, int]:
        sql = q.PG_LEVEL_SPEND[q.LEVEL_COLUMN[check_kind(kind)]]
        row = await self._store._run(lambda conn: conn.fetchrow(sql, tenant_id),
                                     transaction=False)
        return quantize(row[0]), row[1]

    async def teams_of(self, user_id: str) -> list[Member]:
        rows = await self._store._run(lambda conn: conn.fetch(TEAMS_OF, user_id),
                                      transaction=False)
        return [Member(row[0], row[1], row[2]) for row in rows]
