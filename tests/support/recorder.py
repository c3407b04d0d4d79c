"""A recording TCP forwarder: everything a client sent gwd and everything gwd sent back.

The ``gwd`` fixture puts one in front of every gwd it starts (``GwdProcess.base_url``
is the recorder's address; ``direct_url`` is gwd's own), so the secret canary can
read what a client saw, not only what gwd logged::

    rec = Recorder(target_port).start()   # rec.port: where clients connect
    ...
    rec.stop()
    rec.received()  # gwd -> clients: every byte, plus the HTTP bodies de-chunked

It runs in its own thread and event loop (sync tests and async tests alike), one
upstream connection per client connection, and passes half-closes and resets
through, so a client that hangs up is seen by gwd as one that hung up. When gwd is
not listening (stopped, restarting), a client's connection is closed at once.
"""

from __future__ import annotations

import asyncio
import re
import threading

CHUNK = 65536
_CHUNKED = re.compile(rb"^transfer-encoding:[ \t]*chunked", re.IGNORECASE | re.MULTILINE)
_LENGTH = re.compile(rb"^content-length:[ \t]*([0-9]+)", re.IGNORECASE | re.MULTILINE)


class Recorder:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.port = 0
        self._sent: list[bytearray] = []      # client -> gwd, per connection
        self._got: list[bytearray] = []       # gwd -> client, per connection
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references: never GC'd mid-way

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Recorder:
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="gwd-recorder",
                                        daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=1024), loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            # (a connection accepted just before the close starts its task after it)
            while tasks := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        leftovers = asyncio.all_tasks(loop)  # started by callbacks that ran after shutdown()
        if leftovers:
            for task in leftovers:
                task.cancel()

            async def drain() -> None:
                await asyncio.gather(*leftovers, return_exceptions=True)

            loop.run_until_complete(drain())
        loop.close()

    # what was seen ------------------------------------------------------------
    def sent(self) -> bytes:
        """Every byte clients sent to gwd."""
        with self._lock:
            return b"\n".join(bytes(b) for b in self._sent)

    def received(self) -> bytes:
        """Every byte gwd sent to clients, then the same responses with their bodies
        de-chunked (so a secret split by chunk framing is still found)."""
        with self._lock:
            streams = [bytes(b) for b in self._got]
        return b"\n".join(streams + [dechunk(s) for s in streams])

    # the event loop's side ------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
            task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]
        sent, got = bytearray(), bytearray()
        with self._lock:
            self._sent.append(sent)
            self._got.append(got)
        up_writer: asyncio.StreamWriter | None = None
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            await asyncio.gather(self._pump(reader, up_writer, sent),
                                 self._pump(up_reader, writer, got), return_exceptions=True)
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    record: bytearray) -> None:
        try:
            while data := await reader.read(CHUNK):
                with self._lock:
                    record += data
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):  # one side reset: reset the other too
            writer.transport.abort()


def dechunk(stream: bytes) -> bytes:
    """The HTTP/1.1 responses in ``stream`` with chunked bodies joined back together
    (headers kept; anything that does not parse is kept as it is)."""
    out = bytearray()
    rest = stream
    while rest:
        head, sep, body = rest.partition(b"\r\n\r\n")
        if not sep:
            out += rest
            break
        out += head + sep
        if _CHUNKED.search(head):
            while True:
                size_line, crlf, body = body.partition(b"\r\n")
                try:
                    size = int(size_line.split(b";")[0], 16)
                except ValueError:
                    out += size_line + crlf + body
                    return bytes(out)
                if size == 0:
                    _, _, body = body.partition(b"\r\n")  # the empty trailer section
                    break
                out += body[:size]
                body = body[size + 2:]
            rest = body
        elif (length := _LENGTH.search(head)) is not None:
            size = int(length.group(1))
            out += body[:size]
            rest = body[size:]
        else:
            out += body
            break
    return bytes(out)

