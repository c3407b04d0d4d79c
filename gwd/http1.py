"""A lean HTTP/1.1 client for upstream calls: a keep-alive pool, streamed bodies, timeouts.

Why gw has its own: aiohttp's ``ClientSession.request`` costs about 100 µs of
CPU per call (URL parsing, cookie jar, tracing hooks, multidicts, request and
response objects), a third of gwd's whole per-request budget (bench/). An
upstream call needs none of that: one method, a URL fixed per deployment,
headers gwd builds itself, no cookies, no redirects. This module does exactly
that much:

* one ``asyncio.Protocol`` per connection, kept alive and reused per route (origin,
  proxy and TLS settings: :class:`gwd.egress.Route`; :mod:`gwd.egress` opens it);
* bodies framed by Content-Length, chunked transfer coding or the end of the
  connection; gzip/deflate decoded (gw never asks for them, but accepts them);
* deadlines as single timer handles (no ``asyncio.timeout`` per read): one for
  connecting, one until the response head, one between two reads, and the
  caller's total deadline over all of them;
* a reused connection the server closed while idle is retried once on a fresh
  one, but only when not one byte of the answer came back.

Failures raise :class:`HTTPFailure` with ``kind`` ``connect``, ``tls`` (``reason``
says which: :func:`gwd.egress.tls_reason`), ``timeout``, ``reset`` or
``bad_response``; an HTTP status is never a failure here.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from . import __version__
from .egress import Egress as _Egress
from .egress import EgressError, Route, TLSContexts, open_route, tls_message, tls_reason

MAX_HEAD = 64 * 1024
USER_AGENT = b"gw/" + __version__.encode()
MAX_IDLE_PER_ORIGIN = 256
IDLE_SECONDS = 30.0


class HTTPFailure(Exception):
    def __init__(self, kind: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason


def _tls_failure(exc: ssl.SSLError) -> HTTPFailure:
    reason = tls_reason(exc)
    return HTTPFailure("tls", tls_message(reason), reason)


class Origin(NamedTuple):
    host: str
    port: int
    tls: bool


@lru_cache(maxsize=1024)
def split_url(url: str) -> tuple[Origin, str, bytes]:
    """``(origin, request target, Host header value)`` of an http(s) URL (cached)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPFailure("connect", "not an http(s) URL")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    if parts.port:
        shown = f"{shown}:{parts.port}"
    return Origin(host, port, tls), target, shown.encode("idna")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; bytes arrive into ``buffer``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.used = False
        self.error: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def more(self, deadline: float, phase: str) -> None:
        """Wait until more bytes arrive or the connection ends (``closed``)."""
        if self.closed:
            return
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        except HTTPFailure:
            raise HTTPFailure("timeout", f"upstream timed out ({phase})") from None
        finally:
            timer.cancel()
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(HTTPFailure("timeout", "deadline"))


