"""model_info: base_model prices an Azure deployment, prices override, mode gates endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gwd.pricing import cost, lookup
from tests.conftest import GwdFactory
from tests.fakes import AzureFake, OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess

MESSAGES: Any = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-provider-key-model-info-0001"


@pytest.fixture
def azure() -> Iterator[AzureFake]:
    with AzureFake("az") as fake:
        yield fake


def post(proc: GwdProcess, path: str, key: str = MASTER_KEY, **body: Any) -> httpx.Response:
    return httpx.post(proc.base_url + path, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})


def test_base_model_prices_an_azure_deployment_and_budgets_work(gwd: GwdFactory,
                                                                azure: AzureFake) -> None:
    proc = gwd({"model_list": [{"model_name": "prod", "litellm_params": {
        "model": "azure/my-company-deployment", "api_base": azure.base_url,
        "api_key": UPSTREAM_KEY, "api_version": "2024-10-21"},
        "model_info": {"base_model": "azure/gpt-4o-mini", "mode": "chat"}}],
        "general_settings": {"master_key": MASTER_KEY}})
    key = httpx.post(proc.base_url + "/key/generate", headers=proc.headers(),
                     json={"max_budget": 1}, timeout=10).json()["key"]
    r = post(proc, "/v1/chat/completions", key, model="prod", messages=MESSAGES, max_tokens=20)
    assert r.status_code == 200, r.text  # a budgeted key: the price is known
    price = lookup("openai", "gpt-4o-mini")
    assert price is not None
    assert Decimal(r.headers["x-litellm-response-cost"]) == cost(
        price, azure.prompt_tokens, azure.completion_tokens).normalize()
    assert "my-company-deployment" in azure.requests[-1].path  # routed by deployment name
    assert "base_model" not in proc.log_text()  # honoured: not in the unhonoured warning


def test_model_info_prices_apply_and_litellm_params_win(gwd: GwdFactory) -> None:
    with OpenAIFake("priced") as fake:
        proc = gwd({"model_list": [
            {"model_name": "a", "litellm_params": {"model": "openai/gpt-4o",
                                                   "api_base": fake.base_url,
                                                   "api_key": UPSTREAM_KEY},
             "model_info": {"input_cost_per_token": 0.1, "output_cost_per_token": 0.2}},
            {"model_name": "b", "litellm_params": {"model": "openai/gpt-4o",
                                                   "api_base": fake.base_url,
                                                   "api_key": UPSTREAM_KEY,
                                                   "input_cost_per_token": 0.5},
             "model_info": {"input_cost_per_token": 0.1, "output_cost_per_token": 0.2}}],
            "general_settings": {"master_key": MASTER_KEY}})
        p, c = fake.prompt_tokens, fake.completion_tokens
        r = post(proc, "/v1/chat/completions", model="a", messages=MESSAGES)
        assert Decimal(r.headers["x-litellm-response-cost"]) == (
            Decimal("0.1") * p + Decimal("0.2") * c).normalize()
        r = post(proc, "/v1/chat/completions", model="b", messages=MESSAGES)
        assert Decimal(r.headers["x-litellm-response-cost"]) == (
            Decimal("0.5") * p + Decimal("0.2") * c).normalize()


def test_mode_embedding_serves_embeddings_only(gwd: GwdFactory) -> None:
    with OpenAIFake("emb") as fake:
        proc = gwd({"model_list": [{"model_name": "emb", "litellm_params": {
            "model": "openai/text-embedding-3-small", "api_base": fake.base_url,
            "api_key": UPSTREAM_KEY}, "model_info": {"mode": "embedding"}}],
            "general_settings": {"master_key": MASTER_KEY}})
        assert post(proc, "/v1/embeddings", model="emb", input="hi").status_code == 200
        r = post(proc, "/v1/chat/completions", model="emb", messages=MESSAGES)
        assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_endpoint"
        assert len(fake.requests) == 1
