"""Raw HTTP/1.1 over a plain socket: requests no HTTP client library would send.

``exchange(port, data)`` writes ``data`` as it is and returns every byte the server
sent until it closed the connection (or ``timeout`` passed); ``statuses(answer)``
lists the status code of each response in it, so a test can assert single-request
semantics (a smuggled second request got no answer of its own). The blocking calls
are meant for ``asyncio.to_thread`` when the server runs in the test's event loop.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time

_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3}) ")


def exchange(port: int, data: bytes, timeout: float = 5.0, *,
             half_close: bool = False) -> bytes:
    """Send ``data``; read until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close early
            sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)


def first_answer(port: int, head: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send only ``head`` (a request's headers, its body never follows) and return the
    first bytes of the answer and the seconds it took: an answer that comes without
    the body proves the body was never read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.perf_counter()
        sock.sendall(head)
        out = bytearray()
        while b"\r\n\r\n" not in out:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
        return bytes(out), time.perf_counter() - started


def statuses(answer: bytes) -> list[int]:
    """The status code of every response in ``answer``, in order."""
    return [int(m.group(1)) for m in _STATUS.finditer(answer)]


def request(method: str, target: str, headers: dict[str, str] | list[tuple[str, str]],
            body: bytes = b"", *, host: str | None = "gw.test") -> bytes:
    """One HTTP/1.1 request, byte for byte (``Content-Length`` added for a body)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    lines = [f"{method} {target} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in items]
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in items):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
