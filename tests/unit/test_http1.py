"""gwd.http1 against a raw asyncio server that answers byte-exact scripted responses."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from gwd.http1 import HTTPFailure, Pool, split_url

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], "asyncio.Future[None] | object"]


class Server:
    """Answers each request with the next scripted handler; counts connections."""

    def __init__(self, *handlers: Callable[..., object]) -> None:
        self.handlers = list(handlers)
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.handlers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next((ln.split(b":")[1] for ln in head.split(b"\r\n")
                                   if ln.lower().startswith(b"content-length")), b"0"))
                self.requests.append(head + await reader.readexactly(length))
                handler = self.handlers.pop(0)
                result = handler(writer)
                if asyncio.iscoroutine(result):
                    await result
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(*handlers: Callable[..., object]) -> AsyncIterator[tuple[Server, Pool]]:
    server = Server(*handlers)
    srv = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    pool = Pool()
    try:
        yield server, pool
    finally:
        await pool.close()
        srv.close()
        await srv.wait_closed()


def send(data: bytes, close: bool = False) -> Callable[[asyncio.StreamWriter], object]:
    async def handler(writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()
    return handler


def pieces(*parts: bytes, gap: float = 0.01) -> Callable[[asyncio.StreamWriter], object]:
    async def handler(writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(gap)
    return handler


async def call(pool: Pool, server: Server, **kw: float) -> tuple[int, bytes]:
    timeouts = {"connect_timeout": 2, "first_byte_timeout": 2, "idle_timeout": 2,
                "total_timeout": 5, **kw}
    resp = await pool.request(f"http://127.0.0.1:{server.port}/v1/x?y=1",
                              {"Authorization": "Bearer k"}, b'{"a":1}', **timeouts)
    return resp.status, await resp.read(1 << 20)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello"


async def test_content_length_and_keep_alive_reuse() -> None:
    async with serving(send(OK), send(OK), send(OK)) as (server, pool):
        for _ in range(3):
            assert await call(pool, server) == (200, b"hello")
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /v1/x?y=1 HTTP/1.1\r\n")
        assert b"Host: 127.0.0.1:" in first and b"Authorization: Bearer k" in first
        assert first.endswith(b'\r\n\r\n{"a":1}')


async def test_chunked_with_extensions_trailers_and_odd_splits() -> None:
    body = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n")
    parts = [body[i:i + 3] for i in range(0, len(body), 3)]
    async with serving(pieces(*parts, gap=0.001), send(OK)) as (server, pool):
        assert await call(pool, server) == (200, b"hello 0123456789")
        assert await call(pool, server) == (200, b"hello")  # the connection was reusable
        assert server.connections == 1


async def test_streamed_chunks_arrive_as_they_are_sent() -> None:
    async def handler(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for word in (b"one", b"two"):
            writer.write(b"%x\r\n%s\r\n" % (len(word), word))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")

    async with serving(handler) as (server, pool):
        resp = await pool.request(f"http://127.0.0.1:{server.port}/", {}, b"",
                                  connect_timeout=1, first_byte_timeout=1, idle_timeout=1,
                                  total_timeout=5)
        got = [piece async for piece in resp.chunks()]
        assert got == [b"one", b"two"]


async def test_body_until_close_without_length() -> None:
    async with serving(send(b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)) as (server, pool):
        assert await call(pool, server) == (200, b"all of it")


async def test_informational_answers_are_skipped() -> None:
    async with serving(send(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as (server, pool):
        assert await call(pool, server) == (200, b"hello")


async def test_gzip_body_is_decoded() -> None:
    packed = gzip.compress(b'{"x": "zipped"}')
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
    async with serving(send(head + packed)) as (server, pool):
        assert await call(pool, server) == (200, b'{"x": "zipped"}')


async def test_error_status_is_not_a_failure() -> None:
    answer = b"HTTP/1.1 503 Busy\r\nRetry-After: 3\r\nContent-Length: 2\r\n\r\nno"
    async with serving(send(answer)) as (server, pool):
        resp = await pool.request(f"http://127.0.0.1:{server.port}/", {}, b"",
                                  connect_timeout=1, first_byte_timeout=1, idle_timeout=1,
                                  total_timeout=5)
        assert (resp.status, resp.headers["retry-after"]) == (503, "3")
        assert await resp.read(100) == b"no"


async def test_stale_idle_connection_is_retried_on_a_fresh_one() -> None:
    async def close_after(writer: asyncio.StreamWriter) -> None:
        writer.write(OK)
        await writer.drain()
        writer.close()  # the server drops the kept-alive connection

    async with serving(close_after, send(OK)) as (server, pool):
        assert await call(pool, server) == (200, b"hello")
        await asyncio.sleep(0.05)
        assert await call(pool, server) == (200, b"hello")
        assert server.connections == 2


async def test_fresh_connection_closed_before_answering_is_a_reset() -> None:
    async with serving(send(b"", close=True)) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server)
        assert err.value.kind == "reset"


async def test_mid_body_close_is_a_reset() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
    async with serving(send(cut, close=True)) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server)
        assert err.value.kind == "reset"


async def test_first_byte_and_idle_timeouts() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with serving(silent) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server, first_byte_timeout=0.2)
        assert err.value.kind == "timeout" and "waiting for the response" in str(err.value)
    stall = pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", gap=5)
    async with serving(stall) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server, idle_timeout=0.2)
        assert err.value.kind == "timeout" and "body" in str(err.value)


async def test_total_deadline_bounds_a_trickle() -> None:
    trickle = pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                     *[b"x"] * 100, gap=0.05)
    async with serving(trickle) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server, idle_timeout=1, total_timeout=0.5)
        assert err.value.kind == "timeout"


async def test_connect_refused_is_a_connect_failure() -> None:
    pool = Pool()
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    with pytest.raises(HTTPFailure) as err:
        await pool.request(f"http://127.0.0.1:{port}/", {}, b"", connect_timeout=1,
                           first_byte_timeout=1, idle_timeout=1, total_timeout=2)
    assert err.value.kind == "connect"
    await pool.close()


@pytest.mark.parametrize("answer", [
    b"<html>not http</html>\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
])
async def test_garbage_is_a_bad_response(answer: bytes) -> None:
    async with serving(send(answer, close=True)) as (server, pool):
        with pytest.raises(HTTPFailure) as err:
            await call(pool, server)
        assert err.value.kind == "bad_response"


async def test_body_limit() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    async with serving(send(big)) as (server, pool):
        resp = await pool.request(f"http://127.0.0.1:{server.port}/", {}, b"",
                                  connect_timeout=1, first_byte_timeout=1, idle_timeout=1,
                                  total_timeout=5)
        with pytest.raises(HTTPFailure) as err:
            await resp.read(1000)
        assert err.value.kind == "bad_response"


async def test_header_injection_from_config_is_refused() -> None:
    async with serving(send(OK)) as (server, pool):
        with pytest.raises(HTTPFailure):
            await pool.request(f"http://127.0.0.1:{server.port}/", {"X": "a\r\nEvil: 1"}, b"",
                               connect_timeout=1, first_byte_timeout=1, idle_timeout=1,
                               total_timeout=2)
        assert server.requests == []


def test_split_url() -> None:
    origin, target, host = split_url("https://api.example.com/v1/chat?x=1")
    assert origin == ("api.example.com", 443, True)
    assert (target, host) == ("/v1/chat?x=1", b"api.example.com")
    origin, target, host = split_url("http://[::1]:8080")
    assert origin == ("::1", 8080, False) and (target, host) == ("/", b"[::1]:8080")


async def test_idle_connections_are_closed_after_idle_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gwd.http1.IDLE_SECONDS", 0.2)
    async with serving(send(OK), send(OK)) as (server, pool):
        assert await call(pool, server) == (200, b"hello")
        [conn] = [c for idle in pool._idle.values() for c in idle]
        assert not conn.closed
        await asyncio.sleep(0.5)      # the sweep closes it; nobody had to reuse it
        assert conn.closed and not any(pool._idle.values())
        assert await call(pool, server) == (200, b"hello")
        assert server.connections == 2
