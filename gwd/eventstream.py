"""AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

Bedrock's ConverseStream answers in this binary framing rather than SSE. One message is::

    total length (u32) | headers length (u32) | prelude CRC32 (u32, of the 8 bytes before)
    headers (name length u8, name, value type u8, value)... | payload
    message CRC32 (u32, of every byte of the message before it)

all big-endian. Both CRCs are checked; a mismatch, a length that cannot be, or a message
larger than ``max_event_bytes`` raises :class:`~gwd.sse.FramingError`, as bad SSE does.
The decoder gives ``(event name, payload)`` pairs like the SSE decoder: the name is the
``:event-type`` header for events, and ``exception:<:exception-type>`` for exceptions
(``:message-type`` ``exception`` or ``error``), so a translator can tell them apart.
"""

from __future__ import annotations

import struct
import zlib

from .sse import MAX_EVENT_BYTES, FramingError

PRELUDE = 12          # total length, headers length, prelude CRC
MIN_MESSAGE = 16      # a prelude and a message CRC, no headers, no payload
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}   # value type -> size
_U32 = struct.Struct(">I")


def parse_headers(raw: bytes) -> dict[str, object]:
    """The headers block of one message -> name: value (strings decoded, bools as bool)."""
    headers: dict[str, object] = {}
    i = 0
    while i < len(raw):
        size = raw[i]
        name = raw[i + 1:i + 1 + size].decode("utf-8", "replace")
        i += 1 + size
        if i >= len(raw):
            raise FramingError("event-stream header is cut short")
        kind = raw[i]
        i += 1
        if kind in (6, 7):   # byte array, string: u16 length then the bytes
            if i + 2 > len(raw):
                raise FramingError("event-stream header is cut short")
            length = int.from_bytes(raw[i:i + 2], "big")
            value: object = raw[i + 2:i + 2 + length]
            if kind == 7:
                value = bytes(value).decode("utf-8", "replace")   # type: ignore[arg-type]
            i += 2 + length
        elif kind in _FIXED:
            width = _FIXED[kind]
            value = kind == 0 if kind in (0, 1) else raw[i:i + width]
            i += width
        else:
            raise FramingError(f"event-stream header of unknown type {kind}")
        if i > len(raw):
            raise FramingError("event-stream header is cut short")
        headers[name] = value
    return headers


class EventStreamDecoder:
    """Incremental decoder: ``feed`` any split of the bytes, get the complete messages."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        self._buf += chunk
        out: list[tuple[str | None, bytes]] = []
        while len(self._buf) >= PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from(">III", self._buf)
            if zlib.crc32(bytes(self._buf[:8])) != prelude_crc:
                raise FramingError("event-stream prelude CRC mismatch")
            if total < MIN_MESSAGE or headers_length > total - MIN_MESSAGE:
                raise FramingError("event-stream message length is impossible")
            if total > self._max:
                raise FramingError("stream event too large")
            if len(self._buf) < total:
                break
            message = bytes(self._buf[:total])
            del self._buf[:total]
            if zlib.crc32(message[:-4]) != _U32.unpack_from(message, total - 4)[0]:
                raise FramingError("event-stream message CRC mismatch")
            headers = parse_headers(message[PRELUDE:PRELUDE + headers_length])
            payload = message[PRELUDE + headers_length:-4]
            out.append((self.name(headers), payload))
        return out

    @staticmethod
    def name(headers: dict[str, object]) -> str | None:
        kind = headers.get(":message-type")
        if kind in ("exception", "error"):
            return f"exception:{headers.get(':exception-type') or headers.get(':error-code')}"
        event = headers.get(":event-type")
        return event if isinstance(event, str) else None

    def close(self) -> list[tuple[str | None, bytes]]:
        if self._buf:
            self._buf.clear()
            raise FramingError("event-stream ended inside a message")
        return []
