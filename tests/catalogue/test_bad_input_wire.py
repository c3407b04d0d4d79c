"""Catalogue (a), bad input on the wire: A3, A6, A7, A14, A18, A20 (see test_bad_input.py
for the whole A1–A25 map).

Requests no HTTP client would send go over a plain socket (:mod:`tests.support.rawhttp`),
to gwd in-process or, where memory or CPU is measured, to a real gwd's own port (its
``/proc`` counters are read). After every refusal gwd must still serve.

- A3: a non-JSON ``Content-Type`` is 415 before a byte of the body is read (the answer
  comes while the body was never sent), so the CVE-2024-8984 multipart boundary costs
  nothing: gwd has no multipart endpoint at all.
- A6 (the simple 413 is tests/e2e/test_http_edge.py::test_body_over_the_limit_is_413):
  a lying ``Content-Length`` and a chunked 64 MiB body; peak RSS rises by less than
  twice the limit.
- A7: a compressed body is 415 whatever its size, and is never inflated: a 1 GiB gzip
  bomb costs gwd well under a second of CPU and no memory. (Before this test gwd let
  aiohttp inflate request bodies: the bomb cost 1.8 s of CPU per request even
  without a key, because aiohttp inflated the unread body while draining it.)
- A14: bare CR/LF/NUL in a header, a header over 8 KiB, 200 headers -> 400 (aiohttp's
  parser, before gwd; its plain-text answer is not OpenAI's envelope). ``X_Foo``
  underscores are accepted, and no client header at all reaches the upstream.
- A18: ``?key=`` / ``?api_key=`` are ignored (401) and never written to the access log.
- A20: CL+TE, ``Transfer-Encoding: chunked123``, obs-fold, two different lengths ->
  400 and the connection is closed: the request smuggled inside is never run.
  Chunk extensions and trailers are valid HTTP/1.1 and are read as one request.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import select
import socket
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import GwdFactory
from tests.support.gateway import MASTER, PROVIDER_KEY, Gateway, gateway
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.rawhttp import exchange, first_answer, request, statuses

CHAT = "/v1/chat/completions"
OK = b'{"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}'
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
M = OK.replace(b"cheap", b"m")  # the real gwd's model


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def send(gw: Gateway, data: bytes, timeout: float = 5.0) -> bytes:
    return await asyncio.to_thread(exchange, gw.client.port, data, timeout)


async def still_serves(gw: Gateway) -> None:
    answer = await send(gw, request("POST", CHAT, {**AUTH, "Content-Type": "application/json"},
                                    OK))
    assert statuses(answer) == [200]


# ---------------------------------------------------------------------------- A3
MULTIPART_BOMB = "multipart/form-data; boundary=" + "-" * 4000 + "x" + "-" * 4000


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "text/html",
                                   MULTIPART_BOMB, "multipart/form-data; boundary=x"],
                         ids=["text", "xml", "html", "cve-2024-8984-boundary", "multipart"])
async def test_A3_non_json_types_are_415_before_the_body_is_read(gw: Gateway,
                                                                 ctype: str) -> None:
    head = request("POST", CHAT, {**AUTH, "Content-Type": ctype,
                                  "Content-Length": "50000000"})
    answer, seconds = await asyncio.to_thread(first_answer, gw.client.port, head)
    assert statuses(answer) == [415], answer[:200]
    assert seconds < 1.0  # the 50 MB body was never sent, so it was never waited for
    assert gw.fake.requests == []
    await still_serves(gw)


async def test_A3_the_cve_2024_8984_body_costs_no_cpu(gw: Gateway) -> None:
    body = (b"--" + b"-" * 4000 + b"x" + b"-" * 4000 + b"\r\n") * 120  # ~1 MB of dashes
    cpu = time.process_time()
    answer = await send(gw, request("POST", CHAT, {**AUTH, "Content-Type": MULTIPART_BOMB},
                                    body))
    assert statuses(answer) == [415]
    assert time.process_time() - cpu < 0.25  # target 50 ms; the margin is for a loaded box


async def test_A3_no_content_type_is_read_as_json(gw: Gateway) -> None:
    assert statuses(await send(gw, request("POST", CHAT, AUTH, OK))) == [200]
    assert statuses(await send(gw, request("POST", CHAT, AUTH, b"model=cheap"))) == [400]


# ---------------------------------------------------------------------------- A14
@pytest.mark.parametrize("line", [b"X-A: a\rb", b"X-A: a\nb", b"X-A: a\x00b",
                                  b"Authorization: Bearer sk-aaaa\x7f",
                                  b"X-Big: " + b"a" * 9000,
                                  b"\r\n".join(b"X-H%d: v" % i for i in range(200)),
                                  b"X A: b", b": empty-name"],
                         ids=["bare-cr", "bare-lf", "nul", "del-in-key", "8k-value",
                              "200-headers", "space-in-name", "empty-name"])
async def test_A14_malformed_headers_are_400_and_gwd_keeps_serving(gw: Gateway,
                                                                   line: bytes) -> None:
    data = b"GET /key/list HTTP/1.1\r\nHost: gw\r\n" + line + \
        b"\r\nAuthorization: Bearer " + MASTER_KEY.encode() + b"\r\n\r\n"
    answer = await send(gw, data)
    assert statuses(answer) == [400], answer[:200]
    assert MASTER_KEY.encode() not in answer
    await still_serves(gw)


async def test_A14_no_client_header_reaches_the_upstream(gw: Gateway) -> None:
    sent = {"X_Foo": "underscore-value", "X-Forwarded-For": "10.9.8.7",
            "Cookie": "session=cookie-value", "OpenAI-Organization": "org-client-value",
            "X-Api-Key": "client-api-key-value", "Traceparent": "00-client-trace-value-01",
            "Api-Key": "client-azure-key-value", "Anthropic-Version": "client-version-value"}
    r = await gw.client.post(CHAT, data=OK, headers={**MASTER, **sent,
                                                     "Content-Type": "application/json"})
    assert r.status == 200
    (upstream,) = gw.fake.requests
    assert upstream.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert set(upstream.headers) <= {"host", "authorization", "content-type", "user-agent",
                                     "content-length", "accept", "accept-encoding"}
    for value in [*sent.values(), MASTER_KEY]:
        assert value not in str(upstream.headers)


# ---------------------------------------------------------------------------- A20
SMUGGLED = request("POST", "/key/generate", {**AUTH, "Content-Type": "application/json"},
                   b'{"key_alias": "smuggled"}')
FRAMINGS = {
    "cl-te": [("Content-Length", "6"), ("Transfer-Encoding", "chunked")],
    "te-cl": [("Transfer-Encoding", "chunked"), ("Content-Length", "6")],
    "chunked123": [("Transfer-Encoding", "chunked123")],
    "te-identity": [("Transfer-Encoding", "identity, chunked")],
    "two-lengths": [("Content-Length", "6"), ("Content-Length", "7")],
    "length-list": [("Content-Length", "6, 7")],
    "signed-length": [("Content-Length", "+6")],
    "obs-fold": [("Content-Length", "6"), ("X-Fold", "a\r\n b")],
    "te-obs-fold": [("Transfer-Encoding", "\r\n chunked")],
}


@pytest.mark.parametrize("framing", FRAMINGS.values(), ids=FRAMINGS.keys())
async def test_A20_ambiguous_framing_is_400_and_nothing_smuggled_runs(
        gw: Gateway, framing: list[tuple[str, str]]) -> None:
    before = await gw.snapshot()
    body = b"0\r\n\r\n" + SMUGGLED
    data = request("POST", "/key/list", [*AUTH.items(), *framing], body)
    answer = await send(gw, data)
    assert statuses(answer) == [400], answer[:300]
    assert await gw.snapshot() == before
    await still_serves(gw)


async def test_A20_chunk_extensions_and_trailers_are_one_request(gw: Gateway) -> None:
    chunked = b"%x;ext=1;q=\"v\"\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (len(OK), OK)
    data = request("POST", CHAT, [*AUTH.items(), ("Transfer-Encoding", "chunked"),
                                  ("Content-Type", "application/json")], chunked)
    assert statuses(await send(gw, data)) == [200]
    assert len(gw.fake.requests) == 1


# ---------------------------------------------------------------------------- real gwd
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def real(gwd: GwdFactory) -> GwdProcess:
    proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": MASTER_KEY, "access_log": True}})
    for _ in range(8):  # warm up, so the peak RSS we compare with is gwd's steady state
        httpx.post(proc.base_url + CHAT, headers=AUTH, content=M)
    return proc


def stream_until_answered(port: int, head: bytes, chunks: int, chunk: bytes) -> bytes:
    """Send ``head`` then up to ``chunks`` x ``chunk``, stopping as soon as gwd answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for _ in range(chunks):
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
        sock.settimeout(5)
        return sock.recv(65536)


