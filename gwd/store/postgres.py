"""The PostgreSQL backend: an asyncpg pool shared by any number of gwd replicas.

Money is ``NUMERIC(30,12)``, times ``timestamptz``, JSON ``jsonb`` (decoded
with orjson by a per-connection codec); ``pg_sql`` holds the statements and
``pg_rows`` the row codecs. Concurrency across replicas:

- ``record`` is one statement: it locks the keys it touches in one fixed order
  (so concurrent batches never deadlock each other), inserts the batch through
  ``unnest`` with ``ON CONFLICT DO NOTHING RETURNING``, adds only what was
  inserted to each key and deletes the settled reservations.
- ``reserve`` is one conditional statement (``pg_sql.RESERVE``): the key row
  is locked only while the database runs it, never across a round trip, so the
  budgeted calls of one key do not queue behind one another. It checks
  ``spend + reserved + amount <= budget`` on the newest version of the key row,
  where ``reserved`` is a running total that triggers on ``gw_reservations``
  keep equal to the sum of the key's open reservations (migration
  0006_reserved_counter). ``release`` and ``expire_reservations`` are one
  statement each too; all four run outside an explicit transaction.
- ``update_key`` / ``delete_keys`` ``pg_notify`` the key's hash in the same
  transaction; :mod:`.pg_listen` delivers it (``insert_key`` does not: see there).
  ``delete_keys`` writes each deleted key's tombstone in the same statement.

A deadlock or serialisation failure (possible only between unusual mixes, such
as the same request_id replayed concurrently) is retried a few times. Every
other database or connection error becomes :class:`StoreUnavailable` (a data
error, such as a number out of range, becomes ``ValueError``): no raw asyncpg
exception leaves this module, and no message carries the URL or its password.

Timeouts, so a dead or silent database costs a caller seconds: connecting,
waiting for a pooled connection and every statement on the request path (key
lookups, reservations) 2 s each; off that path, spend batches 5 s, reports and
listings 30 s, migrations (on their own connection) 60 s.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote

import asyncpg

from ..money import quantize
from . import _common as c
from . import pg_rows as r
from . import pg_sql as q
from .base import (
    DaySpend,
    KeyChangeCallback,
    KeyExists,
    KeyRecord,
    KeySpend,
    LedgerRow,
    ModelSpend,
    Store,
    StoreUnavailable,
)
from .pg_listen import KeyChangeListener
from .pg_schema import migrate
from .tenants_pg import PostgresTenants

T = TypeVar("T")
_RETRIES = 5
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
           OSError, TimeoutError)
_MIGRATION_TIMEOUT = 60.0
_SPEND_TIMEOUT = 5.0      # a spend batch (off the request path; retried, then journaled)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=c.dumps, decoder=c.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: nothing to undo. Pooled connections
    never LISTEN, take advisory locks, open cursors or SET anything (the listener and
    migrations have connections of their own), so asyncpg's default reset query would
    only add a round trip to every call, a reservation's included. (asyncpg still rolls
    back a transaction left open, before calling this.)"""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _secrets(url: str) -> list[str]:
    """What must never appear in a message: the URL, and its password (also decoded)."""
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return sorted({url, password, unquote(password)} - {""}, key=len, reverse=True)


