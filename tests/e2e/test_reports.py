"""Spend reports (SPEC §5): /spend/keys, /spend/models, /spend/days, /spend/logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
CONFIG: dict[str, Any] = {
    "model_list": [{"model_name": name, "litellm_params": {"model": f"mock/{name}", **PRICES}}
                   for name in ("alpha", "beta")],
    "general_settings": {"master_key": MASTER_KEY},
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async with app_client(CONFIG, tmp_path) as c:
        yield c


async def get(client: TestClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=MASTER)
    assert r.status == 200, await r.text()
    return await r.json()


async def mint(client: TestClient, alias: str) -> dict[str, Any]:
    r = await client.post("/key/generate", json={"key_alias": alias}, headers=MASTER)
    return await r.json()  # type: ignore[no-any-return]


async def chat(client: TestClient, key: str, model: str, text: str = "hello") -> Decimal:
    r = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": model, "messages": [{"role": "user",
                                                              "content": text}]})
    assert r.status == 200
    return Decimal(r.headers["x-gw-response-cost"])


async def test_reports_agree_with_what_the_calls_cost(client: TestClient) -> None:
    a, b = await mint(client, "team-a"), await mint(client, "team-b")
    idle = await mint(client, "idle")
    costs_a = [await chat(client, a["key"], "alpha") for _ in range(3)]
    costs_a.append(await chat(client, a["key"], "beta", "a longer question here"))
    cost_b = await chat(client, b["key"], "beta")

    keys = await get(client, "/spend/keys")
    rows = {r["key_alias"]: r for r in keys["keys"]}
    assert rows["team-a"]["requests"] == 4 and rows["team-b"]["requests"] == 1
    assert Decimal(repr(rows["team-a"]["spend"])) == sum(costs_a)
    assert (rows["idle"]["spend"], rows["idle"]["requests"]) == (0, 0)
    assert rows["idle"]["key_id"] == idle["key_id"]
    assert [r["key_alias"] for r in keys["keys"]][:2] == ["team-a", "team-b"]  # by spend
    assert keys["total_requests"] == 5

    models = await get(client, "/spend/models")
    by_group = {r["model_group"]: r for r in models["models"]}
    assert (by_group["alpha"]["requests"], by_group["beta"]["requests"]) == (3, 2)
    assert (by_group["alpha"]["deployment"], by_group["alpha"]["provider"]) == ("mock/alpha",
                                                                              "mock")
    only_b = await get(client, "/spend/models", key=b["key_id"])
    assert [(r["model_group"], r["requests"]) for r in only_b["models"]] == [("beta", 1)]
    assert Decimal(repr(only_b["total_spend"])) == cost_b

    days = await get(client, "/spend/days", key=a["key"])
    assert len(days["days"]) == 1 and days["days"][0]["requests"] == 4


async def test_windows_include_since_and_exclude_until(client: TestClient) -> None:
    key = await mint(client, "w")
    await chat(client, key["key"], "alpha")
    assert (await get(client, "/spend/keys", since="1h"))["total_requests"] == 1
    past = await get(client, "/spend/keys", since="2020-01-01", until="2020-01-02")
    assert past["total_requests"] == 0 and len(past["keys"]) == 1  # listed with 0
    assert (await get(client, "/spend/models", until="2020-01-01"))["models"] == []
    assert (await get(client, "/spend/logs", since="30m"))["logs"]


async def test_logs_filter_and_page_without_secrets(client: TestClient) -> None:
    one, two = await mint(client, "one"), await mint(client, "two")
    for i in range(5):
        await chat(client, one["key"], "alpha", f"question {i}")
    await chat(client, two["key"], "beta")
    logs = (await get(client, "/spend/logs", key=one["key"], limit=3))["logs"]
    assert len(logs) == 3 and {log["key_alias"] for log in logs} == {"one"}
    rest = (await get(client, "/spend/logs", key=one["key_id"], limit=3, offset=3))["logs"]
    assert len(rest) == 2
    ids = [log["request_id"] for log in logs + rest]
    assert len(set(ids)) == 5
    times = [log["time"] for log in logs + rest]
    assert times == sorted(times, reverse=True)  # newest first
    row = logs[0]
    assert row["status"] == "success" and row["model_group"] == "alpha"
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    text = str(logs)
    assert one["key"] not in text and two["key"] not in text


@pytest.mark.parametrize("path, params", [
    ("/spend/logs", {"limit": "0"}), ("/spend/logs", {"limit": "x"}),
    ("/spend/logs", {"since": "yesterday"}), ("/spend/keys", {"until": "soon"}),
    ("/spend/models", {"since": "999999d"})])
async def test_bad_report_parameters_are_400(client: TestClient, path: str,
                                             params: dict[str, str]) -> None:
    r = await client.get(path, params=params, headers=MASTER)
    assert r.status == 400
    assert (await r.json())["error"]["type"] == "invalid_request_error"
