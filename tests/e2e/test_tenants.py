"""Teams, internal users, end-users and organisations (SPEC §4b), with LiteLLM's request
bodies (BerriAI/litellm tests/test_team.py, test_users.py, test_end_users.py and the
docs' /team/new, /user/new, /customer/new, /organization/new examples)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": name, "litellm_params": {
            "model": f"mock/{name}", "mock_response": "Four words, no more.",
            "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}}
        for name in ("gpt-3.5-turbo", "gpt-4", "fake-openai-endpoint")],
    "general_settings": {"master_key": MASTER_KEY},
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async with app_client(CONFIG, tmp_path) as c:
        yield c


async def admin(client: TestClient, path: str, body: Any = None, status: int = 200,
                method: str = "post") -> Any:
    r = await getattr(client, method)(path, json=body, headers=MASTER)
    text = await r.text()
    assert r.status == status, text
    return await r.json()


async def get(client: TestClient, path: str, status: int = 200) -> Any:
    r = await client.get(path, headers=MASTER)
    assert r.status == status, await r.text()
    return await r.json()


async def chat(client: TestClient, key: str, model: str, **extra: Any) -> Any:
    return await client.post("/v1/chat/completions",
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": model, "messages": HI, **extra})


async def test_team_lifecycle_with_litellm_bodies(client: TestClient) -> None:
    await admin(client, "/user/new", {"user_id": "admin-1", "models": ["gpt-4"],
                                      "duration": None, "max_budget": None,
                                      "budget_duration": None, "user_email": None})
    team = await admin(client, "/team/new", {
        "team_alias": "my-new-team", "members_with_roles": [
            {"role": "admin", "user_id": "admin-1"},
            {"role": "user", "user_email": "new@example.com"}]})
    team_id = team["team_id"]
    assert team["team_alias"] == "my-new-team" and team["blocked"] is False
    roles = {m["user_id"]: m["role"] for m in team["members_with_roles"]}
    assert roles["admin-1"] == "admin" and len(roles) == 2  # the email became a user
    await admin(client, "/team/member_add", {"team_id": team_id, "member": [
        {"role": "user", "user_id": f"u{i}@example.com"} for i in range(10)]})
    info = await get(client, f"/team/info?team_id={team_id}")
    assert len(info["team_info"]["members_with_roles"]) == 12
    updated = await admin(client, "/team/update", {"team_id": team_id,
                                                   "team_alias": "renamed"})
    assert updated["data"]["team_alias"] == "renamed"
    assert updated["data"]["members_with_roles"] == info["team_info"]["members_with_roles"]
    user = await get(client, "/user/info?user_id=admin-1")
    assert [t["team_id"] for t in user["teams"]] == [team_id]
    await admin(client, "/team/member_delete", {"team_id": team_id,
                                                "user_email": "new@example.com"})
    info = await get(client, f"/team/info?team_id={team_id}")
    assert len(info["team_info"]["members_with_roles"]) == 11
    assert any(t["team_id"] == team_id for t in await get(client, "/team/list"))
    await admin(client, "/team/delete", {"team_ids": [team_id]})
    await get(client, f"/team/info?team_id={team_id}", status=404)
    assert (await get(client, "/user/info?user_id=admin-1"))["teams"] == []


async def test_key_models_must_lie_within_its_team(client: TestClient) -> None:
    team = await admin(client, "/team/new", {"team_alias": "t", "models": ["gpt-4"]})
    refused = await admin(client, "/key/generate", {
        "team_id": team["team_id"], "models": ["gpt-4", "gpt-3.5-turbo"]}, status=400)
    assert "gpt-3.5-turbo" in refused["error"]["message"]
    missing = await admin(client, "/key/generate", {"team_id": "no-such-team"}, status=400)
    assert missing["error"]["param"] == "team_id"
    key = (await admin(client, "/key/generate", {"team_id": team["team_id"]}))["key"]
    assert (await chat(client, key, "gpt-4")).status == 200
    denied = await chat(client, key, "gpt-3.5-turbo")  # the key has no list: the team's
    assert denied.status == 403
    assert (await denied.json())["error"]["code"] == "model_not_allowed"


async def test_team_alias_cannot_reach_a_model_outside_the_key(client: TestClient) -> None:
    team = await admin(client, "/team/new", {"team_alias": "t",
                                             "model_aliases": {"cheap-model": "gpt-4"}})
    narrow = (await admin(client, "/key/generate", {
        "team_id": team["team_id"], "models": ["gpt-3.5-turbo"]}))["key"]
    assert (await chat(client, narrow, "cheap-model")).status == 403  # PR #40957's hole
    wide = (await admin(client, "/key/generate", {
        "team_id": team["team_id"], "models": ["gpt-4"]}))["key"]
    r = await chat(client, wide, "cheap-model")
    assert r.status == 200, await r.text()


async def test_blocking_or_deleting_a_team_refuses_its_keys_at_once(client: TestClient) -> None:
    team = await admin(client, "/team/new", {"team_alias": "t"})
    key = (await admin(client, "/key/generate", {"team_id": team["team_id"]}))["key"]
    assert (await chat(client, key, "gpt-4")).status == 200
    await admin(client, "/team/block", {"team_id": team["team_id"]})
    r = await chat(client, key, "gpt-4")
    assert r.status == 403 and (await r.json())["error"]["code"] == "team_blocked"
    await admin(client, "/team/unblock", {"team_id": team["team_id"]})
    assert (await chat(client, key, "gpt-4")).status == 200
    await admin(client, "/team/delete", {"team_ids": [team["team_id"]]})
    r = await chat(client, key, "gpt-4")
    assert r.status == 401 and (await r.json())["error"]["code"] == "deleted_key"


async def test_spend_rolls_up_to_team_user_org_and_end_user(client: TestClient) -> None:
    org = await admin(client, "/organization/new", {"organization_alias": "acme",
                                                    "models": ["gpt-4", "gpt-3.5-turbo"]})
    team = await admin(client, "/team/new", {"team_alias": "t",
                                             "organization_id": org["organization_id"]})
    user = await admin(client, "/user/new", {"user_id": "alice", "team_id": team["team_id"],
                                             "models": ["gpt-4"]})
    key = user["key"]  # /user/new mints a key for the user, in the team
    other = (await admin(client, "/key/generate", {"team_id": team["team_id"]}))["key"]
    costs = []
    for k, end_user in ((key, "cust-1"), (key, None), (other, "cust-1")):
        r = await chat(client, k, "gpt-4", **({"user": end_user} if end_user else {}))
        assert r.status == 200, await r.text()
        usage = (await r.json())["usage"]
        costs.append(Decimal(usage["prompt_tokens"]) * Decimal("0.000001")
                     + Decimal(usage["completion_tokens"]) * Decimal("0.000002"))
    team_info = (await get(client, f"/team/info?team_id={team['team_id']}"))["team_info"]
    assert Decimal(str(team_info["spend"])) == sum(costs)
    assert team_info["requests"] == 3
    alice = await get(client, "/user/info?user_id=alice")
    assert Decimal(str(alice["user_info"]["spend"])) == costs[0] + costs[1]
    assert [k["user_id"] for k in alice["keys"]] == ["alice"]
    acme = await get(client, f"/organization/info?organization_id={org['organization_id']}")
    assert Decimal(str(acme["spend"])) == sum(costs)
    assert acme["teams"] == [{"team_id": team["team_id"], "team_alias": "t"}]
    await admin(client, "/customer/new", {"user_id": "cust-1", "max_budget": None})
    cust = await get(client, "/customer/info?end_user_id=cust-1")
    assert Decimal(str(cust["spend"])) == costs[0] + costs[2] and cust["requests"] == 2
    # an organisation's models bound its teams' keys
    r = await chat(client, key, "fake-openai-endpoint")
    assert r.status == 403


async def test_blocked_end_user_is_refused_and_unblocked_again(client: TestClient) -> None:
    key = (await admin(client, "/key/generate", {}))["key"]
    await admin(client, "/end_user/new", {"user_id": "bad-actor", "blocked": True})
    r = await chat(client, key, "gpt-4", user="bad-actor")
    assert r.status == 403 and (await r.json())["error"]["code"] == "customer_blocked"
    assert (await chat(client, key, "gpt-4", user="someone-else")).status == 200
    await admin(client, "/customer/unblock", {"user_ids": ["bad-actor"]})
    assert (await chat(client, key, "gpt-4", user="bad-actor")).status == 200
    await admin(client, "/customer/block", {"user_ids": ["bad-actor"]})
    assert (await chat(client, key, "gpt-4", user="bad-actor")).status == 403
    await admin(client, "/customer/delete", {"user_ids": ["bad-actor"]})
    assert (await chat(client, key, "gpt-4", user="bad-actor")).status == 200


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/team/new", {"team_alias": "t", "rpm_limit": 10}, "rpm_limit"),
    ("/team/new", {"team_alias": "t", "nonsense": 1}, "nonsense"),
    ("/team/new", {"models": "gpt-4"}, "models"),
    ("/team/new", {"max_budget": -1}, "max_budget"),
    ("/user/new", {"user_role": "god"}, "user_role"),
    ("/customer/new", {"alias": "no id"}, "user_id"),
    ("/organization/new", {"tpm_limit": 5}, "tpm_limit"),
    ("/team/member_add", {"team_id": "x", "member": {"role": "owner", "user_id": "u"}},
     "member"),
])
async def test_bad_bodies_get_a_400_naming_the_field_and_store_nothing(
        client: TestClient, path: str, body: dict[str, Any], field: str) -> None:
    refused = await admin(client, path, body, status=400)
    assert refused["error"]["param"] == field
    for kind in ("team", "customer", "organization"):
        assert await get(client, f"/{kind}/list") == []
    assert (await get(client, "/user/list"))["users"] == []


async def test_nulls_mean_not_set_and_ids_clash_with_409(client: TestClient) -> None:
    body = {"team_id": "fixed", "team_alias": None, "rpm_limit": None, "tpm_limit": None,
            "budget_duration": None, "models": None, "max_budget": None}
    assert (await admin(client, "/team/new", body))["team_id"] == "fixed"
    clash = await admin(client, "/team/new", body, status=409)
    assert clash["error"]["code"] == "team_exists"


async def test_a_virtual_key_cannot_administer_tenants(client: TestClient) -> None:
    key = (await admin(client, "/key/generate", {}))["key"]
    r = await client.post("/team/new", json={"team_alias": "x"},
                          headers={"Authorization": f"Bearer {key}"})
    assert r.status == 403
    assert await get(client, "/team/list") == []


async def test_team_budget_holds_under_concurrency_across_its_keys(client: TestClient) -> None:
    team = await admin(client, "/team/new", {"team_alias": "t", "max_budget": 0.0003})
    keys = [(await admin(client, "/key/generate", {"team_id": team["team_id"]}))["key"]
            for _ in range(3)]
    results = await asyncio.gather(*(chat(client, keys[i % 3], "gpt-4", max_tokens=8)
                                     for i in range(60)))
    statuses = [r.status for r in results]
    refusals = [await r.json() for r in results if r.status != 200]
    assert statuses.count(200) >= 2 and refusals
    assert all(e["error"]["code"] == "budget_exceeded" for e in refusals)
    assert "Budget has been exceeded!" in refusals[0]["error"]["message"]
    info = (await get(client, f"/team/info?team_id={team['team_id']}"))["team_info"]
    assert Decimal(str(info["spend"])) <= Decimal("0.0003")  # overshoot 0
    assert info["requests"] == statuses.count(200)


async def test_every_level_budget_applies_user_org_and_end_user(client: TestClient) -> None:
    org = await admin(client, "/organization/new", {"max_budget": 0})
    team = await admin(client, "/team/new", {"organization_id": org["organization_id"]})
    key = (await admin(client, "/key/generate", {"team_id": team["team_id"]}))["key"]
    r = await chat(client, key, "gpt-4", max_tokens=5)
    assert r.status == 400 and "Organization=" in (await r.json())["error"]["message"]
    free = (await admin(client, "/key/generate", {}))["key"]
    await admin(client, "/customer/new", {"user_id": "poor", "max_budget": 0})
    r = await chat(client, free, "gpt-4", user="poor", max_tokens=5)
    assert r.status == 400 and (await r.json())["error"]["code"] == "budget_exceeded"
    assert (await chat(client, free, "gpt-4", user="rich", max_tokens=5)).status == 200
    user = await admin(client, "/user/new", {"user_id": "u", "max_budget": 0})
    r = await chat(client, user["key"], "gpt-4", max_tokens=5)
    assert r.status == 400 and "User=u" in (await r.json())["error"]["message"]
    await admin(client, "/user/update", {"user_id": "u", "max_budget": 1})
    assert (await chat(client, user["key"], "gpt-4", max_tokens=5)).status == 200


async def test_key_list_and_spend_logs_filter_by_team_and_user(client: TestClient) -> None:
    team = await admin(client, "/team/new", {"team_alias": "t"})
    user = await admin(client, "/user/new", {"user_id": "dana", "team_id": team["team_id"]})
    other = (await admin(client, "/key/generate", {}))["key"]
    assert (await chat(client, user["key"], "gpt-4", user="cust-9")).status == 200
    assert (await chat(client, other, "gpt-4")).status == 200
    listed = await get(client, f"/key/list?team_id={team['team_id']}")
    assert [k["user_id"] for k in listed["keys"]] == ["dana"] and listed["total_count"] == 1
    assert (await get(client, "/key/list?user_id=dana"))["total_count"] == 1
    rows = await get(client, "/spend/logs?user_id=dana")
    assert len(rows) == 1 and rows[0]["team_id"] == team["team_id"]
    assert rows[0]["end_user"] == "cust-9"
    assert rows[0]["metadata"]["user_api_key_user_id"] == "dana"
    assert await get(client, "/spend/logs?user_id=nobody") == []
