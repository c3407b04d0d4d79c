"""A reservation settles to the call's real cost the moment the cost is known (issue 19).

Measured before: budget $0.02, calls of $0.011 without max_tokens; the second call, sent
right after the first answered, was refused with $0.009 left, because the reservation
(the whole remaining budget) stayed open until the next batch flush. The spend flush
interval is set to 5 s here, so only an immediate settlement can admit the second call;
on PostgreSQL the second call goes to another replica.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GwdFactory
from tests.fakes import OpenAIFake
from tests.support.gwd import MASTER_KEY, GwdProcess
from tests.support.ledger import key_hash, totals
from tests.support.pg import create_database, drop_database

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRICE = "0.001"   # per token, in and out: 10 prompt + 1 completion tokens = $0.011


def config(fake: OpenAIFake, database_url: str) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.base_url + "/v1", "api_key": "sk-up-s3",
        "input_cost_per_token": PRICE, "output_cost_per_token": PRICE}}],
        "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                             "spend_flush_interval": 5}}


def chat(proc: GwdProcess, key: str, stream: bool = False) -> httpx.Response:
    return httpx.post(proc.base_url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "m", "messages": [{"role": "user", "content": "hi"}],
                            "stream": stream})


def back_to_back(first: GwdProcess, second: GwdProcess, database_url: str,
                 stream: bool = False) -> None:
    """The first call streamed or not; its answer is complete when the client has it."""
    key = httpx.post(first.base_url + "/key/generate", headers=MASTER,
                     json={"max_budget": 0.02}).json()["key"]
    one = chat(first, key, stream)
    assert one.status_code == 200, one.text
    if stream:
        assert one.text.endswith("data: [DONE]\n\n")
    else:
        assert one.headers["x-gw-response-cost"] == "0.011"
    # before the answer was sent, the call's row, spend and settled reservation were written
    assert totals(database_url, key_hash(key)).key_spend == Decimal("0.011")
    two = chat(second, key)   # $0.009 remains: admitted (it reserves what remains)
    assert two.status_code == 200, two.text
    three = chat(first, key)  # spend $0.022 >= $0.02: refused
    assert three.status_code == 400
    assert three.json()["error"]["code"] == "budget_exceeded"
    t = totals(database_url, key_hash(key))
    assert (t.key_spend, t.ledger_sum, t.ledger_rows) == (Decimal("0.022"),
                                                         Decimal("0.022"), 2)


def test_the_next_call_sees_exactly_budget_minus_spend(gwd: GwdFactory, tmp_path: Path) -> None:
    with OpenAIFake("up", prompt_tokens=10, completion_tokens=1) as fake:
        url = f"sqlite:///{tmp_path / 'settle.db'}"
        proc = gwd(config(fake, url))
        back_to_back(proc, proc, url)


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    url = create_database(pg_url, "gw_settle")
    yield url
    drop_database(pg_url, url)


@pytest.mark.postgres
def test_the_other_replica_sees_exactly_budget_minus_spend(
        gwd: GwdFactory, pg_database: str) -> None:
    with OpenAIFake("up", prompt_tokens=10, completion_tokens=1) as fake:
        a = gwd(config(fake, pg_database), name="a")
        b = gwd(config(fake, pg_database), name="b")
        back_to_back(a, b, pg_database, stream=True)
