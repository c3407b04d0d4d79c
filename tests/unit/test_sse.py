"""SSE and NDJSON framing: any split of the bytes gives the same events."""

from __future__ import annotations

import pytest

from gwd.sse import FramingError, NDJSONDecoder, SSEDecoder, encode

STREAM = (b": comment\n"
          b"event: message_start\ndata: {\"a\": 1}\n\n"
          b"data: {\"b\": 2}\r\n\r\n"
          b"data: line1\ndata: line2\n\n"
          b"data: [DONE]\n\n")
EXPECTED = [("message_start", b'{"a": 1}'), (None, b'{"b": 2}'), (None, b"line1\nline2"),
            (None, b"[DONE]")]


def decode_in_pieces(data: bytes, size: int) -> list[tuple[str | None, bytes]]:
    d = SSEDecoder()
    out = []
    for i in range(0, len(data), size):
        out += d.feed(data[i:i + size])
    return out + d.close()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_sse_any_split_gives_the_same_events(size: int) -> None:
    assert decode_in_pieces(STREAM, size) == EXPECTED


def test_sse_cr_only_line_endings() -> None:
    assert decode_in_pieces(b"data: x\r\rdata: y\r\r", 1) == [(None, b"x"), (None, b"y")]


def test_sse_final_event_without_blank_line_is_flushed_on_close() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: tail") == []
    assert d.close() == [(None, b"tail")]


def test_sse_event_size_is_bounded() -> None:
    d = SSEDecoder(max_event_bytes=100)
    with pytest.raises(FramingError):
        d.feed(b"data: " + b"x" * 200)


def test_ndjson_lines_across_splits() -> None:
    d = NDJSONDecoder()
    data = b'{"a":1}\n\n{"b":2}\n{"c"'
    out = []
    for i in range(len(data)):
        out += d.feed(data[i:i + 1])
    out += d.feed(b":3}")
    out += d.close()
    assert [line for _, line in out] == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_ndjson_line_size_is_bounded() -> None:
    with pytest.raises(FramingError):
        NDJSONDecoder(max_event_bytes=10).feed(b"x" * 20)


def test_encode_is_one_sse_event() -> None:
    assert encode({"x": 1}) == b'data: {"x":1}\n\n'
