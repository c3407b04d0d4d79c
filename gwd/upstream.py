"""The ONLY module that does outbound HTTP: one pooled ``aiohttp.ClientSession``.

Every request has four bounds: connect timeout, first-byte timeout (until the
response headers), idle timeout (between two reads) and a total deadline.
Bodies are bounded, redirects are never followed (a provider key must not be
sent to another host), and nothing from the client's headers is forwarded —
providers build the headers from config alone.

Failures are raised as :class:`UpstreamFailure` with a ``kind`` the proxy uses
to decide on failover: ``connect``, ``timeout``, ``reset`` or ``bad_response``.
An HTTP status, even 5xx, is not a failure here: the caller reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from .providers.base import UpstreamRequest
from .sse import FramingError, decoder_for

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    first_byte: float
    idle: float
    total: float


class UpstreamFailure(Exception):
    """The upstream could not be reached or broke the exchange (no usable answer)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def is_timeout(self) -> bool:
        return self.kind == "timeout"


def _classify(exc: BaseException, phase: str) -> UpstreamFailure:
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamFailure("timeout", f"upstream timed out ({phase})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure("connect", "could not connect to the upstream")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                        aiohttp.ClientOSError, ConnectionError)):
        return UpstreamFailure("reset", f"upstream closed the connection ({phase})")
    if isinstance(exc, FramingError):
        return UpstreamFailure("bad_response", str(exc))
    return UpstreamFailure("reset", f"upstream exchange failed ({phase}: {type(exc).__name__})")


class UpstreamResponse:
    """An open upstream response: status, headers, and a bounded way to read the body."""

    def __init__(self, resp: aiohttp.ClientResponse, timeouts: Timeouts, deadline: float,
                 stream_format: str) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self._timeouts = timeouts
        self._deadline = deadline
        self._format = stream_format
        self._events: AsyncIterator[tuple[str | None, bytes]] | None = None

    def _budget(self) -> float:
        left = self._deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise UpstreamFailure("timeout", "upstream timed out (total deadline)")
        return min(self._timeouts.idle, left)

    async def read(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole body (bounded by ``limit`` bytes and the timeouts)."""
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                async with asyncio.timeout(self._budget()):
                    chunk = await self._resp.content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise UpstreamFailure("bad_response", "upstream body too large")
                parts.append(chunk)
        except UpstreamFailure:
            raise
        except Exception as exc:  # every failure becomes an UpstreamFailure
            raise _classify(exc, "reading the body") from None
        finally:
            self.close()
        return b"".join(parts)

    def events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        """Decoded stream events; a connection that ends early just ends the iteration
        (the caller sees the provider's ``done`` flag unset). Every call returns the
        same iterator, so reading may stop and resume."""
        if self._events is None:
            self._events = self._read_events()
        return self._events

    async def _read_events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        decoder = decoder_for(self._format)
        try:
            while True:
                try:
                    async with asyncio.timeout(self._budget()):
                        chunk = await self._resp.content.readany()
                except UpstreamFailure:
                    raise
                except Exception as exc:  # every failure becomes an UpstreamFailure
                    failure = _classify(exc, "streaming")
                    if failure.kind == "reset":
                        return
                    raise failure from None
                if not chunk:
                    for item in decoder.close():
                        yield item
                    return
                try:
                    events = decoder.feed(chunk)
                except FramingError as exc:
                    raise _classify(exc, "streaming") from None
                for item in events:
                    yield item
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to the end)."""
        if not self._resp.closed:
            self._resp.close()


class Upstream:
    """Owns the single outbound ClientSession (created in ``start``)."""

    def __init__(self, max_connections: int = 1000) -> None:
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max, limit_per_host=0,
                                         ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True, skip_auto_headers=("User-Agent",), trust_env=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self, req: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Send the request and wait for the response headers."""
        assert self._session is not None, "Upstream.start() was not awaited"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect,
                                               sock_connect=timeouts.connect)
        try:
            async with asyncio.timeout(min(timeouts.first_byte, timeouts.total)):
                resp = await self._session.request(
                    req.method, req.url, data=req.body, headers=req.headers,
                    timeout=client_timeout, allow_redirects=False)
        except Exception as exc:  # every failure becomes an UpstreamFailure
            raise _classify(exc, "waiting for the response") from None
        return UpstreamResponse(resp, timeouts, deadline, req.stream_format)
