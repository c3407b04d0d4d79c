"""Billed usage is capped at what a budgeted call could have produced (issue 19).

Measured before: an upstream reporting 10^12 completion tokens for a call with
max_tokens 5 was billed $3,000,000 on a key with max_budget 1. Now the budgeted call is
billed at the cap (prompt bound, max_tokens x n) and flagged; a call without a budget
keeps the reported usage, flagged the same way; both are counted and logged.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from tests.conftest import GwdFactory
from tests.fakes import Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY
from tests.support.ledger import key_hash, totals

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
HUGE = 10**12
LARGE = 10**9   # $10,000 at gpt-4o's output rate: still storable as one ledger cost


def test_an_absurd_usage_report_is_billed_at_the_cap_and_flagged(
        gwd: GwdFactory, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    with OpenAIFake("liar") as fake:
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url + "/v1",
            "api_key": "sk-up-cap"}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": url}})
        budgeted = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                              json={"max_budget": 1}).json()["key"]
        free = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                          json={}).json()["key"]
        fake.set_default(Fault(usage={"prompt_tokens": 12, "completion_tokens": HUGE,
                                      "total_tokens": HUGE + 12}))
        body = {"model": "m", "max_tokens": 5, "n": 2,
                "messages": [{"role": "user", "content": "hi"}]}
        capped = httpx.post(proc.base_url + "/v1/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {budgeted}"})
        assert capped.status_code == 200, capped.text
        # gpt-4o: 12 x 2.50 + (5 x 2) x 10 per 1M
        assert capped.headers["x-gw-response-cost"] == "0.00013"
        fake.set_default(Fault(usage={"prompt_tokens": 12, "completion_tokens": LARGE,
                                      "total_tokens": LARGE + 12}))
        reported = httpx.post(proc.base_url + "/v1/chat/completions", json=body,
                              headers={"Authorization": f"Bearer {free}"})
        assert reported.status_code == 200
        assert Decimal(reported.headers["x-gw-response-cost"]) == \
            12 * Decimal("0.0000025") + LARGE * Decimal("0.00001")
        logs = httpx.get(proc.base_url + "/spend/logs", headers=MASTER).json()["logs"]
        metrics = httpx.get(proc.base_url + "/metrics", headers=MASTER).text
    assert totals(url, key_hash(budgeted)).key_spend == Decimal("0.00013")
    rows = {r["completion_tokens"]: r for r in logs}
    assert set(rows) == {10, LARGE}
    assert rows[10]["usage_over_reported"] and rows[LARGE]["usage_over_reported"]
    assert 'gw_usage_over_reported_total{model_group="m",deployment=' in metrics
    assert 'budgeted="yes"} 1' in metrics and 'budgeted="no"} 1' in metrics
    assert "more than it could produce" in proc.log_text()


def test_honest_usage_is_not_flagged(gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("honest", prompt_tokens=12, completion_tokens=5) as fake:
        proc = gwd({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url + "/v1",
            "api_key": "sk-up-honest"}}],
            "general_settings": {"master_key": MASTER_KEY,
                                 "database_url": f"sqlite:///{tmp_path / 'h.db'}"}})
        key = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                         json={"max_budget": 1}).json()["key"]
        r = httpx.post(proc.base_url + "/v1/chat/completions",
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "m", "max_tokens": 5,
                             "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        logs = httpx.get(proc.base_url + "/spend/logs", headers=MASTER).json()["logs"]
    assert [row["usage_over_reported"] for row in logs] == [False]
    assert logs[0]["completion_tokens"] == 5