class Response:
    """Status and headers of an upstream answer; the body is read on demand."""

    def __init__(self, pool: Pool, origin: Route, conn: _Connection, status: int,
                 headers: dict[str, str], keep_alive: bool, idle: float,
                 deadline: float) -> None:
        self.status = status
        self.headers = headers
        self._pool, self._origin, self._conn = pool, origin, conn
        self._keep_alive = keep_alive
        self._idle, self._deadline = idle, deadline
        self._done = status in (204, 304) or 100 <= status < 200
        self._length = -1
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not self._chunked and not self._done:
            try:
                self._length = int(headers.get("content-length", "-1"))
            except ValueError:
                raise HTTPFailure("bad_response", "bad Content-Length") from None
            if self._length == 0:
                self._done = True
            elif self._length < 0:
                self._keep_alive = False  # body ends with the connection
        encoding = headers.get("content-encoding", "").lower()
        self._decoder = (zlib.decompressobj(wbits=47) if encoding in ("gzip", "deflate")
                         else None)
        self._chunk_left = 0

    def _deadline_for_read(self) -> float:
        return min(self._conn.loop.time() + self._idle, self._deadline)

    async def _raw_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while not self._done:
            piece = self._take_chunked() if self._chunked else self._take_plain()
            if piece:
                yield piece
                continue
            if self._done:
                break
            if conn.closed:
                if self._length < 0 and not self._chunked:
                    self._done = True  # end of an EOF-delimited body
                    break
                raise HTTPFailure("reset", "upstream closed the connection mid-body")
            if conn.loop.time() >= self._deadline:
                raise HTTPFailure("timeout", "upstream timed out (total deadline)")
            await conn.more(self._deadline_for_read(), "reading the body")

    def _take_plain(self) -> bytes:
        buf = self._conn.buffer
        if not buf:
            return b""
        if self._length < 0:
            data = bytes(buf)
            buf.clear()
            return data
        data = bytes(buf[: self._length])
        del buf[: len(data)]
        self._length -= len(data)
        if self._length == 0:
            self._done = True
        return data

    def _take_chunked(self) -> bytes:
        buf = self._conn.buffer
        out = bytearray()
        while True:
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(buf))
                if take == 0:
                    break
                out += buf[:take]
                del buf[:take]
                self._chunk_left -= take
                if self._chunk_left > 0:
                    break
                self._chunk_left = -2  # the CRLF after the data
            if self._chunk_left == -2:
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise HTTPFailure("bad_response", "bad chunked encoding")
                del buf[:2]
                self._chunk_left = 0
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise HTTPFailure("bad_response", "bad chunked encoding")
                break
            line = bytes(buf[:end]).split(b";", 1)[0].strip()
            if self._chunk_left == -1:  # trailers after the last chunk
                del buf[: end + 2]
                if not line:
                    self._done = True
                    break
                continue
            try:
                size = int(line, 16)
            except ValueError:
                raise HTTPFailure("bad_response", "bad chunked encoding") from None
            del buf[: end + 2]
            if size == 0:
                self._chunk_left = -1
                continue
            self._chunk_left = size
        return bytes(out)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (decoded), then the connection goes back to the pool."""
        try:
            async for piece in self._raw_chunks():
                if self._decoder is not None:
                    piece = self._decoder.decompress(piece)
                if piece:
                    yield piece
        except zlib.error:
            raise HTTPFailure("bad_response", "bad compressed body") from None
        finally:
            self.close()

    async def read(self, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes (else ``bad_response``)."""
        conn = self._conn
        if (conn is not None and not self._done and not self._chunked
                and self._decoder is None and 0 < self._length <= min(limit, len(conn.buffer))):
            # the usual small answer, already here whole: no async generators
            data = self._take_plain()
            self.close()
            return data
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                raise HTTPFailure("bad_response", "upstream body too large")
            parts.append(piece)
        return b"".join(parts)

    def close(self) -> None:
        """Give the connection back if the answer was read whole, else drop it."""
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        if self._done and self._keep_alive and not conn.closed and not conn.buffer:
            self._pool.release(self._origin, conn)
        else:
            conn.close()


@lru_cache(maxsize=1)
def _direct() -> _Egress:
    """Direct, the system's trust store: one per process (a context costs milliseconds)."""
    return _Egress(TLSContexts().get(), None)


