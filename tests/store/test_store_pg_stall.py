"""PostgreSQL only: a budget write holds a key row only while the database runs it.

Reservations (and the spend batches that settle them) are single statements run
outside any explicit transaction, so the key row's lock never lasts across a round
trip to a gwd replica. Shown without timing: one replica's connection goes through
a proxy that stops passing the server's answers on (a replica stalled mid-call: a
GC pause, lost packets); its write still commits, and another replica's reservation
on the same key goes through while the first one still waits for its answer. With a
reservation spread over several statements of one transaction (lock the key, sum,
insert, commit), the first replica would hold the key row until it got its answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from gwd.store.postgres import PostgresStore

from .conftest import reset_pg
from .storekit import MISMATCHED, h, key, raw_scalar, row

pytestmark = pytest.mark.postgres
K = h("stalled")
BUDGET = Decimal(1)


class StallingProxy:
    """A TCP proxy to the database that can stop passing the server's bytes to the
    client (``stall``) until told to go on (``resume``); the client's bytes always go
    through."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        for task in (self._pipe(reader, up_writer, gated=False),
                     self._pipe(up_reader, writer, gated=True)):
            spawned = asyncio.create_task(task)
            self.tasks.add(spawned)
            spawned.add_done_callback(self.tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    gated: bool) -> None:
        try:
            while data := await reader.read(65536):
                if gated:
                    await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        self.resume()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def replicas(pg_database_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore,
                                                                 StallingProxy]]:
    """(a replica behind the proxy with ONE pooled connection, a direct replica, proxy)."""
    await reset_pg(pg_database_url)
    parts = urlsplit(pg_database_url)
    proxy = StallingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rpartition("@")[0] + "@" if "@" in parts.netloc else ""
    proxied = urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{port}"))
    slow = PostgresStore(proxied, min_size=1, max_size=1, command_timeout=60)
    fast = PostgresStore(pg_database_url)
    await slow.open()
    await fast.open()
    try:
        yield slow, fast, proxy
    finally:
        await proxy.close()
        await slow.close()
        await fast.close()


async def eventually(url: str, sql: str, *args: Any) -> None:
    """Wait until ``sql`` finds something (what a stalled replica wrote has committed)."""
    async with asyncio.timeout(10):
        while not await raw_scalar(url, sql, *args):
            await asyncio.sleep(0.01)


RESERVED = "SELECT count(*) FROM gw_reservations WHERE request_id = $1"
LOGGED = "SELECT count(*) FROM gw_spend_log WHERE request_id = $1"
GONE = "SELECT count(*) = 0 FROM gw_reservations WHERE request_id = $1"


async def stalled_write_leaves_the_key_free(
        slow: PostgresStore, fast: PostgresStore, proxy: StallingProxy, url: str,
        write: Callable[[], Coroutine[Any, Any, Any]], committed: tuple[str, str],
        meanwhile: str) -> Any:
    """Run ``write`` on the stalled replica; once it has committed (``committed`` finds
    it), a reservation (``meanwhile``) on the same key from the other replica must go
    through. Returns what ``write`` returns once the proxy lets its answer through."""
    proxy.stall()
    pending = asyncio.create_task(write())
    await eventually(url, *committed)
    assert not pending.done()  # its answer is still held back by the proxy
    amount = await asyncio.wait_for(fast.reserve(K, meanwhile, Decimal("0.01"), BUDGET), 10)
    assert amount == Decimal("0.01")
    assert not pending.done()
    proxy.resume()
    return await asyncio.wait_for(pending, 10)


async def test_a_stalled_replica_holds_no_key_row_between_round_trips(
        replicas: tuple[PostgresStore, PostgresStore, StallingProxy],
        pg_database_url: str) -> None:
    slow, fast, proxy = replicas
    await fast.insert_key(key(K, max_budget=BUDGET))
    # the stalled replica's single connection has every statement prepared already
    assert await slow.reserve(K, "warm", Decimal("0.001"), BUDGET) == Decimal("0.001")
    assert await slow.reserve(K, "warm", Decimal("0.001"), BUDGET) == Decimal("0.001")
    assert await slow.record([row("warm", K, Decimal("0.001"))], {"warm": K}) == 1
    await slow.release(["nothing"])

    reserved = await stalled_write_leaves_the_key_free(
        slow, fast, proxy, pg_database_url,
        lambda: slow.reserve(K, "slow", Decimal("0.2"), BUDGET), (RESERVED, "slow"), "m1")
    assert reserved == Decimal("0.2")
    added = await stalled_write_leaves_the_key_free(
        slow, fast, proxy, pg_database_url,
        lambda: slow.record([row("slow", K, Decimal("0.15"))], {"slow": K}), (LOGGED, "slow"),
        "m2")
    assert added == 1
    assert await slow.reserve(K, "slow2", Decimal("0.1"), BUDGET) == Decimal("0.1")
    await stalled_write_leaves_the_key_free(
        slow, fast, proxy, pg_database_url, lambda: slow.release(["slow2"]), (GONE, "slow2"),
        "m3")

    got = await fast.get_key(K)
    assert got is not None
    assert (got.spend, got.reserved) == (Decimal("0.151"), Decimal("0.03"))
    assert await raw_scalar(pg_database_url, MISMATCHED) == 0


async def test_the_proxy_really_holds_answers_back(
        replicas: tuple[PostgresStore, PostgresStore, StallingProxy]) -> None:
    slow, _, proxy = replicas
    assert await slow.get_key(K) is None
    proxy.stall()
    pending = asyncio.create_task(slow.get_key(K))
    await asyncio.sleep(0.2)
    assert not pending.done()
    proxy.resume()
    assert await asyncio.wait_for(pending, 10) is None