class PostgresStore(Store):
    """The store in a PostgreSQL database (see the module docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, *, min_size: int = 0, max_size: int = 10,
                 connect_timeout: float = 2.0, command_timeout: float = 2.0,
                 acquire_timeout: float = 2.0, batch_timeout: float = 30.0) -> None:
        self.url = url
        self._pool_args = {"min_size": min_size, "max_size": max_size, "reset": _keep_session,
                           "timeout": connect_timeout, "command_timeout": command_timeout,
                           "server_settings": {"application_name": "gwd"}}
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._batch = batch_timeout
        self._deadline = command_timeout
        self._secrets = _secrets(url)
        self._pool: asyncpg.Pool | None = None
        self._listener: KeyChangeListener | None = None
        self.tenants = PostgresTenants(self)

    # plumbing ----------------------------------------------------------------
    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, exc: BaseException) -> Exception:
        if isinstance(exc, asyncpg.DataError):
            return ValueError(f"the database refused a value: {exc}")
        return StoreUnavailable(self._redact(f"PostgreSQL: {_describe(exc)}"))

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *,
                   transaction: bool = True, deadline: float | None = None) -> T:
        """Run ``fn`` on a pooled connection (in a transaction), retrying deadlocks. The
        caller waits ``deadline`` (default ``command_timeout``) at most: asyncpg's cleanup
        of a silent connection can take as long again, so it goes on in the background."""
        wait = deadline or self._deadline
        work = asyncio.ensure_future(self._attempts(fn, transaction))
        # retrieve the outcome even when the caller gave up (deadline, cancelled)
        work.add_done_callback(lambda w: w.cancelled() or w.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(work), wait)
        except TimeoutError:
            raise StoreUnavailable(f"PostgreSQL did not answer within {wait:g} s") from None

    async def _attempts(self, fn: Callable[[asyncpg.Connection], Awaitable[T]],
                        transaction: bool) -> T:
        for attempt in range(_RETRIES):
            pool = self._pool
            if pool is None:
                raise StoreUnavailable("the PostgreSQL store is not open")
            try:
                async with pool.acquire(timeout=self._acquire_timeout) as conn:
                    if not transaction:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except _RETRYABLE as exc:
                if attempt + 1 == _RETRIES:
                    raise StoreUnavailable(self._redact(
                        f"PostgreSQL: gave up after {_RETRIES} tries: {exc}")) from exc
                await asyncio.sleep(random.uniform(0.001, 0.02) * (attempt + 1))
            except _ERRORS as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    # lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        try:  # migrations on their own connection: they may wait for another replica's
            conn = await asyncpg.connect(self.url, timeout=self._connect_timeout,
                                         command_timeout=_MIGRATION_TIMEOUT)
            try:
                await migrate(conn)
            finally:
                await conn.close(timeout=self._connect_timeout)
            pool = await asyncpg.create_pool(self.url, init=_init_connection, **self._pool_args)
        except (*_ERRORS, ValueError) as exc:  # ValueError: a malformed URL
            what = "use the database URL" if isinstance(exc, ValueError) else "connect"
            raise StoreUnavailable(self._redact(f"cannot {what}: {_describe(exc)}")) from None
        self._pool = pool

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except (*_ERRORS, TimeoutError):
                pool.terminate()

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"), transaction=False)

    # keys --------------------------------------------------------------------
    async def insert_key(self, record: KeyRecord) -> None:
        f = c.normalise_key(record)

        async def tx(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(q.INSERT_KEY, f["token_hash"], f["key_name"], *r.key_args(f),
                                   f["created_at"], f["updated_at"], f["key_id"])
                if f["blocked"]:
                    await conn.execute(q.SET_BLOCKED, True, f["token_hash"])
            except asyncpg.UniqueViolationError as exc:
                what = "key_id" if exc.constraint_name == q.KEY_ID_CONSTRAINT else "hash"
                raise KeyExists(f"a key with this {what} already exists") from None
            # No NOTIFY: no replica can hold anything about a new hash but a 1 s "absent"
            # entry, and the echo of one would drop the record the creating replica has
            # just cached (its key then needed the database on its first call).

        await self._run(tx)

    async def get_key(self, token_hash: str) -> KeyRecord | None:
        row = await self._run(lambda conn: conn.fetchrow(q.SELECT_KEY, token_hash),
                              transaction=False)
        return None if row is None else r.key_record(row)

    async def get_key_by_id(self, key_id: str) -> KeyRecord | None:
        row = await self._run(lambda conn: conn.fetchrow(q.SELECT_KEY_BY_ID, key_id),
                              transaction=False)
        return None if row is None else r.key_record(row)

    async def update_key(self, token_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        clean = c.normalise_changes(changes)

        async def tx(conn: asyncpg.Connection) -> KeyRecord | None:
            row = await conn.fetchrow(q.LOCK_KEY, token_hash)
            if row is None:
                return None
            merged = c.merge(r.key_record(row), clean)
            await conn.execute(q.UPDATE_KEY, *r.key_args(merged), datetime.now(UTC), token_hash)
            if "blocked" in clean:
                await conn.execute(q.SET_BLOCKED, clean["blocked"], token_hash)
            await conn.execute(q.NOTIFY, q.CHANNEL, [token_hash])
            return r.key_record(await conn.fetchrow(q.SELECT_KEY, token_hash))

        return await self._run(tx)

    async def rekey(self, token_hash: str, new_hash: str, key_name: str) -> KeyRecord | None:
        if not new_hash or new_hash == token_hash:
            raise ValueError("new_hash must be a different non-empty hash")

        async def tx(conn: asyncpg.Connection) -> KeyRecord | None:
            if await conn.fetchrow(q.LOCK_KEY, token_hash) is None:
                return None
            if await conn.fetchrow(q.SELECT_KEY, new_hash) is not None:
                raise KeyExists("a key with this hash already exists")
            await conn.execute(q.REKEY_RESERVATIONS, new_hash, token_hash)
            try:
                await conn.execute(q.REKEY_KEY, new_hash, key_name, datetime.now(UTC),
                                   token_hash)
            except asyncpg.UniqueViolationError:  # a racing insert took the new hash
                raise KeyExists("a key with this hash already exists") from None
            await conn.execute(q.REKEY_LEDGER, new_hash, token_hash)
            await conn.execute(q.NOTIFY, q.CHANNEL, [token_hash])
            return r.key_record(await conn.fetchrow(q.SELECT_KEY, new_hash))

        return await self._run(tx)

    async def delete_keys(self, token_hashes: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(token_hashes))

        async def tx(conn: asyncpg.Connection) -> list[str]:
            gone = {row[0] for row in await conn.fetch(q.DELETE_KEYS, wanted,
                                                       datetime.now(UTC))}
            deleted = [h for h in wanted if h in gone]
            if deleted:
                await conn.execute(q.NOTIFY, q.CHANNEL, deleted)
            return deleted

        return await self._run(tx) if wanted else []

    async def deleted_at(self, token_hash: str) -> datetime | None:
        when: datetime | None = await self._run(
            lambda conn: conn.fetchval(q.DELETED_AT, token_hash), transaction=False)
        return when

    async def list_keys(self, limit: int = 100, offset: int = 0,
                        key_alias: str | None = None) -> list[KeyRecord]:
        c.check_page(limit, offset)
        sql, args = ((q.LIST_KEYS, (limit, offset)) if key_alias is None
                     else (q.LIST_KEYS_ALIAS, (limit, offset, key_alias)))
        rows = await self._run(
            lambda conn: conn.fetch(sql, *args, timeout=self._batch),
            transaction=False, deadline=self._batch)
        return [r.key_record(row) for row in rows]

    async def count_keys(self, key_alias: str | None = None) -> int:
        sql, args = ((q.COUNT_KEYS, ()) if key_alias is None
                     else (q.COUNT_KEYS_ALIAS, (key_alias,)))
        count: int = await self._run(lambda conn: conn.fetchval(sql, *args),
                                     transaction=False)
        return count

    # spend -------------------------------------------------------------------
    async def record(self, rows: Sequence[LedgerRow],
                     settle: Mapping[str, str] | None = None) -> int:
        unique = c.check_rows(rows)
        settled = sorted(settle or {})
        if not unique and not settled:
            return 0
        keys = sorted({row.key_hash for row in unique if row.key_hash is not None}
                      | set((settle or {}).values()))
        args = (r.ledger_json(unique), keys, settled)
        added: int = await self._run(
            lambda conn: conn.fetchval(q.RECORD, *args, timeout=self._batch),
            transaction=False, deadline=_SPEND_TIMEOUT)
        return added

    async def reserve(self, token_hash: str, request_id: str, amount: Decimal,
                      budget: Decimal, partial: bool = False) -> Decimal | None:
        amount = c.check_amount(amount)
        limit = quantize(budget)

        async def run(conn: asyncpg.Connection) -> Decimal | None:
            taken = await conn.fetchval(q.RESERVE, token_hash, request_id, amount, limit,
                                        partial, datetime.now(UTC))
            if taken is not None:
                return r.usd(taken)
            # refused, or this request_id was reserved already: a retried reserve()
            # returns the open reservation (read in a fresh snapshot: also one committed
            # by a concurrent call with the same request_id while this one waited)
            prior = await conn.fetchrow(q.RESERVATION, request_id)
            if prior is None or prior["token_hash"] != token_hash:
                return None
            return r.usd(prior["amount"])

        return await self._run(run, transaction=False)

    async def release(self, request_ids: Sequence[str]) -> None:
        ids = sorted(set(request_ids))
        if ids:
            await self._run(lambda conn: conn.execute(q.RELEASE, ids), transaction=False)

    async def expire_reservations(self, older_than: datetime) -> int:
        cutoff = c.aware(older_than, "older_than")
        status = await self._run(
            lambda conn: conn.execute(q.EXPIRE_RESERVATIONS, cutoff, timeout=self._batch),
            transaction=False, deadline=self._batch)
        return int(status.rsplit(" ", 1)[-1])

    # reports -----------------------------------------------------------------
    async def _report(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run(
            lambda conn: conn.fetch(sql, *args, timeout=self._batch),
            transaction=False, deadline=self._batch)
        return rows

    async def spend_by_key(self, since: datetime | None = None,
                           until: datetime | None = None) -> list[KeySpend]:
        if since is None and until is None:
            rows = await self._report(q.SPEND_BY_KEY)
        else:
            rows = await self._report(q.SPEND_BY_KEY_IN, *r.time_range(since, until))
        return [r.key_spend(row) for row in rows]

    async def spend_by_model(self, since: datetime | None = None,
                             until: datetime | None = None,
                             token_hash: str | None = None) -> list[ModelSpend]:
        bounds = r.time_range(since, until)
        rows = await (self._report(q.SPEND_BY_MODEL, *bounds) if token_hash is None
                      else self._report(q.SPEND_BY_MODEL_FOR_KEY, *bounds, token_hash))
        return [r.model_spend(row) for row in rows]

    async def spend_by_day(self, since: datetime | None = None, until: datetime | None = None,
                           token_hash: str | None = None) -> list[DaySpend]:
        bounds = r.time_range(since, until)
        rows = await (self._report(q.SPEND_BY_DAY, *bounds) if token_hash is None
                      else self._report(q.SPEND_BY_DAY_FOR_KEY, *bounds, token_hash))
        return [DaySpend(day=row[0], spend=quantize(row[1]), requests=row[2],
                         prompt_tokens=row[3], completion_tokens=row[4]) for row in rows]

    async def spend_logs(self, token_hash: str | None = None, since: datetime | None = None,
                         until: datetime | None = None, limit: int = 100,
                         offset: int = 0) -> list[LedgerRow]:
        c.check_page(limit, offset)
        bounds = r.time_range(since, until)
        rows = await (self._report(q.SPEND_LOGS, *bounds, limit, offset) if token_hash is None
                      else self._report(q.SPEND_LOGS_FOR_KEY, *bounds, limit, offset,
                                        token_hash))
        return [r.ledger_row(row) for row in rows]

    async def spend_log(self, request_id: str) -> LedgerRow | None:
        rows = await self._report(q.SPEND_LOG_BY_ID, request_id)
        return r.ledger_row(rows[0]) if rows else None

    async def spend_logs_by_response_id(self, response_id: str,
                                        limit: int = 100) -> list[LedgerRow]:
        rows = await self._report(q.SPEND_LOGS_BY_RESPONSE_ID, response_id, limit)
        return [r.ledger_row(row) for row in rows]

    # replicas ----------------------------------------------------------------
    async def listen(self, callback: KeyChangeCallback) -> None:
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        if self._listener is not None:
            raise RuntimeError("listen() was already called on this store")
        self._listener = KeyChangeListener(self.url, callback,
                                           connect_timeout=self._connect_timeout)
        await self._listener.start()

    @property
    def listening(self) -> bool:
        return self._listener is not None and self._listener.listening
