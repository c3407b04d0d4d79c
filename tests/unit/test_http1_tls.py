"""gwd.http1 over real TLS on loopback (a CA made at test time) and through a real
CONNECT proxy: verification, refusals with their reasons, client certificates,
streaming, keep-alive reuse, proxy credentials and NO_PROXY."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gwd.egress import Egress, NoProxy, ProxyEnv, TLSContexts, parse_proxy
from gwd.http1 import HTTPFailure, Pool
from tests.support.connectproxy import ConnectProxy
from tests.support.tlslab import TLSLab

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello"
STREAM = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
          b"Content-Type: text/event-stream\r\n\r\n")


class Upstream:
    """A loopback server (TLS or not) answering every request with ``OK``, or a
    two-piece chunked stream for ``/stream``; counts connections, keeps request heads."""

    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                               if ln.lower().startswith(b"content-length")), 0)
                await reader.readexactly(length)
                self.heads.append(head)
                if b" /stream" in head.split(b"\r\n")[0] or b"/stream " in head:
                    writer.write(STREAM)
                    for word in (b"one", b"two"):
                        writer.write(b"%x\r\n%s\r\n" % (len(word), word))
                        await writer.drain()
                        await asyncio.sleep(0.02)
                    writer.write(b"0\r\n\r\n")
                else:
                    writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def upstream(context: ssl.SSLContext | None) -> AsyncIterator[Upstream]:
    up = Upstream()
    server = await asyncio.start_server(up.serve, "127.0.0.1", 0, ssl=context)
    up.port = server.sockets[0].getsockname()[1]
    try:
        yield up
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def lab(tmp_path: Path) -> TLSLab:
    return TLSLab(tmp_path)


async def call(pool: Pool, url: str, egress: Egress | None = None) -> tuple[int, bytes]:
    resp = await pool.request(url, {"Authorization": "Bearer k"}, b'{"a":1}',
                              connect_timeout=3, first_byte_timeout=3, idle_timeout=3,
                              total_timeout=5, egress=egress)
    return resp.status, await resp.read(1 << 20)


def trusting(lab: TLSLab, proxies: ProxyEnv | None = None, **kw: str) -> Egress:
    return Egress(TLSContexts().get(lab.ca_file, **kw), proxies)


async def test_verified_tls_with_a_custom_ca_and_keep_alive_reuse(lab: TLSLab) -> None:
    async with upstream(lab.server_context()) as up:
        pool = Pool(trusting(lab))
        try:
            for _ in range(3):
                assert await call(pool, f"https://localhost:{up.port}/v1/x") == (200, b"hello")
        finally:
            await pool.close()
        assert up.connections == 1 and lab.handshakes == 1   # one handshake, three calls
        assert up.heads[0].startswith(b"POST /v1/x HTTP/1.1\r\n")


async def test_the_system_trust_store_does_not_know_the_test_ca(lab: TLSLab) -> None:
    async with upstream(lab.server_context()) as up:
        pool = Pool()
        try:
            with pytest.raises(HTTPFailure) as err:
                await call(pool, f"https://localhost:{up.port}/")
        finally:
            await pool.close()
    assert (err.value.kind, err.value.reason) == ("tls", "unknown_ca")
    assert "TLS" in str(err.value)


@pytest.mark.parametrize(("server", "reason"), [
    ({"untrusted": True}, "unknown_ca"),
    ({"names": ("gw-elsewhere.example",)}, "hostname_mismatch"),
    ({"expired": True}, "expired"),
])
async def test_bad_certificates_are_refused_with_their_reason(
        lab: TLSLab, server: dict[str, object], reason: str) -> None:
    async with upstream(lab.server_context(**server)) as up:  # type: ignore[arg-type]
        pool = Pool(trusting(lab))
        try:
            with pytest.raises(HTTPFailure) as err:
                await call(pool, f"https://localhost:{up.port}/")
        finally:
            await pool.close()
        assert up.heads == []     # not one byte of the request was sent
    assert (err.value.kind, err.value.reason) == ("tls", reason)
    assert str(err.value).startswith("TLS failure: ")


async def test_verification_off_accepts_any_certificate(lab: TLSLab) -> None:
    async with upstream(lab.server_context(untrusted=True, expired=True)) as up:
        pool = Pool(Egress(TLSContexts().get(False), None))
        try:
            assert await call(pool, f"https://localhost:{up.port}/") == (200, b"hello")
        finally:
            await pool.close()


async def test_client_certificate_is_presented_when_the_server_requires_one(
        lab: TLSLab) -> None:
    cert, key = lab.client_cert()
    async with upstream(lab.server_context(require_client=True)) as up:
        pool = Pool(trusting(lab, certfile=cert, keyfile=key))
        bare = Pool(trusting(lab))
        try:
            assert await call(pool, f"https://localhost:{up.port}/") == (200, b"hello")
            with pytest.raises(HTTPFailure) as err:
                await call(bare, f"https://localhost:{up.port}/")
        finally:
            await pool.close()
            await bare.close()
    assert err.value.kind in ("tls", "reset")   # TLS 1.3: the refusal may arrive as a close
    if err.value.kind == "tls":
        assert err.value.reason == "client_certificate"


async def test_streaming_over_tls_arrives_piece_by_piece(lab: TLSLab) -> None:
    async with upstream(lab.server_context()) as up:
        pool = Pool(trusting(lab))
        try:
            resp = await pool.request(f"https://localhost:{up.port}/stream", {}, b"",
                                      connect_timeout=3, first_byte_timeout=3,
                                      idle_timeout=3, total_timeout=5)
            assert [piece async for piece in resp.chunks()] == [b"one", b"two"]
            assert await call(pool, f"https://localhost:{up.port}/") == (200, b"hello")
        finally:
            await pool.close()
        assert up.connections == 1


async def test_https_through_a_connect_proxy_with_credentials(lab: TLSLab) -> None:
    with ConnectProxy("alice", "s3cret/pw") as proxy:
        env = ProxyEnv.from_env({"HTTPS_PROXY": proxy.url("alice", "s3cret%2Fpw")})
        async with upstream(lab.server_context()) as up:
            pool = Pool(trusting(lab, env))
            try:
                for _ in range(2):
                    assert await call(pool, f"https://localhost:{up.port}/v1/x") == \
                        (200, b"hello")
            finally:
                await pool.close()
            assert proxy.connects == [f"localhost:{up.port}"]   # one tunnel, reused
            assert up.connections == 1
            assert all(b"Proxy-Authorization" not in h for h in up.heads)


async def test_wrong_proxy_credentials_fail_without_echoing_them(lab: TLSLab) -> None:
    with ConnectProxy("alice", "right") as proxy:
        for url in (proxy.url("alice", "wrong-pw-xyz"), proxy.url()):
            env = ProxyEnv.from_env({"https_proxy": url})
            async with upstream(lab.server_context()) as up:
                pool = Pool(trusting(lab, env))
                try:
                    with pytest.raises(HTTPFailure) as err:
                        await call(pool, f"https://localhost:{up.port}/")
                finally:
                    await pool.close()
            assert err.value.kind == "connect" and "407" in str(err.value)
            assert "wrong-pw-xyz" not in str(err.value) and "alice" not in str(err.value)
        assert proxy.refused == 2


async def test_http_through_the_proxy_names_the_absolute_uri() -> None:
    with ConnectProxy("bob", "pw") as proxy:
        env = ProxyEnv.from_env({"HTTP_PROXY": proxy.url("bob", "pw")})
        async with upstream(None) as up:
            pool = Pool(Egress(TLSContexts().get(), env))
            try:
                for _ in range(2):
                    assert await call(pool, f"http://127.0.0.1:{up.port}/v1/y?z=1") == \
                        (200, b"hello")
            finally:
                await pool.close()
        assert proxy.forwards == [f"http://127.0.0.1:{up.port}/v1/y?z=1"] * 2
        assert proxy.connections == 1    # kept alive through the proxy
        assert up.heads[0].startswith(f"POST http://127.0.0.1:{up.port}/v1/y?z=1 ".encode())
        assert all(b"Proxy-Authorization" not in h for h in up.heads)


async def test_no_proxy_goes_direct(lab: TLSLab) -> None:
    with ConnectProxy() as proxy:
        env = ProxyEnv.from_env({"HTTPS_PROXY": proxy.url(), "HTTP_PROXY": proxy.url(),
                                 "NO_PROXY": "example.com, localhost"})
        async with upstream(lab.server_context()) as up:
            pool = Pool(trusting(lab, env))
            try:
                assert await call(pool, f"https://localhost:{up.port}/") == (200, b"hello")
            finally:
                await pool.close()
        assert proxy.connections == 0 and up.connections == 1


async def test_the_pool_keeps_proxied_and_direct_connections_apart(lab: TLSLab) -> None:
    with ConnectProxy() as proxy:
        via = trusting(lab, ProxyEnv.from_env({"HTTPS_PROXY": proxy.url()}))
        direct = trusting(lab)
        async with upstream(lab.server_context()) as up:
            pool = Pool()
            url = f"https://localhost:{up.port}/"
            try:
                for egress in (via, direct, via, direct):
                    assert await call(pool, url, egress) == (200, b"hello")
            finally:
                await pool.close()
            assert up.connections == 2 and len(proxy.connects) == 1


def test_no_proxy_semantics() -> None:
    rules = NoProxy("example.com, .internal.corp  *.svc,10.0.0.0/8,192.168.1.7, "
                    "api.local:8443,[::1]:9000")
    assert rules.matches("example.com", 443) and rules.matches("a.b.example.com", 443)
    assert not rules.matches("notexample.com", 443)
    assert rules.matches("internal.corp", 80) and rules.matches("x.internal.corp", 80)
    assert rules.matches("db.svc", 80) and rules.matches("EXAMPLE.COM.", 1)
    assert rules.matches("10.20.30.40", 1) and not rules.matches("11.0.0.1", 1)
    assert rules.matches("192.168.1.7", 1) and not rules.matches("192.168.1.8", 1)
    assert rules.matches("api.local", 8443) and not rules.matches("api.local", 443)
    assert rules.matches("::1", 9000) and not rules.matches("::1", 9001)
    assert NoProxy("*").matches("anything", 1) and not NoProxy("").matches("x", 1)


def test_proxy_env_lower_case_wins_and_credentials_stay_hidden() -> None:
    env = ProxyEnv.from_env({"HTTPS_PROXY": "http://upper:1", "https_proxy": "lower:3128",
                             "http_proxy": "http://u:p%40ss@proxy.corp:8080"})
    assert env.https is not None and (env.https.host, env.https.port) == ("lower", 3128)
    assert env.http is not None and env.http.authorization == "Basic dTpwQHNz"  # u:p@ss
    assert "p@ss" not in repr(env.http) and "dTpw" not in repr(env.http)
    assert env.proxy_for("api.openai.com", 443, True) == env.https
    assert parse_proxy("http://proxy").port == 80
    for bad in ("https://proxy:443", "socks5://proxy:1080", "http://u:secret@:80"):
        with pytest.raises(ValueError) as err:
            parse_proxy(bad)
        assert "secret" not in str(err.value)
    with pytest.raises(ValueError, match="HTTPS_PROXY"):
        ProxyEnv.from_env({"HTTPS_PROXY": "socks5://u:pw@h:1"})


def test_one_context_per_distinct_setting(lab: TLSLab) -> None:
    contexts = TLSContexts()
    a = contexts.get(lab.ca_file)
    assert contexts.get(lab.ca_file) is a and contexts.get(True) is not a
    assert len(contexts) == 2
    with pytest.raises(ValueError, match="file not found"):
        contexts.get("/nonexistent/ca.pem")


async def test_tls_inside_a_tunnel_is_verified_too(lab: TLSLab) -> None:
    with ConnectProxy() as proxy:
        env = ProxyEnv.from_env({"HTTPS_PROXY": proxy.url()})
        async with upstream(lab.server_context(expired=True)) as up:
            pool = Pool(trusting(lab, env))
            try:
                with pytest.raises(HTTPFailure) as err:
                    await call(pool, f"https://localhost:{up.port}/")
            finally:
                await pool.close()
            assert up.heads == []
        assert proxy.connects == [f"localhost:{up.port}"]
    assert (err.value.kind, err.value.reason) == ("tls", "expired")


async def test_a_proxy_that_is_down_is_a_connect_failure(lab: TLSLab) -> None:
    with ConnectProxy() as proxy:
        url = proxy.url()
    env = ProxyEnv.from_env({"HTTPS_PROXY": url})   # nothing listens there any more
    pool = Pool(trusting(lab, env))
    try:
        with pytest.raises(HTTPFailure) as err:
            await call(pool, "https://localhost:9/")
    finally:
        await pool.close()
    assert err.value.kind == "connect"
