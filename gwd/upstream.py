"""The ONLY module that does outbound HTTP: one keep-alive pool (:mod:`gwd.http1`).

Every request has four bounds: connect timeout, first-byte timeout (until the
response head), idle timeout (between two reads) and a total deadline.
Bodies are bounded, redirects are never followed (a provider key must not be
sent to another host: a 3xx is just an answer), and nothing from the client's
headers is forwarded — providers build the headers from config alone.

Failures are raised as :class:`UpstreamFailure` with a ``kind`` the proxy uses
to decide on failover: ``connect``, ``tls``, ``timeout``, ``reset`` or ``bad_response``.
Each deployment's way out (proxy, TLS settings) comes from :mod:`gwd.egress`.
An HTTP status, even 5xx, is not a failure here: the caller reads it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from .config import Config, Deployment
from .egress import EgressPlan
from .http1 import HTTPFailure, Pool
from .http1 import Response as _Response
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

    def __init__(self, kind: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.reason = reason   # for ``tls``: expired, unknown_ca, hostname_mismatch, ...

    @property
    def is_timeout(self) -> bool:
        return self.kind == "timeout"


def _failure(exc: HTTPFailure | FramingError) -> UpstreamFailure:
    if isinstance(exc, FramingError):
        return UpstreamFailure("bad_response", str(exc))
    return UpstreamFailure(exc.kind, str(exc), exc.reason)


class Headers(dict[str, str]):
    """Response headers (stored lower-case), looked up case-insensitively."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class UpstreamResponse:
    """An open upstream response: status, headers, and a bounded way to read the body."""

    def __init__(self, resp: _Response, stream_format: str) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = Headers(resp.headers)
        self._format = stream_format
        self._events: AsyncIterator[tuple[str | None, bytes]] | None = None

    async def read(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole body (bounded by ``limit`` bytes and the timeouts)."""
        try:
            return await self._resp.read(limit)
        except HTTPFailure as exc:
            raise _failure(exc) from None
        finally:
            self.close()

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
            async for chunk in self._resp.chunks():
                for item in decoder.feed(chunk):
                    yield item
            for item in decoder.close():
                yield item
        except HTTPFailure as exc:
            if exc.kind == "reset":
                return  # cut short: the translator was not told the stream ended
            raise _failure(exc) from None
        except FramingError as exc:
            raise _failure(exc) from None
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (closing it if the body was not read to the end).

        Also drops the event iterator: it refers back to this object, and a stream left
        part-read (client gone, bad first event) would otherwise keep both, and their
        buffers, alive until the cyclic garbage collector's next full pass."""
        self._resp.close()
        self._events = None


class Upstream:
    """Owns the single outbound connection pool (created in ``start``) and the egress
    plan (``configure``: at construction and on every reload)."""

    def __init__(self, config: Config | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._pool: Pool | None = None
        self.plan: EgressPlan | None = None
        if config is not None:
            self.configure(config, env)

    def configure(self, config: Config, env: Mapping[str, str] | None = None) -> None:
        """Build the egress plan for ``config``; raises ConfigError (the old plan stays)."""
        self.plan = EgressPlan(config, os.environ if env is None else env)

    async def start(self) -> None:
        self._pool = Pool(self.plan.default if self.plan is not None else None)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def open(self, req: UpstreamRequest, timeouts: Timeouts,
                   dep: Deployment | None = None) -> UpstreamResponse:
        """Send the request (the way ``dep``'s egress says) and wait for the headers."""
        assert self._pool is not None, "Upstream.start() was not awaited"
        plan = self.plan
        try:
            resp = await self._pool.request(
                req.url, req.headers, req.body, connect_timeout=timeouts.connect,
                first_byte_timeout=timeouts.first_byte, idle_timeout=timeouts.idle,
                total_timeout=timeouts.total,
                egress=plan.get(dep) if plan is not None and dep is not None else None,
                **({} if req.method == "POST" else {"method": req.method.encode("ascii")}))
        except HTTPFailure as exc:
            raise _failure(exc) from None
        return UpstreamResponse(resp, req.stream_format)
