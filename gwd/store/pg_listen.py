"""Key-change notifications for PostgreSQL replicas: one LISTENing connection, kept alive.

:class:`KeyChangeListener` owns a dedicated connection (outside the pool) that
LISTENs on ``gw_key_changes``; each NOTIFY payload is a token_hash handed to the
callback. A supervisor task watches the connection (termination callback plus
a periodic ``SELECT 1``, which also catches a silently dead network). When it
drops, ``listening`` turns False and the supervisor reconnects with exponential
backoff; once LISTEN is active again the callback receives ``DROP_ALL`` ("*"),
because notifications sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import asyncpg

from .base import DROP_ALL, KeyChangeCallback
from .pg_sql import CHANNEL

log = logging.getLogger("gwd.store")

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
           asyncpg.InternalClientError)


class KeyChangeListener:
    """Deliver key-change notifications to ``callback`` until :meth:`stop`."""

    def __init__(self, url: str, callback: KeyChangeCallback, *, connect_timeout: float = 5.0,
                 ping_interval: float = 10.0, initial_backoff: float = 0.1,
                 max_backoff: float = 5.0) -> None:
        self._url = url
        self._callback = callback
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._listening = False
        self._attempted = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[Any]] = set()

    @property
    def listening(self) -> bool:
        return self._listening

    async def start(self) -> None:
        """Start supervising; return after the first connection attempt."""
        self._supervisor = asyncio.create_task(self._run(), name="gw-store-listen")
        await self._attempted.wait()

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        pending = list(self._pending)
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._listening = False

    # delivery ----------------------------------------------------------------
    def _deliver(self, token_hash: str) -> None:
        try:
            result = self._callback(token_hash)
        except Exception:
            log.exception("key change callback failed")
            return
        if inspect.isawaitable(result):
            future = asyncio.ensure_future(result)
            self._pending.add(future)
            future.add_done_callback(self._finished)

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("key change callback failed", exc_info=future.exception())

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._deliver(payload)

    # supervision -------------------------------------------------------------
    async def _run(self) -> None:
        delay = self._initial_backoff
        first = True
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._url, timeout=self._connect_timeout,
                    server_settings={"application_name": "gwd-listen"})
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
            except _ERRORS as exc:
                log.warning("cannot listen for key changes (retrying in %.1fs): %s", delay,
                            _describe(exc))
                if conn is not None:
                    await _close(conn)
                first = False
                self._attempted.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            self._listening = True
            delay = self._initial_backoff
            if not first:
                self._deliver(DROP_ALL)
            first = False
            self._attempted.set()
            try:
                await self._watch(conn, lost)
            except _ERRORS as exc:
                log.warning("key change listener lost its connection: %s", _describe(exc))
            finally:
                self._listening = False
                await _close(conn)

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone (raise if a ping fails)."""
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), self._ping_interval)
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=self._connect_timeout)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__  # a timeout has no message


async def _close(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), 2.0)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except _ERRORS:
        conn.terminate()
