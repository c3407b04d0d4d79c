"""OpenTelemetry traces (issue 21), received by a real OTLP/HTTP receiver on loopback.

gwd exports with the OpenTelemetry SDK's OTLP/HTTP exporter; the receiver decodes
the protobuf with opentelemetry-proto (tests/support/otlp.py). A call is a SERVER
span with the GenAI semantic conventions, the key id and the exact cost; each
upstream attempt, failed ones included, is a CLIENT child. Prompts and answers
appear only when capture is on; with tracing off nothing is exported (even with the
standard OTEL_* variables set) and OpenTelemetry is not even imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, REPO, GwdProcess, until, write_config
from tests.support.otlp import OtlpReceiver, Span

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
SERVER, CLIENT = 2, 3          # SpanKind in OTLP
ERROR = 2                      # Status.code
PROMPT = "a secret prompt 7c1e"


def config(fakes: list[OpenAIFake], **general: Any) -> dict[str, Any]:
    """Model group m over ``fakes``, tried in the order given (weights 10^6 apart)."""
    return {"model_list": [{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.base_url + "/v1",
        "api_key": "sk-up-trace-0123456789", "weight": 10.0 ** (6 - 12 * i), **PRICES}}
        for i, fake in enumerate(fakes)],
        "router_settings": {"num_retries": 1},
        "general_settings": {"master_key": MASTER_KEY, **general}}


def key_with_id(proc: GwdProcess) -> tuple[str, str]:
    key = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                     json={"key_alias": "traced"}).json()["key"]
    info = httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    return key, info.json()["info"]["key_id"]


def chat(proc: GwdProcess, key: str, **body: Any) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "m", "messages": [{"role": "user", "content": PROMPT}],
                            **body})


def wait_spans(receiver: OtlpReceiver, count: int) -> list[Span]:
    until(lambda: len(receiver.spans()) >= count, 15)
    return receiver.spans()


def test_a_call_and_each_attempt_are_spans_with_genai_attributes(gwd: GwdFactory) -> None:
    with OtlpReceiver() as receiver, OpenAIFake("a") as a, OpenAIFake("b") as b:
        a.set_default(Fault(status=500))   # tried first, fails; b answers
        proc = gwd(config([a, b], otel=True, otel_endpoint=receiver.endpoint))
        key, key_id = key_with_id(proc)
        r = chat(proc, key, temperature=0.5, max_tokens=20)
        assert r.status_code == 200
        spans = wait_spans(receiver, 3)
    (call,) = [s for s in spans if s.kind == SERVER]
    attempts = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert call.name == "chat m" and call.status_code != ERROR
    assert call.resource["service.name"] == "gwd"
    at = call.attributes
    assert at["gen_ai.operation.name"] == "chat" and at["gen_ai.request.model"] == "m"
    assert (at["gen_ai.usage.input_tokens"], at["gen_ai.usage.output_tokens"]) == (10, 5)
    assert at["gen_ai.request.temperature"] == 0.5 and at["gen_ai.request.max_tokens"] == 20
    assert at["gen_ai.response.model"] == "gpt-4o"
    assert at["gw.key_id"] == key_id and at["gw.key_alias"] == "traced"
    assert at["gw.cost_usd"] == r.headers["x-gw-response-cost"]
    assert at["gw.request_id"] == r.headers["x-request-id"] and at["gw.model_group"] == "m"
    assert at["http.response.status_code"] == 200
    assert [s.attributes["gw.outcome"] for s in attempts] == ["5xx", "ok"]
    assert attempts[0].status_code == ERROR and attempts[0].attributes["error.type"] == "5xx"
    for span in attempts:
        assert (span.trace_id, span.parent_span_id) == (call.trace_id, call.span_id)
        assert call.start_ns <= span.start_ns <= span.end_ns <= call.end_ns
        assert span.attributes["gen_ai.provider.name"] == "openai"
        assert span.attributes["server.address"] == "127.0.0.1"
    assert len({s.attributes["gw.deployment"] for s in attempts}) == 2   # failed over
    assert not any(PROMPT in str(v) or key in str(v)
                   for s in spans for v in s.attributes.values())


def test_prompts_and_answers_are_recorded_only_when_enabled(gwd: GwdFactory) -> None:
    with OtlpReceiver() as receiver, OpenAIFake("a") as a:
        proc = gwd(config([a], otel=True, otel_endpoint=receiver.endpoint,
                          otel_capture_content=True))
        key, _ = key_with_id(proc)
        assert chat(proc, key).status_code == 200
        with httpx.stream("POST", proc.base_url + "/v1/chat/completions", timeout=20,
                          headers={"Authorization": f"Bearer {key}"},
                          json={"model": "m", "stream": True,
                                "messages": [{"role": "user", "content": PROMPT}]}) as s:
            assert s.status_code == 200 and "[DONE]" in s.read().decode()
        spans = wait_spans(receiver, 4)
    calls = [s for s in spans if s.kind == SERVER]
    assert len(calls) == 2 and len([s for s in spans if s.kind == CLIENT]) == 2
    for call in calls:
        assert PROMPT in call.attributes["gen_ai.input.messages"]
    plain = next(c for c in calls if "gen_ai.output.messages" in c.attributes)
    assert a.reply_text in plain.attributes["gen_ai.output.messages"]


def test_tracing_is_off_by_default_and_then_exports_nothing(gwd: GwdFactory,
                                                           tmp_path: Path) -> None:
    with OtlpReceiver() as receiver, OpenAIFake("a") as a:
        proc = gwd(config([a]), env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
                                     "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
        key, _ = key_with_id(proc)
        assert chat(proc, key).status_code == 200
        assert proc.stop() == 0   # a tracer would flush its queue at shutdown
        assert receiver.requests == 0
    path = write_config(tmp_path / "off.yaml", config([a]))
    probe = ("import sys; from gwd.app import build_app; from gwd.config import load_config; "
             "from gwd.runtime import Runtime; r = Runtime(load_config(sys.argv[1])); "
             "build_app(r); print(r.tracer, any(m.startswith('opentelemetry') "
             "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True,
                         text=True, cwd=REPO, timeout=60, check=True)
    assert out.stdout.split() == ["None", "False"], out
