"""Database faults as the operator sees them: one line when one starts, one when it ends.

A request that meets an unavailable database is answered 503
``database_unavailable`` wherever that happens (key lookup, budget reservation,
admin routes); the error middleware then calls :meth:`DatabaseWatch.fault`. The
first fault while the database was thought healthy logs ``database_fault`` (the
backend, the route that met it, and the reason a ping gives: the store's own,
credential-free message), then probes the database with ``ping()`` every
``interval`` seconds until it answers, and logs ``database_recovered`` with how
long it was down. Faults during an outage add nothing to the log, so a flood of
503s is two lines. The spend writer logs its own fault and recovery
(:mod:`gwd.spend`): it meets the database without any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .events import emit
from .store.base import Store

PROBE_INTERVAL = 1.0


class DatabaseWatch:
    def __init__(self, store: Store, interval: float = PROBE_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self.down_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    def fault(self, during: str) -> None:
        """A request could not use the database (``during``: the route it was on)."""
        if self.down_since is not None:
            return
        self.down_since = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._watch(during[:200]),
                                                            name="gwd-dbwatch")

    async def _ping(self) -> str | None:
        """None if the database answers, else why not."""
        try:
            await self.store.ping()
        except Exception as exc:  # StoreUnavailable, or anything a broken driver raises
            return str(exc) or type(exc).__name__
        return None

    async def _watch(self, during: str) -> None:
        reason = await self._ping()
        emit(logging.ERROR, "database_fault", backend=self.store.backend, during=during,
             reason=reason or "a request could not use it; the next ping answered")
        while reason is not None:
            await asyncio.sleep(self.interval)
            reason = await self._ping()
        down = time.monotonic() - (self.down_since or time.monotonic())
        emit(logging.INFO, "database_recovered", backend=self.store.backend,
             down_seconds=round(down, 3))
        self.down_since = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