def test_A6_oversized_bodies_are_413_and_memory_stays_bounded(real: GwdProcess) -> None:
    assert real.proc is not None
    pid, limit_mb = real.proc.pid, 4
    rss = peak_rss_mb(pid)
    piece = b"x" * 65536
    chunked = b"%x\r\n%s\r\n" % (len(piece), piece)
    for head, chunk in [
        (request("POST", CHAT, {**AUTH, "Transfer-Encoding": "chunked"}), chunked),
        (request("POST", CHAT, {**AUTH, "Content-Length": str(64 << 20)}), piece),
        (request("POST", CHAT, {**AUTH, "Transfer-Encoding": "chunked"}), chunked),
    ]:
        answer = stream_until_answered(real.port, head, 1024, chunk)  # up to 64 MiB
        assert statuses(answer) == [413], answer[:200]
    # aiohttp's own request.read() buffered up to 5x the limit (20 MB here)
    assert peak_rss_mb(pid) - rss < 2 * limit_mb
    lying = request("POST", CHAT, {**AUTH, "Content-Length": "10"}, OK)  # body longer than said
    assert statuses(exchange(real.port, lying))[0] == 400
    assert httpx.post(real.base_url + CHAT, headers=AUTH, content=M).status_code == 200


def test_A7_compressed_bodies_are_415_and_never_inflated(real: GwdProcess) -> None:
    assert real.proc is not None
    pid = real.proc.pid
    rss, cpu = peak_rss_mb(pid), cpu_seconds(pid)
    bomb = gzip.compress(b"\0" * (1 << 28), 1)  # 256 MiB in about 1 MB
    for encoding, data in [("gzip", bomb), ("deflate", zlib.compress(b"\0" * (1 << 26), 1)),
                           ("gzip", gzip.compress(M)), ("br", b"\x0b\x02\x80")]:
        for key in (AUTH, {}):  # no key: refused before auth, as cheaply
            answer = exchange(real.port, request("POST", CHAT, {
                **key, "Content-Type": "application/json", "Content-Encoding": encoding}, data))
            assert statuses(answer) == [415], answer[:200]
    assert cpu_seconds(pid) - cpu < 0.4  # inflating the bomb twice took about 1 s
    assert peak_rss_mb(pid) - rss < 8
    ok = httpx.post(real.base_url + CHAT, headers={**AUTH, "Content-Encoding": "identity"},
                    content=M)
    assert ok.status_code == 200


def test_A18_keys_in_the_query_string_are_ignored_and_never_logged(real: GwdProcess) -> None:
    made = httpx.post(real.base_url + "/key/generate", headers=AUTH, json={}).json()
    key = made["key"]
    for query in (f"?key={key}", f"?api_key={MASTER_KEY}", f"?key={MASTER_KEY}&api_key={key}"):
        r = httpx.post(real.base_url + CHAT + query, content=M)
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = httpx.get(real.base_url + "/key/info", params={"key": key}, headers=AUTH)
    assert r.status_code == 200
    real.stop()
    log = real.log_text()
    assert key not in log and MASTER_KEY not in log and made["key_id"] not in log
    paths = [orjson.loads(line)["path"] for line in log.splitlines() if line.startswith("{")]
    assert paths.count(CHAT) >= 3 + 8 and "/key/info" in paths
    assert not any("?" in path for path in paths)
