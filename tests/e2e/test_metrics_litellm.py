"""/metrics, issue 21: LiteLLM's metric names beside gw's, and one scrape for all --workers.

A dashboard built on LiteLLM's metrics reads the same numbers gw counts itself:
requests, spend (exact, as decimal text), tokens, failures by status, per
deployment; the key is named by its key_id, never by its hash (the ``gwd`` fixture's
canary fails the test if a virtual key's SHA-256 reaches an answer). Under
``--workers 2`` every scrape, whichever worker answers it, counts every call.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}


def scrape(proc: GwdProcess) -> tuple[str, list[Any]]:
    r = httpx.get(proc.base_url + "/metrics", headers=MASTER, timeout=10)
    assert r.status_code == 200
    samples = [s for f in text_string_to_metric_families(r.text) for s in f.samples]
    return r.text, samples


def total(samples: list[Any], name: str, **labels: str) -> Decimal:
    return sum((Decimal(repr(s.value)) for s in samples if s.name == name
                and all(s.labels.get(k) == v for k, v in labels.items())), Decimal(0))


def key_with_id(proc: GwdProcess, alias: str) -> tuple[str, str]:
    key = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                     json={"key_alias": alias}).json()["key"]
    info = httpx.get(proc.base_url + "/key/info", params={"key": key}, headers=MASTER)
    return key, info.json()["info"]["key_id"]


def chat(proc: GwdProcess, key: str, model: str) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_litellm_metric_names_count_what_gw_counts(gwd: GwdFactory) -> None:
    with OpenAIFake("ok") as ok, OpenAIFake("down") as down:
        down.set_default(Fault(status=500))
        proc = gwd({"model_list": [
            {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o",
                                                   "api_base": ok.base_url + "/v1",
                                                   "api_key": "sk-up-lm-0123456789", **PRICES}},
            {"model_name": "broken", "litellm_params": {
                "model": "openai/gpt-4o", "api_base": down.base_url + "/v1",
                "api_key": "sk-up-lm-0123456789", **PRICES}}],
            "general_settings": {"master_key": MASTER_KEY},
            "router_settings": {"num_retries": 0}})
        key, key_id = key_with_id(proc, "dash")
        costs = [Decimal(chat(proc, key, "m").headers["x-gw-response-cost"]) for _ in range(3)]
        assert chat(proc, key, "broken").status_code == 502
        text, samples = scrape(proc)
    who = {"hashed_api_key": key_id, "api_key_alias": "dash"}
    assert total(samples, "litellm_requests_metric_total", model="m", **who) == 3
    assert total(samples, "litellm_requests_metric_total", model="broken", **who) == 1
    assert total(samples, "litellm_spend_metric_total", **who) == sum(costs) \
        == total(samples, "gw_spend_usd_total")
    assert total(samples, "litellm_input_tokens_total", requested_model="m", **who) == 30
    assert total(samples, "litellm_output_tokens_total", **who) == 15
    assert total(samples, "litellm_total_tokens_total", model="m", **who) == 45
    assert total(samples, "litellm_proxy_total_requests_metric_total", status_code="200") == 3
    assert total(samples, "litellm_proxy_failed_requests_metric_total",
                 exception_status="502", exception_class="APIError", **who) == 1
    assert total(samples, "litellm_deployment_success_responses_total",
                 api_provider="openai", litellm_model_name="openai/gpt-4o") == 3
    assert total(samples, "litellm_deployment_failure_responses_total",
                 api_base=down.base_url + "/v1") == 1
    assert total(samples, "litellm_deployment_total_requests_total") == 4
    assert total(samples, "litellm_deployment_state", api_base=ok.base_url + "/v1") == 0
    assert f'litellm_spend_metric_total{{end_user="",hashed_api_key="{key_id}"' in text


async def test_one_scrape_counts_the_calls_of_every_worker(gwd: GwdFactory,
                                                           tmp_path: Path) -> None:
    proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
        "model": "mock/m", **PRICES}}],
        "general_settings": {"master_key": MASTER_KEY,
                             "database_url": f"sqlite:///{tmp_path / 'w.db'}"}},
        extra_args=["--workers", "2"])
    connector = aiohttp.TCPConnector(force_close=True)   # a new connection (and worker) each
    async with aiohttp.ClientSession(connector=connector) as session:
        async def call(i: int) -> None:
            async with session.post(proc.base_url + "/v1/chat/completions", headers=MASTER,
                                    json={"model": "m", "messages": [
                                        {"role": "user", "content": f"n{i}"}]}) as r:
                assert r.status == 200
        await asyncio.gather(*(call(i) for i in range(200)))
    time.sleep(1.5)   # each worker's file is at most a second old
    for _ in range(8):   # new connections: the kernel hands scrapes to either worker
        _, samples = scrape(proc)
        assert total(samples, "gw_requests_total") == 200
        assert total(samples, "litellm_requests_metric_total", hashed_api_key="master") == 200
        assert total(samples, "gw_build_info") == 1
