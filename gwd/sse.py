"""Stream framing: Server-Sent Events and NDJSON, decoded incrementally and encoded.

Decoders are fed raw bytes as they arrive (any split, ``\\n``, ``\\r\\n`` or ``\\r``
line ends) and return complete events. They are bounded: an event larger than
``max_event_bytes`` raises :class:`FramingError` instead of growing without end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from .eventstream import EventStreamDecoder

DONE = b"data: [DONE]\n\n"
MAX_EVENT_BYTES = 8 * 1024 * 1024


class FramingError(Exception):
    """The upstream stream is not valid SSE / NDJSON, or an event is too large."""


def encode(obj: object) -> bytes:
    """One OpenAI stream chunk as an SSE event."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def encode_error(body: object) -> bytes:
    """An error event mid-stream, the way OpenAI sends one (the SDK raises on it)."""
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


class SSEDecoder:
    """Incremental SSE parser yielding ``(event_name, data)`` pairs."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []
        self._size = 0
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # a lone trailing \r may be the first half of \r\n: keep it for later
            keep_cr = buf.endswith(b"\r")
            buf = buf[:-1] if keep_cr else buf
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                buf += b"\r"
        out: list[tuple[str | None, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._line(buf[start:end], out)
            start = end + 1
        self._buf = buf[start:]
        if len(self._buf) + self._size > self._max:
            raise FramingError("stream event too large")
        return out

    def _line(self, line: bytes, out: list[tuple[str | None, bytes]]) -> None:
        if not line:
            if self._data:
                out.append((self._event, b"\n".join(self._data)))
            self._event, self._data, self._size = None, [], 0
            return
        if line[0:1] == b":":
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._size += len(value)
            if self._size > self._max:
                raise FramingError("stream event too large")
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")

    def close(self) -> list[tuple[str | None, bytes]]:
        """Flush a final event that lacked its blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._buf.strip(b"\r"):
            self._line(self._buf.rstrip(b"\r"), out)
        self._buf = b""
        self._line(b"", out)
        return out


class NDJSONDecoder:
    """Incremental newline-delimited JSON framing: yields each non-empty line."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        if len(self._buf) > self._max:
            raise FramingError("stream line too large")
        return [(None, line.strip()) for line in lines if line.strip()]

    def close(self) -> list[tuple[str | None, bytes]]:
        rest, self._buf = self._buf.strip(), b""
        return [(None, rest)] if rest else []


def decoder_for(stream_format: str) -> SSEDecoder | NDJSONDecoder | EventStreamDecoder:
    if stream_format == "aws-eventstream":   # Bedrock's binary framing (eventstream.py)
        from .eventstream import EventStreamDecoder
        return EventStreamDecoder()
    return NDJSONDecoder() if stream_format == "ndjson" else SSEDecoder()
