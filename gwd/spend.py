"""The ONLY writer of spend: ledger rows and key counters, buffered and flushed in batches.

``add(row)`` is synchronous and cheap (the hot path appends to memory). A
background task flushes the buffer every ``interval`` seconds — sooner when it
grows — through ``Store.record``, which writes the rows and the keys' counters
in one transaction and skips any ``request_id`` already written, so a retried
flush can never count twice. Budget reservations of the flushed calls are
settled in that same transaction.

Guarantees: a row is in the buffer before its response is finished; ``flush()``
(awaited by ``/key/info`` and the spend reports) makes every added row visible in
the store; ``close()`` flushes everything on a clean stop. While the store is
unreachable, rows stay in memory and are retried; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .store.base import LedgerRow, Store, StoreUnavailable

log = logging.getLogger("gwd.spend")

FLUSH_AT_ROWS = 500
MAX_BATCH = 2000
RETRY_DELAY = 0.5


class SpendRecorder:
    def __init__(self, store: Store, interval: float = 0.1) -> None:
        self.store = store
        self.interval = interval
        self._rows: list[LedgerRow] = []
        self._settle: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.failures = 0
        self.written = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add(self, row: LedgerRow, reserved: bool = False) -> None:
        """Buffer one ledger row (and close its budget reservation when flushed)."""
        self._rows.append(row)
        if reserved and row.key_hash is not None:
            self._settle[row.request_id] = row.key_hash
        if len(self._rows) >= FLUSH_AT_ROWS:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gwd-spend-flusher")

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except StoreUnavailable:
                await asyncio.sleep(RETRY_DELAY)
            except Exception:  # never let the flusher die; the rows stay buffered
                log.exception("spend flush failed; will retry")
                await asyncio.sleep(RETRY_DELAY)

    async def flush(self) -> None:
        """Write everything buffered so far. Raises StoreUnavailable (rows kept)."""
        async with self._lock:
            while self._rows:
                batch = self._rows[:MAX_BATCH]
                settle = {r.request_id: self._settle[r.request_id]
                          for r in batch if r.request_id in self._settle}
                try:
                    await self.store.record(batch, settle)
                except BaseException:
                    self.failures += 1
                    raise
                del self._rows[: len(batch)]
                for request_id in settle:
                    self._settle.pop(request_id, None)
                self.written += len(batch)

    async def close(self) -> None:
        """Stop the background task and flush what is left (retrying briefly)."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _ in range(10):
            try:
                await self.flush()
                return
            except StoreUnavailable:
                await asyncio.sleep(RETRY_DELAY)
        if self._rows:
            log.error("spend: %d ledger rows could not be written at shutdown", len(self._rows))
