"""A small HTTP proxy on loopback for the egress tests: CONNECT tunnels and forwarding.

``ConnectProxy(user="u", password="p").start()`` listens on a free loopback port in its
own thread and event loop (usable from async tests and by gwd in another process):

- ``CONNECT host:port`` opens a TCP connection to the target, answers ``200`` and then
  pipes bytes both ways (TLS runs end to end inside; the proxy sees only ciphertext);
- an absolute-URI request (``POST http://host:port/path``) is forwarded to that origin,
  request by request (``Proxy-Authorization`` removed), with the answer piped back;
- with ``user``/``password`` set, a request or CONNECT without exactly those Basic
  credentials gets ``407 Proxy Authentication Required`` and the connection is closed.

``connects`` lists CONNECT targets, ``forwards`` the absolute URIs forwarded,
``refused`` counts 407s, ``connections`` counts client connections; ``seen_heads``
keeps every request head the proxy read (to check what crossed it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from types import TracebackType
from typing import Self

CHUNK = 65536


class ConnectProxy:
    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.expected = None
        if user is not None:
            pair = f"{user}:{password or ''}".encode()
            self.expected = "Basic " + base64.b64encode(pair).decode()
        self.connects: list[str] = []
        self.forwards: list[str] = []
        self.seen_heads: list[bytes] = []
        self.refused = 0
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="connect-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------- serving
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.connections += 1
        upstream: asyncio.StreamWriter | None = None
        pipe: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.seen_heads.append(head)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                kept = [lines[0]]
                for line in lines[1:]:
                    if not line:
                        continue
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                    if name.strip().lower() != "proxy-authorization":
                        kept.append(line)
                if self.expected is not None and headers.get("proxy-authorization") != \
                        self.expected:
                    self.refused += 1
                    writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    await writer.drain()
                    return
                if method == "CONNECT":
                    await self._tunnel(target, reader, writer)
                    return
                if not target.startswith("http://"):
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    return
                self.forwards.append(target)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if upstream is None:
                    hostport = target[len("http://"):].split("/", 1)[0]
                    host, _, port = hostport.rpartition(":")
                    up_reader, upstream = await asyncio.open_connection(host, int(port))
                    pipe = asyncio.ensure_future(_copy(up_reader, writer))
                upstream.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1") + body)
                await upstream.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:  # stop() with connections still open
            pass
        finally:
            if pipe is not None:
                pipe.cancel()
            if upstream is not None:
                upstream.close()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _tunnel(self, target: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self.connects.append(target)
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await up_writer.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.write_eof()
