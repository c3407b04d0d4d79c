"""Key-change notifications between processes sharing one SQLite file: a light poll.

SQLite has no NOTIFY. Migration ``0006_key_epoch`` keeps a one-row counter that
triggers bump in the same transaction as every insert, update and delete of a
key, so a change becomes visible exactly when its bump does. :class:`EpochWatcher`
reads the counter every ``interval`` seconds (one primary-key lookup, run by the
store on its own thread) and calls ``callback(DROP_ALL)`` whenever it differs
from the value read before: the counter says *that* keys changed, not which, so
the whole key cache goes. Unlike a fingerprint of timestamps or row counts, it
moves for two updates landing in the same microsecond, for a key deleted and
re-inserted between two polls, and whatever the clocks do. Changes this process
made are seen too (harmless: its cache is just reloaded).

A failed read (the database locked beyond busy_timeout, the file unavailable)
is simply tried again at the next tick: ``listening`` is False until a read
succeeds, and one warning is logged only if reads keep failing for
``warn_after`` seconds (then one line when they work again). Nothing is missed
meanwhile: the first read that succeeds compares against the last value seen.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from .base import DROP_ALL, KeyChangeCallback

log = logging.getLogger("gwd.store")


class EpochWatcher:
    """Poll ``read()`` (the key epoch) and tell ``callback`` when it moves, until :meth:`stop`.

    An async callback is awaited before the next poll (so at most one runs at a
    time, and :meth:`stop` leaves none behind); one that raises is logged."""

    def __init__(self, read: Callable[[], Awaitable[int]], callback: KeyChangeCallback, *,
                 interval: float = 0.5, warn_after: float = 10.0) -> None:
        if not interval > 0:
            raise ValueError("the poll interval must be a positive number of seconds")
        self._read = read
        self._callback = callback
        self._interval = interval
        self._warn_after = warn_after
        self._last: int | None = None
        self._listening = False
        self._failing_since: float | None = None
        self._warned = False
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def listening(self) -> bool:
        """True while polling and the last read succeeded."""
        return self._listening

    async def start(self) -> None:
        """Read the epoch once (the baseline), then poll in a task; return after that
        first read whatever its outcome (if it failed, the first read that succeeds
        later calls back ``DROP_ALL``, as changes may have been missed)."""
        if self._task is not None or self._stopped:
            raise RuntimeError("a watcher starts once")
        await self._poll(first=True)
        if self._stopped:  # stop() came during that first read
            self._listening = False
            return
        self._task = asyncio.create_task(self._run(), name="gw-sqlite-watch")

    async def stop(self) -> None:
        """Stop polling and wait for the task (and a callback it was running) to end."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._listening = False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._poll()

    async def _poll(self, first: bool = False) -> None:
        try:
            epoch = await self._read()
        except Exception as exc:  # locked, unavailable, closed: try again next tick
            self._failed(exc)
            return
        self._recovered()
        previous, self._last = self._last, epoch
        if not first and epoch != previous:
            await self._deliver(DROP_ALL)

    async def _deliver(self, token_hash: str) -> None:
        try:
            result = self._callback(token_hash)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("key change callback failed")

    def _failed(self, exc: Exception) -> None:
        self._listening = False
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.debug("cannot read key changes from SQLite (retrying): %s", _describe(exc))
        if not self._warned and now - self._failing_since >= self._warn_after:
            self._warned = True
            log.warning("cannot read key changes from the SQLite database for %.1f s "
                        "(retrying every %g s): %s", now - self._failing_since,
                        self._interval, _describe(exc))

    def _recovered(self) -> None:
        if self._warned:
            log.info("reading key changes from the SQLite database again")
        self._failing_since = None
        self._warned = False
        self._listening = True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
