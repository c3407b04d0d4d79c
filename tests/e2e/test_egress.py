"""Upstream egress end to end: the openai SDK -> a real gwd -> real TLS fakes on loopback,
directly or through a real CONNECT proxy (tests/support/connectproxy.py), with a CA made
at test time (tests/support/tlslab.py). What an enterprise network needs: a private CA,
mutual TLS, proxies from the environment (credentials, NO_PROXY), per-deployment
overrides, and operator signals (log line, metric, a 502 that says TLS) on TLS failure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GwdFactory
from tests.fakes import OpenAIFake
from tests.support.connectproxy import ConnectProxy
from tests.support.gwd import MASTER_KEY, GwdProcess, free_port
from tests.support.tlslab import TLSLab

PROVIDER_KEY = "sk-provider-egress-5a4b3c2d1e0f99887766"
PROXY_PASSWORD = "proxy-pw-Zq81x0-never-logged"
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def lab(tmp_path: Path) -> TLSLab:
    return TLSLab(tmp_path)


@pytest.fixture
def fakes() -> Iterator[list[OpenAIFake]]:
    started: list[OpenAIFake] = []
    yield started
    for fake in started:
        fake.stop()


def tls_fake(fakes: list[OpenAIFake], name: str, lab: TLSLab | None = None,
             **server: Any) -> OpenAIFake:
    fake = OpenAIFake(name)
    if lab is not None:
        fake.tls = lab.server_context(**server)
    fakes.append(fake.start())
    return fake


def entry(group: str, fake: OpenAIFake | str, **params: Any) -> dict[str, Any]:
    base = fake if isinstance(fake, str) else fake.base_url
    return {"model_name": group, "model_info": {"id": f"{group}-dep"},
            "litellm_params": {"model": "openai/gpt-4o", "api_base": base,
                               "api_key": PROVIDER_KEY, **params}}


def config(*entries: dict[str, Any], **litellm: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model_list": list(entries),
                           "general_settings": {"master_key": MASTER_KEY},
                           "router_settings": {"num_retries": 0, "cooldown_time": 0.01}}
    if litellm:
        out["litellm_settings"] = litellm
    return out


def sdk(proc: GwdProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proc.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                         timeout=20)


def chat(proc: GwdProcess, model: str) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", headers=proc.headers(),
                      json={"model": model, "messages": MESSAGES}, timeout=20)


def tls_errors(proc: GwdProcess) -> dict[tuple[str, str], float]:
    text = httpx.get(proc.base_url + "/metrics", headers=proc.headers(), timeout=10).text
    return {(s.labels["deployment"], s.labels["reason"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "gw_upstream_tls_errors_total"}


def stream_text(client: openai.OpenAI, model: str) -> str:
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_private_ca_streaming_and_keep_alive_over_tls(gwd: GwdFactory, lab: TLSLab,
                                                      fakes: list[OpenAIFake]) -> None:
    fake = tls_fake(fakes, "tls-east", lab)
    proc = gwd(config(entry("g", fake, ssl_verify=lab.ca_file)))
    with sdk(proc) as client:
        for _ in range(3):
            answer = client.chat.completions.create(model="g", messages=MESSAGES)
            assert answer.choices[0].message.content == fake.reply_text
        assert stream_text(client, "g") == fake.reply_text
    assert len(fake.requests) == 4
    assert fake.requests[0].header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert lab.handshakes == 1   # one TLS handshake for four calls: the connection is reused


@pytest.mark.parametrize(("server", "reason"), [
    ({"untrusted": True}, "unknown_ca"),
    ({"names": ("elsewhere.example",)}, "hostname_mismatch"),
    ({"expired": True}, "expired"),
])
def test_tls_failures_are_a_502_saying_tls_a_log_line_and_a_metric(
        gwd: GwdFactory, lab: TLSLab, fakes: list[OpenAIFake], server: dict[str, Any],
        reason: str) -> None:
    fake = tls_fake(fakes, "tls-bad", lab, **server)
    proc = gwd(config(entry("g", fake), ssl_verify=lab.ca_file))
    for _ in range(2):
        resp = chat(proc, "g")
        assert resp.status_code == 502
        error = resp.json()["error"]
        assert "TLS" in error["message"] and "g-dep" in error["message"]
        for internal in (lab.ca_file, "Traceback", "SSLCertVerificationError", "_ssl.c"):
            assert internal not in resp.text
    assert fake.requests == []   # nothing reached the upstream: no key was sent
    assert tls_errors(proc) == {("g-dep", reason): 2}
    proc.stop()
    log = proc.log_text()
    lines = [ln for ln in log.splitlines() if "event=upstream_failure deployment=g-dep" in ln]
    assert len(lines) == 2
    assert all(f"reason=tls tls_reason={reason} " in ln and "TLS failure: " in ln
               for ln in lines)


def test_client_certificate_per_deployment(gwd: GwdFactory, lab: TLSLab,
                                           fakes: list[OpenAIFake]) -> None:
    fake = tls_fake(fakes, "mtls", lab, require_client=True)
    cert, key = lab.client_cert()
    proc = gwd(config(entry("with-cert", fake, ssl_certfile=cert, ssl_keyfile=key),
                      entry("without", fake), ssl_verify=lab.ca_file))
    with sdk(proc) as client:
        assert stream_text(client, "with-cert") == fake.reply_text
    assert chat(proc, "with-cert").status_code == 200
    refused = chat(proc, "without")
    assert refused.status_code == 502
    assert len(fake.requests) == 2


def test_https_proxy_from_the_environment_with_credentials_and_no_proxy(
        gwd: GwdFactory, lab: TLSLab, fakes: list[OpenAIFake]) -> None:
    proxied = tls_fake(fakes, "via-proxy", lab)
    direct = tls_fake(fakes, "direct", lab)
    with ConnectProxy("gw", PROXY_PASSWORD) as proxy:
        env = {"HTTPS_PROXY": proxy.url("gw", PROXY_PASSWORD),
               "no_proxy": f"example.com,localhost:{direct.port}"}
        proc = gwd(config(entry("p", proxied), entry("d", direct), ssl_verify=lab.ca_file),
                   env=env, secrets=[PROXY_PASSWORD])
        with sdk(proc) as client:
            for _ in range(2):
                assert client.chat.completions.create(
                    model="p", messages=MESSAGES).choices[0].message.content == \
                    proxied.reply_text
            assert stream_text(client, "p") == proxied.reply_text
            assert stream_text(client, "d") == direct.reply_text
        assert proxy.connects == [f"localhost:{proxied.port}"]   # one tunnel, kept alive
        assert proxy.refused == 0 and proxy.connections == 1
        assert (len(proxied.requests), len(direct.requests)) == (3, 1)
        assert all(r.header("proxy-authorization") is None for r in proxied.requests)


def test_wrong_proxy_credentials_are_a_502_that_does_not_repeat_them(
        gwd: GwdFactory, lab: TLSLab, fakes: list[OpenAIFake]) -> None:
    fake = tls_fake(fakes, "behind", lab)
    with ConnectProxy("gw", "the-right-one") as proxy:
        proc = gwd(config(entry("p", fake), ssl_verify=lab.ca_file),
                   env={"https_proxy": proxy.url("gw", PROXY_PASSWORD)},
                   secrets=[PROXY_PASSWORD])
        resp = chat(proc, "p")
        assert resp.status_code == 502 and "407" in resp.json()["error"]["message"]
        assert proxy.refused == 1 and fake.requests == []


def test_per_deployment_proxy_override(gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    plain = tls_fake(fakes, "plain-http")
    dead_proxy = f"http://127.0.0.1:{free_port()}"   # nothing listens there
    with ConnectProxy("dep", PROXY_PASSWORD) as proxy:
        proc = gwd(config(entry("own", plain, proxy=proxy.url("dep", PROXY_PASSWORD)),
                          entry("direct", plain, proxy=False),
                          entry("env", plain)),
                   env={"HTTP_PROXY": dead_proxy}, secrets=[PROXY_PASSWORD])
        assert chat(proc, "own").status_code == 200
        assert chat(proc, "direct").status_code == 200
        assert chat(proc, "env").status_code == 502   # the environment's (dead) proxy
        assert proxy.forwards == [f"{plain.base_url}/chat/completions"]
        assert len(plain.requests) == 2


def test_ssl_verify_false_warns_at_start_and_accepts_any_certificate(
        gwd: GwdFactory, lab: TLSLab, fakes: list[OpenAIFake]) -> None:
    fake = tls_fake(fakes, "lab-box", lab, untrusted=True, expired=True)
    proc = gwd(config(entry("g", fake, ssl_verify=False)))
    assert chat(proc, "g").status_code == 200
    log = proc.log_text()
    assert "ssl_verify is false" in log and "NOT checked" in log


def test_a_missing_ca_bundle_stops_gwd_at_start_naming_the_setting(tmp_path: Path) -> None:
    proc = GwdProcess(config(entry("g", "https://localhost:1"),
                             ssl_verify=str(tmp_path / "missing-ca.pem")), tmp_path)
    proc.start(wait=False)
    assert proc.proc is not None
    deadline = time.monotonic() + 20
    while proc.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.proc.returncode == 1
    log = proc.log_text()
    assert "config error" in log and "ssl_verify" in log and "file not found" in log
    assert "Traceback" not in log
    proc.close()


def test_a_reload_rereads_the_ca_bundle_and_a_bad_one_keeps_the_old(
        gwd: GwdFactory, lab: TLSLab, fakes: list[OpenAIFake], tmp_path: Path) -> None:
    fake = tls_fake(fakes, "rotated", lab)
    bundle = tmp_path / "bundle.pem"
    lab.other_ca.cert_pem.write_to_path(str(bundle))     # the wrong CA first
    proc = gwd(config(entry("g", fake), ssl_verify=str(bundle)))
    assert chat(proc, "g").status_code == 502
    lab.ca.cert_pem.write_to_path(str(bundle))            # the operator fixes the bundle
    reload = httpx.post(proc.base_url + "/config/reload", headers=proc.headers(), timeout=10)
    assert reload.status_code == 200
    assert chat(proc, "g").status_code == 200
    bundle.write_text("not a certificate\n")              # a broken bundle: reload refused
    reload = httpx.post(proc.base_url + "/config/reload", headers=proc.headers(), timeout=10)
    assert reload.status_code >= 400 and "ssl_verify" in reload.text
    assert chat(proc, "g").status_code == 200              # the old plan keeps serving
