"""Tenant records by (kind, id) in memory, so admission costs no database round trip.

An entry is trusted for ``ttl`` seconds (the key cache's TTL), and dropped at once
when the store says the tenant changed (``tenant:<kind>:<id>`` notices, or ``*`` to
drop everything), as key records are. Absent tenants are remembered too (a call
naming an end-user with no record is the common case), for the same TTL. Concurrent
misses for one tenant share one load.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from .store.base import Store
from .store.tenants import NOTICE_PREFIX, Tenant, notice

CACHE_SIZE = 100_000


class TenantCache:
    def __init__(self, store: Store, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[str, tuple[Tenant | None, float]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Tenant | None]] = {}
        self._generation = 0

    async def get(self, kind: str, tenant_id: str) -> Tenant | None:
        ref = notice(kind, tenant_id)
        entry = self._entries.get(ref)
        if entry is not None and self.clock() - entry[1] < self.ttl:
            return entry[0]
        pending = self._loading.get(ref)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Tenant | None] = asyncio.get_running_loop().create_future()
        self._loading[ref] = future
        generation = self._generation
        try:
            tenant = await self.store.tenants.get(kind, tenant_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            self._loading.pop(ref, None)
        if generation == self._generation:
            self.put(ref, tenant)
        future.set_result(tenant)
        return tenant

    def put(self, ref: str, tenant: Tenant | None) -> None:
        self._entries[ref] = (tenant, self.clock())
        self._entries.move_to_end(ref)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)

    def invalidate(self, ref: str) -> None:
        """Forget one tenant (its notice), or everything for ``*``; other notices (key
        hashes) are ignored."""
        if ref == "*":
            self._generation += 1
            self._entries.clear()
        elif ref.startswith(NOTICE_PREFIX):
            self._generation += 1
            self._entries.pop(ref, None)

    def __len__(self) -> int:
        return len(self._entries)
