"""A TCP forwarder the test controls, to make a database misbehave without touching it.

``TcpProxy(host, port).start()`` listens on a free loopback port and forwards
every connection to ``host:port``, in its own thread and event loop (so sync
tests and gwd in another process can both use it). Point gwd's
``database_url`` at ``proxy.url(real_url)``; then:

- ``down()``: cut every connection (TCP RST) and reset new ones at once, like a
  database that died; ``up()`` forwards again (the database is back).
- ``blackhole()``: accept connections but forward nothing, in either direction,
  like a network partition: clients see no error, only silence (their timeouts
  must fire); ``up()`` cuts those connections and forwards again.
- ``delay``: seconds to hold each chunk sent to the server (slow queries).
- ``fault_rate``: the probability of cutting a connection as it forwards a
  chunk to the server (injected database errors, mid-transaction included).

``active`` is the number of connections open through the proxy now, ``peak``
the most there ever were at once, ``accepted`` how many were ever made.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    def __init__(self, host: str, port: int, *, seed: int = 7) -> None:
        self.target = (host, port)
        self.port = 0
        self.delay = 0.0
        self.fault_rate = 0.0
        self.active = 0
        self.peak = 0
        self.accepted = 0
        self.cut = 0
        self._mode = "up"               # up | down | blackhole
        self._random = random.Random(seed)
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (credentials kept)."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # control (from any thread) ----------------------------------------------
    def _call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the proxy's loop and wait for it."""
        async def run() -> None:
            fn()
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        server, self._server = self._server, None

        async def shutdown() -> None:
            if server is not None:
                server.close()
            self._cut_all()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if server is not None:
                await server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def down(self) -> None:
        self._mode = "down"
        self._call(self._cut_all)

    def blackhole(self) -> None:
        self._mode = "blackhole"

    def up(self) -> None:
        was, self._mode = self._mode, "up"
        if was == "blackhole":
            self._call(self._cut_all)

    def cut_all(self) -> None:
        """Cut every open connection once (the proxy keeps forwarding new ones)."""
        self._call(self._cut_all)

    # the event loop's side -----------------------------------------------------
    def _cut_all(self) -> None:
        for client, server in list(self._conns):
            _rst(client)
            if server is not None:
                _rst(server)
            self.cut += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._mode == "down":
            _rst(writer)
            return
        entry: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._conns.add(entry)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            while self._mode == "blackhole" and not writer.is_closing():
                await asyncio.sleep(0.05)
            if writer.is_closing() or self._mode == "down":
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                _rst(writer)
                return
            self._conns.discard(entry)
            entry = (writer, up_writer)
            self._conns.add(entry)
            await asyncio.gather(self._pump(reader, up_writer, True),
                                 self._pump(up_reader, writer, False),
                                 return_exceptions=True)
        finally:
            self._conns.discard(entry)
            self.active -= 1
            for w in entry:
                if w is not None and not w.is_closing():
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    to_server: bool) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                while self._mode == "blackhole" and not writer.is_closing():
                    await asyncio.sleep(0.05)
                if to_server:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if self.fault_rate and self._random.random() < self.fault_rate:
                        self._call_cut(writer)
                        break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for client, server in list(self._conns):
                if writer in (client, server):
                    _rst(client)
                    if server is not None:
                        _rst(server)

    def _call_cut(self, writer: asyncio.StreamWriter) -> None:
        self.cut += 1
        _rst(writer)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
