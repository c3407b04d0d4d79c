"""/metrics of a real gwd after real calls: exact counters, gauges, labels, and who may scrape."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess, free_port
from tests.support.inproc import app_client

PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
CALL_COST = Decimal("0.00002")  # the fakes' 10 prompt + 5 completion tokens at PRICES
UNKNOWN_MODEL = "client-invented-model-7f3a"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def fakes() -> Iterator[dict[str, OpenAIFake]]:
    started = {name: OpenAIFake(name).start()
               for name in ("east", "west", "limited", "picky", "slow", "unpriced")}
    started["east"].set_default(Fault(status=503))
    started["limited"].set_default(Fault(status=429))
    started["picky"].set_default(Fault(status=400))
    started["slow"].set_default(Fault(delay=3.0))
    yield started
    for fake in started.values():
        fake.stop()


def entry(group: str, dep_id: str, base: str, model: str = "openai/gpt-4o",
          **params: Any) -> dict[str, Any]:
    return {"model_name": group, "model_info": {"id": dep_id},
            "litellm_params": {"model": model, "api_base": base,
                               "api_key": "sk-provider-metrics-0123456789", **params}}


def config(fakes: dict[str, OpenAIFake]) -> dict[str, Any]:
    url = {name: fake.base_url for name, fake in fakes.items()}
    return {
        "model_list": [
            entry("g", "east", url["east"], **PRICES), entry("g", "west", url["west"], **PRICES),
            entry("limited", "limited-1", url["limited"], **PRICES),
            entry("picky", "picky-1", url["picky"], **PRICES),
            entry("slow", "slow-1", url["slow"], timeout=0.3, **PRICES),
            entry("down", "down-1", f"http://127.0.0.1:{free_port()}", **PRICES),
            entry("unpriced", "unpriced-1", url["unpriced"], model="openai/no-price-model-x"),
            {"model_name": "m", "litellm_params": {"model": "mock/m"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 1, "cooldown_time": 60, "allowed_fails": 0},
    }


def chat(proc: GwdProcess, model: str, key: str | None = MASTER_KEY,
         **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(proc.base_url + "/v1/chat/completions", headers=headers, timeout=20,
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}],
                            **body})


def scrape(proc: GwdProcess) -> tuple[str, Samples]:
    resp = httpx.get(proc.base_url + "/metrics", headers=proc.headers(), timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(resp.text) for s in family.samples}
    return resp.text, samples


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0)


def test_metrics_count_calls_attempts_tokens_spend_and_errors_exactly(
        gwd: GwdFactory, fakes: dict[str, OpenAIFake]) -> None:
    proc = gwd(config(fakes))
    calls = 0
    while not fakes["east"].requests:  # until the failing deployment was tried once
        assert chat(proc, "g").status_code == 200
        calls += 1
        assert calls < 60
    stream = chat(proc, "g", stream=True)
    assert stream.status_code == 200 and stream.text.endswith("data: [DONE]\n\n")
    calls += 1
    statuses = {group: chat(proc, group).status_code
                for group in ("limited", "picky", "slow", "down", "unpriced", "m")}
    assert statuses == {"limited": 429, "picky": 400, "slow": 504, "down": 502,
                        "unpriced": 200, "m": 200}
    assert chat(proc, "g", key=None).status_code == 401
    assert chat(proc, "g", key="sk-not-a-key-0123456789abcdef").status_code == 401
    assert chat(proc, UNKNOWN_MODEL).status_code == 400

    text, s = scrape(proc)
    west = {"model_group": "g", "deployment": "west"}
    assert get(s, "gw_requests_total", **west, endpoint="chat", status="success",
               code_class="2xx") == calls
    assert get(s, "gw_upstream_attempts_total", deployment="west", outcome="ok") == calls
    assert get(s, "gw_upstream_attempts_total", deployment="east", outcome="5xx") == 1
    assert get(s, "gw_tokens_total", **west, kind="prompt") == 10 * calls
    assert get(s, "gw_tokens_total", **west, kind="completion") == 5 * calls
    spend_line = 'gw_spend_usd_total{model_group="g",deployment="west"} '
    assert Decimal(text.split(spend_line)[1].split("\n")[0]) == CALL_COST * calls  # exact
    assert get(s, "gw_request_duration_seconds_count", **west) == calls
    assert get(s, "gw_deployment_cooling_down", model_group="g", deployment="east") == 1
    assert get(s, "gw_deployment_cooling_down", model_group="g", deployment="west") == 0

    for group, dep, outcome, code_class in [("limited", "limited-1", "429", "4xx"),
                                            ("picky", "picky-1", "4xx", "4xx"),
                                            ("slow", "slow-1", "timeout", "5xx"),
                                            ("down", "down-1", "connect", "5xx")]:
        assert get(s, "gw_upstream_attempts_total", deployment=dep, outcome=outcome) == 1
        assert get(s, "gw_requests_total", model_group=group, deployment=dep, endpoint="chat",
                   status="error", code_class=code_class) == 1, group
    assert get(s, "gw_unknown_price_calls_total", model_group="unpriced",
               deployment="unpriced-1") == 1
    assert 'gw_spend_usd_total{model_group="unpriced"' not in text
    assert get(s, "gw_requests_total", model_group="m", deployment="mock/m", endpoint="chat",
               status="success", code_class="2xx") == 1
    assert get(s, "gw_upstream_attempts_total", deployment="mock/m", outcome="ok") == 1

    for status, code, count in [("401", "missing_api_key", 1), ("401", "invalid_api_key", 1),
                                ("400", "model_not_found", 1), ("429", "rate_limit_exceeded", 1),
                                ("400", "upstream_rejected", 1), ("504", "upstream_timeout", 1),
                                ("502", "upstream_error", 1)]:
        assert get(s, "gw_http_errors_total", status=status, code=code) == count, code
    assert get(s, "gw_in_flight_requests") == 0
    assert get(s, "gw_spend_flush_failures_total") == 0
    assert get(s, "gw_key_cache_entries") >= 1  # the unknown key is remembered
    assert UNKNOWN_MODEL not in text  # a client's model name never becomes a label


def test_metrics_need_the_master_key_by_default(gwd: GwdFactory) -> None:
    proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {"master_key": MASTER_KEY}})
    url = proc.base_url + "/metrics"
    assert httpx.get(url).status_code == 401
    made = httpx.post(proc.base_url + "/key/generate", headers=proc.headers(), json={})
    virtual = made.json()["key"]
    denied = httpx.get(url, headers={"Authorization": f"Bearer {virtual}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "admin_only"
    assert httpx.get(url, headers=proc.headers()).status_code == 200


async def test_metrics_auth_false_opens_the_route(tmp_path: Path) -> None:
    cfg = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
           "general_settings": {"master_key": MASTER_KEY, "metrics_auth": False}}
    async with app_client(cfg, tmp_path) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert "gw_build_info" in await resp.text()
        assert (await client.get("/key/list")).status == 401  # nothing else opened


async def test_mock_deployments_are_counted_like_any_other(tmp_path: Path) -> None:
    """A mock/ answer is an attempt too: /health and the attempt counter show it, and the
    router's in-flight count comes back to 0 (least-busy and latency-based rely on it)."""
    cfg = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
           "general_settings": {"master_key": MASTER_KEY}}
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    async with app_client(cfg, tmp_path) as client:
        for stream in (False, True, False):
            resp = await client.post("/v1/chat/completions", headers=auth, json={
                "model": "m", "messages": [{"role": "user", "content": "hi"}],
                "stream": stream})
            assert resp.status == 200
            await resp.read()
        health = await (await client.get("/health", headers=auth)).json()
        (dep,) = health["deployments"]
        assert (dep["deployment"], dep["successes"], dep["in_flight"]) == ("mock/m", 3, 0)
        samples = {(s.name, frozenset(s.labels.items())): s.value
                   for f in text_string_to_metric_families(
                       await (await client.get("/metrics", headers=auth)).text())
                   for s in f.samples}
        assert samples["gw_upstream_attempts_total",
                       frozenset({("deployment", "mock/m"), ("outcome", "ok")})] == 3