class Pool:
    """Keep-alive connections per route (the one place gwd opens outbound sockets).

    ``egress`` is the way out of calls that name none: by default direct, verifying
    certificates against the system's trust store."""

    def __init__(self, egress: _Egress | None = None) -> None:
        self._idle: dict[Route, deque[_Connection]] = {}
        self._egress = egress
        self._closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def egress(self) -> _Egress:
        if self._egress is None:
            self._egress = _direct()
        return self._egress

    def release(self, origin: Route, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if self._closed or len(idle) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = conn.loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = conn.loop.call_later(IDLE_SECONDS / 2, self._sweep, conn.loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close connections idle for IDLE_SECONDS or more (never to be reused): without
        this their sockets stay open until the upstream closes them (catalogue D10:
        open files return to the baseline once traffic stops)."""
        self._sweeper = None
        now = loop.time()
        for idle in self._idle.values():
            while idle and (idle[0].closed or now - idle[0].idle_since >= IDLE_SECONDS):
                idle.popleft().close()   # the oldest are on the left (reuse pops right)
        if any(self._idle.values()) and not self._closed:
            self._sweeper = loop.call_later(IDLE_SECONDS / 2, self._sweep, loop)

    def _reuse(self, origin: Route, now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self, route: Route, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                conn = await open_route(route, lambda: _Connection(loop))
        except TimeoutError:
            raise HTTPFailure("timeout", "upstream timed out (connecting)") from None
        except ssl.SSLError as exc:
            raise _tls_failure(exc) from None
        except EgressError as exc:
            raise HTTPFailure("connect", f"could not connect through the proxy: {exc}") from None
        except OSError as exc:
            raise HTTPFailure("connect", f"could not connect to the upstream "
                                         f"({type(exc).__name__})") from None
        return conn

    async def request(self, url: str, headers: dict[str, str], body: bytes, *,
                      connect_timeout: float, first_byte_timeout: float,
                      idle_timeout: float, total_timeout: float,
                      egress: _Egress | None = None, method: bytes = b"POST") -> Response:
        """Send ``POST url`` (or ``method``; the way ``egress`` says) and wait for the
        response head."""
        origin_, target, host = split_url(url)
        origin = (egress or self.egress).route(origin_)
        if origin.forwarded:  # an http upstream through a proxy: the absolute URI
            target = "http://" + host.decode("ascii") + target
        head = bytearray(method + b" " + target.encode("ascii") + b" HTTP/1.1\r\nHost: " + host
                         + b"\r\nUser-Agent: " + USER_AGENT + b"\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n")
        if origin.forwarded and origin.proxy is not None and origin.proxy.authorization:
            head += b"Proxy-Authorization: " + origin.proxy.authorization.encode() + b"\r\n"
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise HTTPFailure("connect", "a configured header holds a line break")
            head += f"{name}: {value}\r\n".encode("latin-1")
        head += b"\r\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total_timeout
        while True:
            conn = self._reuse(origin, loop.time())
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, min(connect_timeout, total_timeout))
            assert conn.transport is not None
            try:
                conn.transport.write(bytes(head) + body)
                return await self._head(origin, conn, min(loop.time() + first_byte_timeout,
                                                          deadline), idle_timeout, deadline)
            except _Stale:
                conn.close()
                if not reused:  # a fresh connection closed on us: a real failure
                    raise HTTPFailure("reset", "upstream closed the connection "
                                               "before answering") from None
                # an idle connection the server had closed: try again on a new one
            except BaseException:
                conn.close()
                raise

    async def _head(self, origin: Route, conn: _Connection, first_byte: float,
                    idle: float, deadline: float) -> Response:
        while True:
            end = conn.buffer.find(b"\r\n\r\n")
            if end >= 0:
                response = self._parse_head(origin, conn, end, idle, deadline)
                if response is not None:
                    return response
                continue  # a 1xx answer: the real one follows
            if len(conn.buffer) > MAX_HEAD:
                raise HTTPFailure("bad_response", "upstream response head too large")
            if conn.closed:
                if isinstance(conn.error, ssl.SSLError):  # e.g. a client certificate refused
                    raise _tls_failure(conn.error)
                if not conn.buffer:
                    raise _Stale("reset", "upstream closed the connection before answering")
                raise HTTPFailure("reset", "upstream closed the connection mid-answer")
            await conn.more(first_byte, "waiting for the response")

    def _parse_head(self, origin: Route, conn: _Connection, end: int, idle: float,
                    deadline: float) -> Response | None:
        lines = bytes(conn.buffer[:end]).decode("latin-1").split("\r\n")
        del conn.buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HTTPFailure("bad_response", "upstream did not answer HTTP/1.x")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HTTPFailure("bad_response", "bad header line in the upstream response")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (version == "HTTP/1.1"
                                                    or "keep-alive" in connection)
        return Response(self, origin, conn, status, headers, keep_alive, idle, deadline)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
        await asyncio.sleep(0)


class _Stale(HTTPFailure):
    """The connection ended before one byte of the answer came back."""
