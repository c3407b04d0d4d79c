"""Values derived from long-lived objects, memoised per object on the hot path.

Deployments and key records are immutable and live until a config reload or a
cache refresh replaces them; what a call derives from them (a deployment's
timeouts, a key's identity and expiry) need not be rebuilt per call.
:class:`IdentityMemo` keys by ``id(obj)`` — no hashing of the object's fields —
and keeps the object itself beside its value, so an id reused by a new object
after the old one was freed can never hand back the old value. It is bounded:
past ``limit`` entries (left behind by reloads and refreshes) it starts afresh.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

O = TypeVar("O")  # noqa: E741  (the object a value is derived from)
V = TypeVar("V")


class IdentityMemo(Generic[O, V]):
    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._entries: dict[tuple[int, Hashable], tuple[O, V]] = {}

    def get(self, obj: O, variant: Hashable = None) -> V | None:
        """The value memoised for this very object (and ``variant``), or None."""
        entry = self._entries.get((id(obj), variant))
        return entry[1] if entry is not None and entry[0] is obj else None

    def put(self, obj: O, value: V, variant: Hashable = None) -> V:
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[(id(obj), variant)] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)
