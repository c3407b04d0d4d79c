"""The ONLY writer of spend: ledger rows and key counters, buffered and flushed in batches.

``add(row)`` is synchronous and cheap (the hot path appends to memory). A
background task flushes the buffer every ``interval`` seconds — sooner when it
grows — through ``Store.record``, which writes the rows and the keys' counters
in one transaction and skips any ``request_id`` already written, so a retried
flush can never count twice. Budget reservations of the flushed calls are
settled in that same transaction.

A call that holds a budget reservation is also written through at once
(:meth:`SpendRecorder.settle`, awaited before its answer is sent): its ledger row, its
key's spend and the closing of its reservation in one ``Store.record``, so the next
call — on any replica — sees exactly budget minus spend, not a reservation waiting
for the next flush. If that write fails the row simply stays buffered; the flush
skips rows already written through (and ``record`` would skip them anyway).

Guarantees: a row is in the buffer before its response is finished; ``flush()``
(awaited by ``/key/info`` and the spend reports) makes every added row visible in
the store; ``close()`` flushes everything on a clean stop.

While the store is unavailable, nothing is dropped: each failed flush moves the
buffered rows to the durable :class:`~gwd.journal.SpendJournal` (local disk,
fsync'ed), and every ``interval`` after that the new rows follow them, while the
database is probed every ``RETRY_DELAY``. Once it answers, the buffer and then
the journal are written (the journal is also replayed at start). A SIGTERM
while the database is down therefore loses nothing; a SIGKILL loses the rows of
the last ``interval`` (up to the store's timeout, 2-5 s, while a flush waits on
a database that stays silent). Rows the journal cannot take (no journal, full, disk
error) stay in memory and are retried; at shutdown they are reported as lost.
Memory is bounded too: past ``MAX_BUFFERED`` rows, ``accepting`` turns False
and the policy refuses new calls (503) rather than serve calls it cannot bill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .events import emit
from .journal import JournalError, SpendJournal
from .store.base import LedgerRow, Store, StoreUnavailable

log = logging.getLogger("gwd.spend")

FLUSH_AT_ROWS = 500
MAX_BATCH = 2000
RETRY_DELAY = 0.5
MAX_BUFFERED = 200_000     # rows in memory before new calls are refused
CLOSE_RETRY = 5.0          # seconds close() keeps retrying rows the journal could not take
JOURNAL_ERROR_EVERY = 60.0  # seconds between two log lines about the same journal failure


class SpendRecorder:
    def __init__(self, store: Store, interval: float = 0.1,
                 journal: SpendJournal | None = None) -> None:
        self.store = store
        self.interval = interval
        self.journal = journal
        self._rows: list[LedgerRow] = []
        self._settle: dict[str, str] = {}
        self._through: set[str] = set()   # buffered rows already written through by settle()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._down = False
        self._journal_logged = -JOURNAL_ERROR_EVERY
        self.failures = 0
        self.written = 0
        self.journaled = 0
        self.written_through = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    @property
    def accepting(self) -> bool:
        """False while the buffer is full (the store and the journal both refuse rows)."""
        return len(self._rows) < MAX_BUFFERED

    @property
    def store_down(self) -> bool:
        """True since a flush failed with the store unavailable, until one succeeds."""
        return self._down

    def add(self, row: LedgerRow, reserved: bool = False) -> None:
        """Buffer one ledger row (and close its budget reservation when flushed)."""
        self._rows.append(row)
        if reserved and row.key_hash is not None:
            self._settle[row.request_id] = row.key_hash
        if len(self._rows) >= FLUSH_AT_ROWS:
            self._wake.set()

    async def settle(self, row: LedgerRow) -> bool:
        """Write a reserved call's row now, closing its reservation (see the module
        docstring). The row must already be buffered by :meth:`add`. Returns True when it
        reached the database; False leaves it to the flusher (database down or slow)."""
        key_hash = row.key_hash
        if self._down or key_hash is None or row.request_id not in self._settle:
            return False
        try:
            await self.store.record([row], {row.request_id: key_hash})
        except Exception as exc:
            log.debug("spend: write-through of %s failed (%s); left to the flush",
                      row.request_id, exc)
            return False
        if row.request_id in self._settle:  # still buffered: the flush can skip it
            self._through.add(row.request_id)
        self.written_through += 1
        return True

    async def start(self) -> None:
        """Replay what an earlier run left in the journal, then start the flusher."""
        if self.journal is not None and self.journal.pending:
            try:
                await self.journal.replay(self.store)
            except (StoreUnavailable, JournalError) as exc:
                log.warning("spend journal not replayed yet (%s); retrying in the background",
                            exc)
        self._task = asyncio.create_task(self._run(), name="gwd-spend-flusher")

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if woken (more rows, or close())."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _run(self) -> None:
        next_try = 0.0
        while not self._closed:
            await self._sleep(self.interval)
            if self._closed:
                return
            if self._down:  # keep new rows durable; probe the database now and then
                async with self._lock:
                    await self._spill()
                if time.monotonic() < next_try:
                    continue
                try:
                    await self.store.ping()  # cheap, short timeout, outside the lock
                except StoreUnavailable:
                    next_try = time.monotonic() + RETRY_DELAY
                    continue
            try:
                await self.flush()
            except StoreUnavailable:
                next_try = time.monotonic() + RETRY_DELAY
            except Exception:  # never let the flusher die; the rows stay buffered
                log.exception("spend flush failed; will retry")
                next_try = time.monotonic() + RETRY_DELAY

    async def flush(self) -> None:
        """Write everything buffered or journaled so far. Raises StoreUnavailable (rows kept:
        in the journal if it took them, else in memory)."""
        async with self._lock:
            try:
                await self._write_buffer()
                if self.journal is not None and self.journal.pending:
                    await self.journal.replay(self.store)
            except JournalError as exc:
                self._journal_error(exc, "its rows are written once it can be read")
            except StoreUnavailable as exc:
                if not self._down:
                    self._down = True
                    emit(logging.ERROR, "database_fault", backend=self.store.backend,
                         during="spend flush", reason=exc,
                         result="ledger rows go to the journal until it is back")
                await self._spill()
                raise
            if self._down:
                self._down = False
                emit(logging.INFO, "database_recovered", backend=self.store.backend,
                     during="spend flush", result="pending spend written")

    async def _write_buffer(self) -> None:
        while self._rows:
            batch = self._rows[:MAX_BATCH]
            through = self._through
            todo = [r for r in batch if r.request_id not in through] if through else batch
            settle = {r.request_id: self._settle[r.request_id]
                      for r in todo if r.request_id in self._settle}
            try:
                if todo:
                    await self.store.record(todo, settle)
            except BaseException:
                self.failures += 1
                raise
            del self._rows[: len(batch)]
            for request_id in settle:
                self._settle.pop(request_id, None)
            if through:
                for row in batch:
                    if row.request_id in through:
                        through.discard(row.request_id)
                        self._settle.pop(row.request_id, None)
            self.written += len(todo)

    async def _spill(self) -> bool:
        """Move the buffered rows to the journal (lock held). False if they stay in memory."""
        if not self._rows:
            return True
        if self.journal is None:
            return False
        rows = list(self._rows)
        try:
            await self.journal.append([(r, r.request_id in self._settle) for r in rows])
        except JournalError as exc:
            self._journal_error(exc, f"{len(rows)} ledger rows are kept in memory only until "
                                     "the database is back")
            return False
        del self._rows[: len(rows)]
        for row in rows:
            self._settle.pop(row.request_id, None)
            self._through.discard(row.request_id)
        self.journaled += len(rows)
        return True

    def _journal_error(self, exc: JournalError, consequence: str) -> None:
        now = time.monotonic()
        if now - self._journal_logged >= JOURNAL_ERROR_EVERY:
            self._journal_logged = now
            log.error("spend journal: %s; %s", exc, consequence)

    async def close(self) -> None:
        """Stop the background task and flush what is left: to the database, else to the
        journal; rows neither could take are retried for CLOSE_RETRY seconds."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + CLOSE_RETRY
        while True:
            try:
                await self.flush()
                return
            except StoreUnavailable:
                if not self._rows or time.monotonic() > deadline:
                    break
                await asyncio.sleep(RETRY_DELAY)
        if self._rows:
            log.error("spend: %d ledger rows could not be written at shutdown (database "
                      "unavailable and no journal could take them)", len(self._rows))
        elif self.journal is not None:
            log.warning("spend: the database is unavailable; pending ledger rows are in the "
                        "journal %s and will be written when gwd starts again",
                        self.journal.path)
