"""AWS event-stream framing (gwd/eventstream.py) on recorded ConverseStream frames
(tests/data/bedrock/*.bin), cross-checked against botocore's own parser."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from botocore.eventstream import EventStreamBuffer

from gwd.eventstream import EventStreamDecoder
from gwd.sse import FramingError, decoder_for

DATA = Path(__file__).resolve().parent.parent / "data" / "bedrock"


def frames(name: str) -> bytes:
    return (DATA / name).read_bytes()


def decode(raw: bytes, step: int | None = None) -> list[tuple[str | None, bytes]]:
    decoder = EventStreamDecoder()
    out: list[tuple[str | None, bytes]] = []
    step = step or len(raw)
    for i in range(0, len(raw), step):
        out += decoder.feed(raw[i:i + step])
    return out + decoder.close()


@pytest.mark.parametrize("name", ["converse_stream_text.bin", "converse_stream_tool.bin"])
def test_same_messages_as_botocore_s_parser(name: str) -> None:
    raw = frames(name)
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    theirs = [(m.headers[":event-type"], m.payload) for m in buffer]
    assert decode(raw) == theirs and len(theirs) >= 6


@pytest.mark.parametrize("step", [1, 3, 7, 64])
def test_any_split_of_the_bytes_gives_the_same_messages(step: int) -> None:
    raw = frames("converse_stream_tool.bin")
    assert decode(raw, step) == decode(raw)


def test_exceptions_are_named_as_such() -> None:
    events = decode(frames("converse_stream_throttled.bin"))
    assert [e for e, _ in events] == ["messageStart", "contentBlockDelta",
                                      "exception:throttlingException"]
    assert b"Too many requests" in events[-1][1]


def test_the_stream_format_selects_this_decoder() -> None:
    assert isinstance(decoder_for("aws-eventstream"), EventStreamDecoder)


def flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


def test_a_corrupted_payload_fails_the_message_crc() -> None:
    raw = frames("converse_stream_text.bin")
    with pytest.raises(FramingError, match="message CRC"):
        decode(flip(raw, 60))


def test_a_corrupted_prelude_fails_the_prelude_crc() -> None:
    with pytest.raises(FramingError, match="prelude CRC"):
        decode(flip(frames("converse_stream_text.bin"), 2))


def test_an_impossible_length_is_refused_even_with_a_good_crc() -> None:
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(FramingError, match="impossible"):
        decode(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 8)


def test_an_oversized_message_is_refused_before_it_is_buffered() -> None:
    prelude = struct.pack(">II", 50_000_000, 0)
    with pytest.raises(FramingError, match="too large"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_a_stream_ending_inside_a_message_is_an_error() -> None:
    decoder = EventStreamDecoder()
    raw = frames("converse_stream_text.bin")
    decoder.feed(raw[:-5])
    with pytest.raises(FramingError, match="inside a message"):
        decoder.close()
