"""Load balancing and failover against real fake upstreams (and a dead port)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, free_port

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fakes() -> Iterator[list[OpenAIFake]]:
    started = [OpenAIFake(f"fake{i}").start() for i in range(3)]
    yield started
    for fake in started:
        fake.stop()


def group(name: str, bases: list[str], **params: Any) -> list[dict[str, Any]]:
    return [{"model_name": name, "litellm_params": {"model": "openai/gpt-4o", "api_base": b,
                                                    "api_key": "sk-provider-key-abcdef123456",
                                                    **params}} for b in bases]


def config(model_list: list[dict[str, Any]], **router: Any) -> dict[str, Any]:
    return {"model_list": model_list, "general_settings": {"master_key": MASTER_KEY},
            "router_settings": {"num_retries": 2, **router}}


def sdk(proc: GwdProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proc.base_url + "/v1", api_key=MASTER_KEY, max_retries=0,
                         timeout=20)


def chat(proc: GwdProcess, **body: Any) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", headers=proc.headers(),
                      json={"model": "g", "messages": MESSAGES, **body}, timeout=30)


def test_group_spreads_calls_and_survives_a_dead_deployment(gwd: GwdFactory,
                                                            fakes: list[OpenAIFake]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url, dead])))
    with sdk(proc) as client:
        answers = [client.chat.completions.create(model="g", messages=MESSAGES)
                   .choices[0].message.content for _ in range(30)]
    assert all(a in (fakes[0].reply_text, fakes[1].reply_text) for a in answers)
    assert len(fakes[0].requests) >= 5 and len(fakes[1].requests) >= 5  # both share the load


def test_5xx_fails_over_and_the_failing_deployment_cools_down(gwd: GwdFactory,
                                                              fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(status=503))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url]), cooldown_time=30))
    for _ in range(20):
        r = chat(proc)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == \
            fakes[1].reply_text
    assert len(fakes[0].requests) == 1  # tried once, then cooling down


def test_upstream_4xx_is_not_retried(gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    for fake in fakes[:2]:
        fake.set_default(Fault(status=400, body={"error": {"message": "bad 'messages'"}}))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url])))
    r = chat(proc)
    assert r.status_code == 400
    assert "bad 'messages'" in r.json()["error"]["message"]
    assert len(fakes[0].requests) + len(fakes[1].requests) == 1


def test_upstream_401_is_a_502_that_hides_the_upstream_text(gwd: GwdFactory,
                                                            fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(status=401, body={"error": {
        "message": "Incorrect API key provided: sk-provider-key-abcdef123456"}}))
    proc = gwd(config(group("g", [fakes[0].base_url])))
    r = chat(proc)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_auth_error"
    assert "sk-provider" not in r.text


def test_all_deployments_failing_is_502_in_openai_shape(gwd: GwdFactory,
                                                        fakes: list[OpenAIFake]) -> None:
    for fake in fakes:
        fake.set_default(Fault(status=500))
    proc = gwd(config(group("g", [f.base_url for f in fakes]), num_retries=1))
    r = chat(proc)
    assert r.status_code == 502
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert sum(len(f.requests) for f in fakes) == 2  # 1 + num_retries attempts


def test_429_everywhere_is_429_with_retry_after(gwd: GwdFactory,
                                                fakes: list[OpenAIFake]) -> None:
    for fake in fakes[:2]:
        fake.set_default(Fault(status=429, headers={"Retry-After": "7"}))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url])))
    r = chat(proc)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert len(fakes[0].requests) == len(fakes[1].requests) == 1


def test_a_429_fails_over_to_the_other_deployment(gwd: GwdFactory,
                                                  fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(status=429))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url])))
    assert all(chat(proc).status_code == 200 for _ in range(5))


def test_hang_times_out_with_504(gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(hang=True))
    proc = gwd(config(group("g", [fakes[0].base_url]), first_byte_timeout=0.5))
    started = time.monotonic()
    r = chat(proc)
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 5


def test_hang_fails_over_to_a_healthy_deployment(gwd: GwdFactory,
                                                 fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(hang=True))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url]),
                      first_byte_timeout=0.5))
    for _ in range(4):
        r = chat(proc)
        assert r.status_code == 200 and fakes[1].reply_text in r.text


def test_reset_and_garbage_fail_over(gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    fakes[0].enqueue(Fault(reset=True))
    fakes[1].enqueue(Fault(garbage=b"<html>oops</html>"))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url, fakes[2].base_url]),
                      routing_strategy="least-busy"))
    r = chat(proc)
    assert r.status_code == 200
    assert sum(len(f.requests) for f in fakes) >= 1


def test_garbage_everywhere_is_502_without_echoing_it(gwd: GwdFactory,
                                                      fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(garbage=b"<html>secret-internal-page</html>"))
    proc = gwd(config(group("g", [fakes[0].base_url])))
    r = chat(proc)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
    assert "secret-internal-page" not in r.text


def test_stream_fails_over_before_the_first_chunk(gwd: GwdFactory,
                                                  fakes: list[OpenAIFake]) -> None:
    fakes[0].set_default(Fault(stream_cut_after=0))
    fakes[1].set_default(Fault(stream_cut_after=0))
    proc = gwd(config(group("g", [fakes[0].base_url, fakes[1].base_url, fakes[2].base_url])))
    with sdk(proc) as client:
        for _ in range(3):
            text = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(model="g", messages=MESSAGES,
                                                          stream=True) if c.choices)
            assert text == fakes[2].reply_text


def test_stream_cut_midway_ends_with_an_error_event(gwd: GwdFactory,
                                                    fakes: list[OpenAIFake]) -> None:
    fakes[0].reply_text = " ".join(f"w{i}" for i in range(20))
    fakes[0].set_default(Fault(stream_cut_after=5))
    proc = gwd(config(group("g", [fakes[0].base_url])))
    with sdk(proc) as client:
        stream = client.chat.completions.create(model="g", messages=MESSAGES, stream=True)
        got = []
        with pytest.raises(openai.APIError):
            for chunk in stream:
                got.append(chunk)
    assert got  # the first chunks arrived before the error


def test_client_disconnect_mid_stream_closes_the_upstream(gwd: GwdFactory,
                                                          fakes: list[OpenAIFake]) -> None:
    fakes[0].reply_text = " ".join(f"w{i}" for i in range(200))
    fakes[0].set_default(Fault(stream_delay=0.02))
    proc = gwd(config(group("g", [fakes[0].base_url])))
    with httpx.stream("POST", proc.base_url + "/v1/chat/completions", headers=proc.headers(),
                      json={"model": "g", "messages": MESSAGES, "stream": True},
                      timeout=10) as r:
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
    deadline = time.monotonic() + 5
    while not fakes[0].streams and time.monotonic() < deadline:
        time.sleep(0.05)
    outcome, sent, planned = fakes[0].streams[0]
    assert outcome == "closed_by_client" and sent < planned


def _call_in_flight(gwd: GwdFactory, fake: OpenAIFake, delay: float
                    ) -> tuple[GwdProcess, threading.Thread, dict[str, Any]]:
    """A gwd with one call waiting ``delay`` s on its upstream; the call's response lands
    in the dict under "r" once the thread ends."""
    fake.set_default(Fault(delay=delay))
    proc = gwd(config(group("g", [fake.base_url])))
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(r=chat(proc)))
    thread.start()
    fake.wait_for_requests(1)
    return proc, thread, result


def test_sigterm_drains_in_flight_requests_and_exits_0(gwd: GwdFactory,
                                                       fakes: list[OpenAIFake]) -> None:
    proc, thread, result = _call_in_flight(gwd, fakes[0], 1.5)
    proc.signal(15)
    thread.join(10)
    assert result["r"].status_code == 200
    assert proc.proc is not None and proc.proc.wait(10) == 0


def test_sigterm_repeated_during_the_drain_still_drains_and_exits_0(
        gwd: GwdFactory, fakes: list[OpenAIFake]) -> None:
    """Process managers repeat SIGTERM: each one after the first is ignored, during the
    drain and after it (once the event loop is gone, one would otherwise kill gwd -15)."""
    proc, thread, result = _call_in_flight(gwd, fakes[0], 1.0)
    assert proc.proc is not None
    while proc.proc.poll() is None:   # SIGTERM every 5 ms until it has exited
        proc.signal(15)
        time.sleep(0.005)
    thread.join(10)
    assert result["r"].status_code == 200
    assert proc.proc.returncode == 0
    assert "stopped" in proc.log_text()
