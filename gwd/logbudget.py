"""A bound on log volume: what clients can make gwd log is rate limited per logger.

Lines a client can provoke at will (an unparseable request, a broken connection,
an unexpected error on a route) go through :class:`LogBudget`: each logger may
write ``BURST`` lines per ``WINDOW`` seconds; past that its lines are counted,
not written, and the first line after the window says how many were dropped.
Log volume under abuse therefore stays at most ``BURST / WINDOW`` lines a second
per logger, whatever the request rate. Operator events (start, reload, cooldowns,
database faults) are rare by nature and not limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WINDOW = 10.0
BURST = 20
#: the loggers clients can drive: aiohttp's, asyncio's, gwd's edge, upstream failures
NOISY = ("aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio", "gwd.http",
         "gwd.events.upstream")


class LogBudget(logging.Filter):
    """Let through ``burst`` records per ``window`` seconds; count the rest."""

    def __init__(self, burst: int = BURST, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst, self.window, self.clock = burst, window, clock
        self.started = -window
        self.passed = 0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        if now - self.started >= self.window:
            if self.dropped:
                record.msg = (f"{record.getMessage()} [{self.dropped} similar line(s) "
                              f"dropped in the last {self.window:g} s]")
                record.args = ()
            self.started, self.passed, self.dropped = now, 0, 0
        if self.passed < self.burst:
            self.passed += 1
            return True
        self.dropped += 1
        return False


def install(names: tuple[str, ...] = NOISY) -> None:
    """Put one :class:`LogBudget` on each named logger (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LogBudget) for f in logger.filters):
            logger.addFilter(LogBudget())
