"""A fast fake OpenAI upstream: a raw asyncio HTTP/1.1 server (uvloop when present).

It must never be the bottleneck, so it parses only what it needs (request line,
Content-Length, Connection) and answers from pre-built bytes:

* ``POST .../chat/completions`` (non-stream): one fixed small ``chat.completion``
  JSON with ``usage``.
* the same with ``"stream": true``: SSE over chunked transfer encoding — ``--chunks``
  content chunks (the first also carries the role), then a finish chunk, a usage
  chunk (``choices: []``) when ``stream_options.include_usage`` is true, and
  ``data: [DONE]``.
* ``GET /health/liveliness``: ``{"status": "ok"}``.

Delays: ``--delay-ms`` applies to every call; a path prefix ``/delay/<ms>/`` (e.g.
``/delay/50/v1/chat/completions``) overrides it per call, so one process serves
both the fast and the slow scenario. ``--chunk-gap-ms`` spaces the stream chunks.
Delays are precise to ~0.1 ms: a loop timer wakes ~1.5 ms early and a short
blocking sleep finishes the wait. That blocking is harmless at c=1 (where delays
are used) and never happens on the zero-delay path used for saturation.

    python bench/upstream.py --port 9100 [--delay-ms 0] [--chunks 8] [--chunk-gap-ms 0]
        [--tls-port 9101 --tls-cert cert.pem --tls-key key.pem]   # also serve HTTPS
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import orjson

EARLY_S = 0.0015  # wake this long before a deadline, then sleep precisely
CONTENT = "Hello! How can I help you today?"
USAGE = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}


def _response(status: str, ctype: str, body: bytes, close: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n")
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _sse(obj: object) -> bytes:
    return _chunked(b"data: " + orjson.dumps(obj) + b"\n\n")


COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-3.5-turbo", "system_fingerprint": None,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": USAGE})
CHAT_OK = _response("200 OK", "application/json", COMPLETION)
HEALTH_OK = _response("200 OK", "application/json", b'{"status":"ok"}')
NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":"not found"}')
BAD_REQUEST = _response("400 Bad Request", "application/json", b'{"error":"bad request"}', True)
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")


def stream_events(chunks: int, usage: bool) -> list[bytes]:
    """The SSE events of one streamed answer, each already framed as an HTTP chunk."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-3.5-turbo"}
    words = CONTENT.split(" ")
    out = []
    for i in range(chunks):
        delta: dict[str, str] = {"content": words[i % len(words)] + " "}
        if i == 0:
            delta["role"] = "assistant"
        out.append(_sse({**base, "choices": [{"index": 0, "delta": delta,
                                               "finish_reason": None}]}))
    out.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if usage:
        out.append(_sse({**base, "choices": [], "usage": USAGE}))
    out.append(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return out


async def precise_sleep(deadline: float) -> None:
    """Sleep until ``time.monotonic() >= deadline`` with ~0.1 ms precision."""
    coarse = deadline - time.monotonic() - EARLY_S
    if coarse > 0:
        await asyncio.sleep(coarse)
    rest = deadline - time.monotonic()
    if rest > 0:
        time.sleep(rest)


class Settings:
    def __init__(self, delay_ms: float, chunks: int, gap_ms: float) -> None:
        self.delay = delay_ms / 1000
        self.gap = gap_ms / 1000
        self.streams = {u: stream_events(chunks, u) for u in (False, True)}


class Conn(asyncio.Protocol):
    """One client connection: keep-alive, requests answered in order."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Future[None] | None = None  # the last delayed answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            self.handle(head, body)

    def handle(self, head: bytes, body: bytes) -> None:
        """Answer one request; ``head`` is the lower-cased request line and headers."""
        assert self.transport is not None
        line = head.split(b"\r\n", 1)[0]
        method, _, rest = line.partition(b" ")
        path = rest.rpartition(b" ")[0]
        close = b"connection: close" in head
        delay = self.s.delay
        if path.startswith(b"/delay/"):
            ms, _, tail = path[7:].partition(b"/")
            delay, path = float(ms) / 1000, b"/" + tail
        if method == b"get" and path.startswith(b"/health"):
            self.send(HEALTH_OK, close)
        elif method != b"post" or not path.endswith(b"/completions"):
            self.send(NOT_FOUND, close)
        elif b'"stream"' not in body and delay == 0 and self.queue is None:
            self.send(CHAT_OK, close)  # the hot path: no parsing, no task
        else:
            try:
                req = orjson.loads(body)
            except orjson.JSONDecodeError:
                self.send(BAD_REQUEST, True)
                return
            deadline = time.monotonic() + delay
            if req.get("stream") is True:
                opts = req.get("stream_options") or {}
                events = self.s.streams[opts.get("include_usage") is True]
                self.later(self.stream(deadline, events, close))
            else:
                self.later(self.delayed(deadline, CHAT_OK, close))

    def later(self, coro: object) -> None:
        previous = self.queue

        async def ordered() -> None:
            if previous is not None:
                await previous
            await coro  # type: ignore[misc]

        self.queue = task = asyncio.ensure_future(ordered())
        task.add_done_callback(self.drained)

    def drained(self, task: asyncio.Future[None]) -> None:
        if self.queue is task:
            self.queue = None

    async def delayed(self, deadline: float, data: bytes, close: bool) -> None:
        await precise_sleep(deadline)
        self.send(data, close)

    async def stream(self, deadline: float, events: list[bytes], close: bool) -> None:
        await precise_sleep(deadline)
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(STREAM_HEAD + events[0])
        for event in events[1:]:
            if self.s.gap:
                await precise_sleep(time.monotonic() + self.s.gap)
            if self.transport.is_closing():
                return
            self.transport.write(event)
        if close:
            self.transport.close()

    def send(self, data: bytes, close: bool) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)
            if close:
                self.transport.close()


async def serve(host: str, port: int, settings: Settings,
                tls: tuple[int, str, str] | None = None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(settings), host, port, backlog=1024,
                                      reuse_address=True)
    if tls is not None:  # the same answers over HTTPS on a second port (bench/tls.py)
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[1], tls[2])
        await loop.create_server(lambda: Conn(settings), host, tls[0], backlog=1024,
                                 reuse_address=True, ssl=context)
        print(f"upstream serving https on {host}:{tls[0]}", flush=True)
    print(f"upstream serving on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=0.0, help="delay before every answer")
    p.add_argument("--chunks", type=int, default=8, help="content chunks per streamed answer")
    p.add_argument("--chunk-gap-ms", type=float, default=0.0, help="gap between stream chunks")
    p.add_argument("--tls-port", type=int, help="also serve HTTPS on this port")
    p.add_argument("--tls-cert", help="the HTTPS certificate chain (PEM)")
    p.add_argument("--tls-key", help="its private key (PEM)")
    args = p.parse_args()
    tls = (args.tls_port, args.tls_cert, args.tls_key) if args.tls_port else None
    settings = Settings(args.delay_ms, args.chunks, args.chunk_gap_ms)
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.host, args.port, settings, tls))


if __name__ == "__main__":
    main()
