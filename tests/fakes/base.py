"""FakeUpstream: a real aiohttp server on 127.0.0.1, in its own thread and event loop.

Subclasses speak one provider's wire format by implementing :meth:`answer`
(return a :class:`JsonReply` or a :class:`StreamReply` of ready-framed events) and
:meth:`error_body`. The base records every request and applies scripted
:class:`Fault` s, so tests (sync or async, gwd in another process) can say::

    with OpenAIFake("east") as fake:
        fake.enqueue(Fault(status=429, headers={"Retry-After": "1"}))
        ...                               # call gwd configured with fake.base_url
        assert fake.requests[-1].json["model"] == "gpt-4o"

Fault order for one request: ``delay`` -> ``hang`` -> ``reset`` -> ``status`` ->
(answer) -> ``garbage`` / ``body_cut_after`` -> stream with ``stream_delay`` /
``stream_cut_after`` / ``stream_stall_after``.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Fault:
    """How to misbehave on one request (or on every request, via ``set_default``)."""

    status: int | None = None            # answer this HTTP status with an error body
    body: bytes | Mapping[str, Any] | None = None   # that error body (default: provider's shape)
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "2"}
    delay: float = 0.0                   # seconds to wait before sending headers
    hang: bool = False                   # never answer (until the fake stops)
    reset: bool = False                  # close the socket abruptly (TCP RST), no answer
    garbage: bytes | None = None         # 200 with these bytes (one framed event on streams)
    stream_cut_after: int | None = None  # send n stream events, then drop the connection
    stream_stall_after: int | None = None  # send n stream events, then go silent (socket open)
    body_cut_after: int | None = None    # non-stream: send n bytes of the body, then TCP RST
    stream_delay: float = 0.0            # seconds between stream events
    no_usage: bool = False               # omit usage / token counts from the answer
    usage: Mapping[str, Any] | None = None  # send this usage object (the provider's shape,
    #   e.g. recorded from a real answer with cache or reasoning counts) instead of the default


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]   # names lower-cased: headers["authorization"]
    json: Any                 # parsed JSON body, None when absent or not JSON
    body: bytes
    raw_path: str = ""        # the path as sent, still percent-encoded (for signatures)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class JsonReply:
    body: Any
    status: int = 200


@dataclass
class StreamReply:
    events: list[bytes]        # each one fully framed ("data: ...\n\n" or a JSON line + "\n")
    content_type: str = "text/event-stream"
    kind: str = "sse"          # "sse" or "ndjson": how garbage is framed


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (f"event: {event}\n".encode() if event else b"") + b"data: " + payload + b"\n\n"


def ndjson(data: Any) -> bytes:
    return orjson.dumps(data) + b"\n"


def words(text: str) -> list[str]:
    """The reply split into stream pieces (one per word, spaces kept)."""
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def fake_vector(text: str, dimensions: int = 8) -> list[float]:
    seed = sum(text.encode()) + len(text)
    return [round(((seed * (i + 7)) % 200 - 100) / 100, 4) for i in range(dimensions)]


class FakeUpstream:
    """Base class: server lifecycle, request log, faults. Subclasses add a wire format.

    Set ``tls`` (a server SSLContext) before ``start()`` to serve HTTPS; ``base_url``
    then names ``https://localhost:<port>`` (the name test certificates carry)."""

    tls: ssl.SSLContext | None = None

    def __init__(self, name: str = "fake", *, prompt_tokens: int = 10,
                 completion_tokens: int = 5, reply_text: str | None = None) -> None:
        self.name = name
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.reply_text = reply_text or f"Hello from {name}, a fake upstream."
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._streams: list[tuple[str, int, int]] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._default: Fault | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        if self.tls is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop, ready),
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(STOP_TIMEOUT) or not self.port:
            raise RuntimeError(f"fake upstream {self.name} did not start")
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            ready.set()
            loop.close()

    async def _setup(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0,
                                     handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, ssl_context=self.tls).start()

    async def _shutdown(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()
        await self._runner.cleanup()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(STOP_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT)
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------- scripting
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {len(self.requests)} of {count} requests "
                                     f"after {timeout}s")
            time.sleep(0.01)
        return self.requests

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget the requests and stream outcomes seen, and every scripted fault."""
        with self._lock:
            self._requests.clear()
            self._streams.clear()
            self._faults.clear()
            self._default = None

    def enqueue(self, *faults: Fault) -> None:
        """Script the next request(s), one fault each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def set_default(self, fault: Fault | None) -> None:
        """A fault for every request with nothing enqueued (None: behave)."""
        with self._lock:
            self._default = fault

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._faults.popleft() if self._faults else (self._default or Fault())

    # ---------------------------------------------------------------- for subclasses
    def answer(self, request: RecordedRequest, fault: Fault) -> JsonReply | StreamReply | None:
        """The normal answer to ``request`` (None: no such route -> 404)."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "fake_error", "param": None,
                          "code": str(status)}}

    # ---------------------------------------------------------------- the handler
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        rec = RecordedRequest(method=request.method, path=request.path,
                              query=dict(request.query),
                              headers={k.lower(): v for k, v in request.headers.items()},
                              json=parsed, body=raw, raw_path=request.raw_path)
        with self._lock:
            self._requests.append(rec)
        fault = self._next_fault()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.hang:
            assert self._stopping is not None
            await self._stopping.wait()
            return self._abort(request)
        if fault.reset:
            return self._abort(request)
        if fault.status is not None:
            body = fault.body if fault.body is not None else self.error_body(
                fault.status, f"fake {self.name} scripted HTTP {fault.status}")
            return web.Response(status=fault.status, headers=dict(fault.headers),
                                body=body if isinstance(body, bytes) else orjson.dumps(body),
                                content_type="application/json")
        reply = self.answer(rec, fault)
        if reply is None:
            return web.Response(status=404, content_type="application/json",
                                body=orjson.dumps(self.error_body(404, "no such route")))
        if isinstance(reply, JsonReply):
            body = fault.garbage if fault.garbage is not None else orjson.dumps(reply.body)
            if fault.body_cut_after is not None:
                return await self._cut_body(request, reply.status, body, fault.body_cut_after)
            return web.Response(status=reply.status, body=body, headers=dict(fault.headers),
                                content_type="application/json")
        events = reply.events
        if fault.garbage is not None:
            events = [sse(fault.garbage) if reply.kind == "sse" else fault.garbage + b"\n"]
        response = web.StreamResponse(headers={"Content-Type": reply.content_type,
                                               "Cache-Control": "no-cache", **fault.headers})
        await response.prepare(request)
        for i, event in enumerate(events):
            if fault.stream_cut_after is not None and i >= fault.stream_cut_after:
                return self._abort(request, response)
            if fault.stream_stall_after is not None and i >= fault.stream_stall_after:
                self._streams_record(("stalled", i, len(events)))
                assert self._stopping is not None
                await self._stopping.wait()
                return self._abort(request, response)
            if fault.stream_delay and i:
                await asyncio.sleep(fault.stream_delay)
            try:
                await response.write(event)
            except ConnectionError:  # the client (gwd) closed the stream
                self._streams_record(("closed_by_client", i, len(events)))
                return response
        await response.write_eof()
        self._streams_record(("completed", len(events), len(events)))
        return response

    async def _cut_body(self, request: web.Request, status: int, body: bytes,
                        cut: int) -> web.StreamResponse:
        """Announce the whole body (Content-Length), send ``cut`` bytes of it, then RST."""
        response = web.StreamResponse(status=status,
                                      headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:cut])
        await asyncio.sleep(0.05)  # let the bytes leave before the reset
        return self._abort(request, response)

    def _streams_record(self, outcome: tuple[str, int, int]) -> None:
        with self._lock:
            self._streams.append(outcome)

    @property
    def streams(self) -> list[tuple[str, int, int]]:
        """How each stream ended: ("completed" | "closed_by_client" | "stalled", events sent,
        events planned)."""
        with self._lock:
            return list(self._streams)

    @staticmethod
    def _abort(request: web.Request,
               response: web.StreamResponse | None = None) -> web.StreamResponse:
        """Drop the connection with a TCP reset (SO_LINGER 0), sending nothing more."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return response if response is not None else web.Response(status=499)
