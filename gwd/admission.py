"""Proxy slots: how many calls one process serves at once, and each caller's share of them.

A call takes a slot only once its body has been read and validated (a caller
trickling a body, or sending one gwd refuses, holds nothing), and gives it back
when its answer ends. Two limits apply, both per process:

* ``general_settings.global_max_parallel_requests`` (1024 by default, LiteLLM's
  setting): past it a call gets 503 ``overloaded`` with ``Retry-After: 1``.
* ``general_settings.max_parallel_requests_per_key_share`` (0.5 by default): one
  caller (a virtual key, or the master key) may hold at most that fraction of the
  slots (rounded up, at least one), so one key can never take them all and starve
  the others. Past it the call gets 429 ``parallel_request_limit`` with
  ``Retry-After: 1`` (LiteLLM's status and wording for its parallel-request limit).
  ``1`` switches the share off.

Neither refusal reaches an upstream or writes a ledger row. Counting is two
integer updates per call on the event loop's thread: nothing is locked and no
database is asked.
"""

from __future__ import annotations

import math

from .errors import RateLimited, ServiceUnavailable

RETRY_AFTER = {"Retry-After": "1"}


class Slots:
    """In-flight proxy calls, in total and per caller (a key's hash, or ``"master"``)."""

    __slots__ = ("by_caller", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self.by_caller: dict[str, int] = {}

    @staticmethod
    def per_caller(limit: int, share: float) -> int:
        """The most slots one caller may hold under ``limit`` and ``share``."""
        return max(1, math.ceil(limit * share))

    def take(self, caller: str, limit: int, share: float) -> None:
        """Take a slot for ``caller`` or raise the refusal (see the module docstring)."""
        if self.in_flight >= limit:
            raise ServiceUnavailable(f"gwd is serving its limit of {limit} concurrent calls; "
                                     "retry shortly.", code="overloaded",
                                     headers=dict(RETRY_AFTER))
        held = self.by_caller.get(caller, 0)
        if share < 1 and held >= self.per_caller(limit, share):
            raise RateLimited(f"Max parallel request limit reached: this key already has "
                              f"{held} calls in flight, its share of this gateway's "
                              f"{limit}; retry when one ends.", code="parallel_request_limit",
                              headers=dict(RETRY_AFTER))
        self.by_caller[caller] = held + 1
        self.in_flight += 1

    def give(self, caller: str) -> None:
        """Give back the slot ``caller`` took."""
        self.in_flight -= 1
        held = self.by_caller[caller] - 1
        if held:
            self.by_caller[caller] = held
        else:
            del self.by_caller[caller]
