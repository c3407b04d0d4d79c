"""The embedded SQLite backend: stdlib ``sqlite3`` on ONE dedicated thread.

Every call runs on a single-worker executor that owns the connection, so the
event loop never waits and calls from one process never contend with each
other; results come back as plain values, never as cursors (a cursor freed on
another thread resets its statement there). One exception, for speed: ledger
batches are first tried on the event loop's own connection, which never waits
for a lock and hands anything it cannot do at once to the thread
(``sqlite_inline``). Several gwd processes may share
one file: the database is in WAL mode (readers never block the writer), every
write is a ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front,
so no transaction fails half-way on a lock upgrade), and ``busy_timeout`` (5 s
by default) makes a writer wait for another process's transaction instead of
failing.

``synchronous=NORMAL`` is the default: in WAL mode it never corrupts the file
and loses nothing when a process crashes (even ``kill -9``); only a power cut
or kernel crash may roll back the last commits since the previous checkpoint.
``FULL`` would add an fsync to every commit, i.e. to every budget reservation
on the request path, for protection the in-memory spend buffer does not have
anyway. Pass ``synchronous="FULL"`` to choose it.

Storage: money as INTEGER pico-dollars, times as INTEGER microseconds since
the epoch (UTC), JSON as text (``sqlite_schema``: tables and migrations;
``sqlite_sql``: statements; ``sqlite_rows``: row codecs). One caveat of INTEGER
money: a single key's spend is capped at about 9.2 million USD (int64
pico-dollars); past it the write fails loudly rather than losing exactness.
The file is created with mode 0600 (the WAL and shared-memory files inherit
it) and its directory with 0700 if missing (``sqlite_conn``). Errors meaning
"cannot reach or write the database" become :class:`StoreUnavailable`.

Processes sharing the file learn of each other's key changes through ``listen``:
triggers count every key write in ``gw_key_epoch`` and ``sqlite_watch`` polls
that counter every ``poll_interval`` seconds (0.5 by default) on the store's
thread, calling back ``DROP_ALL`` when it moved.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from ..money import from_units, quantize, to_units
from . import _common as c
from . import sqlite_rows as r
from . import sqlite_sql as q
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
from .sqlite_conn import SYNCHRONOUS, connect, transaction, unavailable
from .sqlite_inline import InlineWriter
from .sqlite_watch import EpochWatcher
from .tenants_sqlite import SQLiteTenants

T = TypeVar("T")
log = logging.getLogger("gwd.store")

_SQLITE_CONSTRAINT_PRIMARYKEY = 1555
_SQLITE_CONSTRAINT_UNIQUE = 2067


class SQLiteStore(Store):
    """The store in one SQLite file (see the module docstring)."""

    backend = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 5000,
                 synchronous: str = "NORMAL", poll_interval: float = 0.5) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError("synchronous must be NORMAL or FULL")
        if not poll_interval > 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        self.poll_interval = poll_interval
        self._watcher: EpochWatcher | None = None
        self.path = os.fspath(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._inline: InlineWriter | None = None  # ledger batches on the loop (fast path)
        self._checkpoint: asyncio.Task[None] | None = None
        self.tenants = SQLiteTenants(self)

    # plumbing ----------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        executor = self._executor
        if executor is None:
            raise StoreUnavailable("the SQLite store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(fn, *args))
        except sqlite3.IntegrityError as exc:  # a CHECK: int64 money overflowed
            raise ValueError(f"the SQLite store refused a value: {exc}") from exc
        except sqlite3.Error as exc:
            if unavailable(exc):
                raise StoreUnavailable(f"SQLite database {self.path!r}: {exc}") from exc
            raise
        except OverflowError:
            raise ValueError("an amount is too large for SQLite's 64-bit integers") from None
        except OSError as exc:
            raise StoreUnavailable(f"SQLite database {self.path!r}: {exc}") from exc
        except RuntimeError as exc:  # executor shut down by a concurrent close()
            raise StoreUnavailable("the SQLite store is closed") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the SQLite store is not open")
        return self._conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one BEGIN IMMEDIATE transaction (on the store's thread)."""
        return transaction(self._db(), fn)

    # lifecycle ---------------------------------------------------------------
    def _open_sync(self) -> None:
        self._conn = connect(self.path, self.busy_timeout_ms, self.synchronous)

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def open(self) -> None:
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gw-sqlite")
        self._executor = executor
        try:
            await self._call(self._open_sync)
            if self.path != ":memory:":  # migrated by now; opened on the loop's thread
                self._inline = InlineWriter(self.path, self.synchronous)
        except BaseException:
            await self._call(self._close_sync)
            self._executor = None
            executor.shutdown(wait=True)
            raise

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:  # first: its reads need the executor
            await watcher.stop()
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        checkpoint, self._checkpoint = self._checkpoint, None
        if checkpoint is not None:
            await asyncio.gather(checkpoint, return_exceptions=True)
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._call(lambda: self._db().execute("SELECT 1").fetchone())

    # keys --------------------------------------------------------------------
    async def insert_key(self, record: KeyRecord) -> None:
        fields = c.normalise_key(record)
        updated = fields["updated_at"]
        params = (fields["token_hash"], fields["key_name"], *r.key_params(fields),
                  c.to_us(fields["created_at"]), None if updated is None else c.to_us(updated),
                  fields["key_id"])

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(q.INSERT_KEY, params)
            if fields["blocked"]:
                conn.execute(q.SET_BLOCKED, (1, fields["token_hash"]))

        def run() -> None:
            try:
                self._write(insert)
            except sqlite3.IntegrityError as exc:
                code = getattr(exc, "sqlite_errorcode", None)
                if code == _SQLITE_CONSTRAINT_PRIMARYKEY:
                    raise KeyExists("a key with this hash already exists") from None
                if code == _SQLITE_CONSTRAINT_UNIQUE:
                    raise KeyExists("a key with this key_id already exists") from None
                raise

        await self._call(run)

    async def get_key(self, token_hash: str) -> KeyRecord | None:
        def run() -> KeyRecord | None:
            row = self._db().execute(q.SELECT_KEY, (token_hash,)).fetchone()
            return None if row is None else r.key_record(row)

        return await self._call(run)

    async def get_key_by_id(self, key_id: str) -> KeyRecord | None:
        def run() -> KeyRecord | None:
            row = self._db().execute(q.SELECT_KEY_BY_ID, (key_id,)).fetchone()
            return None if row is None else r.key_record(row)

        return await self._call(run)

    async def update_key(self, token_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        clean = c.normalise_changes(changes)

        def tx(conn: sqlite3.Connection) -> KeyRecord | None:
            row = conn.execute(q.SELECT_KEY, (token_hash,)).fetchone()
            if row is None:
                return None
            merged = c.merge(r.key_record(row), clean)
            conn.execute(q.UPDATE_KEY, (*r.key_params(merged), r.now_us(), token_hash))
            if "blocked" in clean:
                conn.execute(q.SET_BLOCKED, (int(clean["blocked"]), token_hash))
            return r.key_record(conn.execute(q.SELECT_KEY, (token_hash,)).fetchone())

        return await self._call(self._write, tx)

    async def rekey(self, token_hash: str, new_hash: str, key_name: str) -> KeyRecord | None:
        def tx(conn: sqlite3.Connection) -> KeyRecord | None:
            if conn.execute(q.SELECT_KEY, (token_hash,)).fetchone() is None:
                return None
            if conn.execute(q.SELECT_KEY, (new_hash,)).fetchone() is not None:
                raise KeyExists("a key with this hash already exists")
            conn.execute(q.REKEY_RESERVATIONS, (new_hash, token_hash))
            conn.execute(q.REKEY_KEY, (new_hash, key_name, r.now_us(), token_hash))
            conn.execute(q.REKEY_LEDGER, (new_hash, token_hash))
            return r.key_record(conn.execute(q.SELECT_KEY, (new_hash,)).fetchone())

        if not new_hash or new_hash == token_hash:
            raise ValueError("new_hash must be a different non-empty hash")
        return await self._call(self._write, tx)

    async def delete_keys(self, token_hashes: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(token_hashes))

        def tx(conn: sqlite3.Connection) -> list[str]:
            now = r.now_us()
            deleted: list[str] = []
            for token_hash in wanted:
                conn.execute(q.TOMBSTONE, (now, token_hash))
                if conn.execute(q.DELETE_KEY, (token_hash,)).rowcount > 0:
                    deleted.append(token_hash)
            return deleted

        return await self._call(self._write, tx) if wanted else []

    async def deleted_at(self, token_hash: str) -> datetime | None:
        def run() -> datetime | None:
            row = self._db().execute(q.DELETED_AT, (token_hash,)).fetchone()
            return None if row is None else c.from_us(row[0])

        return await self._call(run)

    async def list_keys(self, limit: int = 100, offset: int = 0,
                        key_alias: str | None = None) -> list[KeyRecord]:
        c.check_page(limit, offset)
        sql, args = ((q.LIST_KEYS, (limit, offset)) if key_alias is None
                     else (q.LIST_KEYS_ALIAS, (key_alias, limit, offset)))
        return await self._call(lambda: [
            r.key_record(row) for row in self._db().execute(sql, args)])

    async def count_keys(self, key_alias: str | None = None) -> int:
        sql, args = ((q.COUNT_KEYS, ()) if key_alias is None
                     else (q.COUNT_KEYS_ALIAS, (key_alias,)))
        count: int = await self._call(lambda: self._db().execute(sql, args).fetchone()[0])
        return count

    # spend -------------------------------------------------------------------
    async def record(self, rows: Sequence[LedgerRow],
                     settle: Mapping[str, str] | None = None) -> int:
        unique = c.check_rows(rows)
        params = [r.ledger_params(row) for row in unique]
        settled = [(request_id,) for request_id in sorted(settle or {})]
        if not params and not settled:
            return 0

        def tx(conn: sqlite3.Connection) -> int:
            ids = c.dumps([row.request_id for row in unique])
            found = {rid for (rid,) in conn.execute(q.LEDGER_EXISTING, (ids,)).fetchall()}
            new = [i for i, row in enumerate(unique) if row.request_id not in found]
            inserted = [unique[i] for i in new]
            count = conn.executemany(q.INSERT_LEDGER, [params[i] for i in new]).rowcount
            if count != len(new):  # cannot happen while BEGIN IMMEDIATE holds writers off
                raise sqlite3.IntegrityError(f"ledger rows: {count} of {len(new)} were new")
            conn.executemany(q.ADD_SPEND, [
                (to_units(d.spend), d.requests, key_hash)
                for key_hash, d in c.per_key(inserted).items()])
            conn.executemany(q.DELETE_RESERVATION, settled)
            return len(inserted)

        inline = self._inline
        if inline is not None:
            done, count = inline.run(len(params) + len(settled), tx)
            if done:
                if inline.checkpoint_due():
                    self._checkpoint_soon()
                return count or 0
        return await self._call(self._write, tx)

    def _checkpoint_soon(self) -> None:
        """A PASSIVE checkpoint on the store's thread (the inline writer never runs one)."""
        if self._checkpoint is not None and not self._checkpoint.done():
            return

        async def run() -> None:
            try:
                await self._call(lambda: self._db().execute(q.CHECKPOINT).fetchall())
            except (StoreUnavailable, sqlite3.Error) as exc:
                log.warning("SQLite checkpoint failed: %s", exc)

        self._checkpoint = asyncio.get_running_loop().create_task(run())

    async def reserve(self, token_hash: str, request_id: str, amount: Decimal,
                      budget: Decimal, partial: bool = False) -> Decimal | None:
        amount = c.check_amount(amount)
        params = (token_hash, request_id, r.bounded_units(amount, r.INT64_MAX),
                  r.bounded_units(quantize(budget), r.INT64_MAX - 1), int(partial),
                  r.now_us())

        def tx(conn: sqlite3.Connection) -> Decimal | None:
            taken = conn.execute(q.RESERVE, params).fetchall()
            if taken:
                return from_units(taken[0][0])
            prior = conn.execute(q.RESERVATION, (request_id,)).fetchone()
            if prior is None or prior[0] != token_hash:  # refused (or another key's id)
                return None
            return from_units(prior[1])  # a retried reserve() is a no-op

        return await self._call(self._write, tx)

    async def release(self, request_ids: Sequence[str]) -> None:
        ids = [(request_id,) for request_id in sorted(set(request_ids))]

        def tx(conn: sqlite3.Connection) -> None:
            # No cursor may leave the store's thread: freed on the event loop's thread,
            # it resets its statement there, racing this thread running the same cached
            # statement again (sqlite3.InterfaceError: "bad parameter or other API misuse").
            conn.executemany(q.DELETE_RESERVATION, ids).close()

        if ids:
            await self._call(self._write, tx)

    async def expire_reservations(self, older_than: datetime) -> int:
        cutoff = c.to_us(older_than)
        return await self._call(self._write, lambda conn: conn.execute(
            q.EXPIRE_RESERVATIONS, (cutoff,)).rowcount)

    # reports -----------------------------------------------------------------
    async def spend_by_key(self, since: datetime | None = None,
                           until: datetime | None = None) -> list[KeySpend]:
        args: tuple[int, ...] = ()
        if since is None and until is None:
            sql = q.SPEND_BY_KEY
        else:  # the counters cannot say what fell in a window: sum the ledger
            sql, args = q.SPEND_BY_KEY_IN, r.time_range(since, until)

        def run() -> list[KeySpend]:
            return sorted((r.key_spend(row) for row in self._db().execute(sql, args)),
                          key=lambda k: (-k.spend, k.token_hash))

        return await self._call(run)

    async def spend_by_model(self, since: datetime | None = None,
                             until: datetime | None = None,
                             token_hash: str | None = None) -> list[ModelSpend]:
        bounds = r.time_range(since, until)
        sql, args = ((q.SPEND_BY_MODEL, bounds) if token_hash is None
                     else (q.SPEND_BY_MODEL_FOR_KEY, (token_hash, *bounds)))

        def run() -> list[ModelSpend]:
            result = [ModelSpend(model_group=group, deployment=deployment, provider=provider,
                                 spend=r.money_sum(high, low), requests=requests,
                                 prompt_tokens=prompt, completion_tokens=completion)
                      for group, deployment, provider, high, low, requests, prompt, completion
                      in self._db().execute(sql, args)]
            result.sort(key=lambda m: (-m.spend, m.model_group, m.deployment, m.provider))
            return result

        return await self._call(run)

    async def spend_by_day(self, since: datetime | None = None, until: datetime | None = None,
                           token_hash: str | None = None) -> list[DaySpend]:
        bounds = r.time_range(since, until)
        sql, args = ((q.SPEND_BY_DAY, bounds) if token_hash is None
                     else (q.SPEND_BY_DAY_FOR_KEY, (token_hash, *bounds)))

        def run() -> list[DaySpend]:
            return [DaySpend(day=day, spend=r.money_sum(high, low), requests=requests,
                             prompt_tokens=prompt, completion_tokens=completion)
                    for day, high, low, requests, prompt, completion
                    in self._db().execute(sql, args)]

        return await self._call(run)

    async def spend_logs(self, token_hash: str | None = None, since: datetime | None = None,
                         until: datetime | None = None, limit: int = 100,
                         offset: int = 0) -> list[LedgerRow]:
        c.check_page(limit, offset)
        bounds = r.time_range(since, until)
        sql, args = ((q.SPEND_LOGS, (*bounds, limit, offset)) if token_hash is None
                     else (q.SPEND_LOGS_FOR_KEY, (token_hash, *bounds, limit, offset)))
        return await self._call(lambda: [
            r.ledger_row(row) for row in self._db().execute(sql, args)])

    async def spend_log(self, request_id: str) -> LedgerRow | None:
        def run() -> LedgerRow | None:
            row = self._db().execute(q.SPEND_LOG_BY_ID, (request_id,)).fetchone()
            return None if row is None else r.ledger_row(row)

        return await self._call(run)

    async def spend_logs_by_response_id(self, response_id: str,
                                        limit: int = 100) -> list[LedgerRow]:
        def run() -> list[LedgerRow]:
            rows = self._db().execute(q.SPEND_LOGS_BY_RESPONSE_ID,
                                      (response_id, limit)).fetchall()
            return [r.ledger_row(row) for row in rows]

        return await self._call(run)

    # replicas ----------------------------------------------------------------
    async def listen(self, callback: KeyChangeCallback) -> None:
        """Poll the key epoch every ``poll_interval`` seconds (see :mod:`.sqlite_watch`)
        and call ``callback(DROP_ALL)`` after any process changed a key."""
        if self._executor is None:
            raise StoreUnavailable("the SQLite store is not open")
        if self._watcher is not None:
            raise RuntimeError("listen() was already called on this store")
        self._watcher = EpochWatcher(self._read_epoch, callback, interval=self.poll_interval)
        await self._watcher.start()

    async def _read_epoch(self) -> int:
        epoch: int = await self._call(lambda: self._db().execute(q.KEY_EPOCH).fetchone()[0])
        return epoch

    @property
    def listening(self) -> bool:
        return self._watcher is not None and self._watcher.listening
