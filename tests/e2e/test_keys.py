"""Virtual keys (SPEC §4): generate/info/update/delete/list, durations, aliases, auth."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": name, "litellm_params": {"model": f"mock/{name}"}}
        for name in ("cheap", "expensive", "other")],
    "general_settings": {"master_key": MASTER_KEY},
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async with app_client(CONFIG, tmp_path) as c:
        yield c


async def generate(client: TestClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/key/generate", json=body, headers=MASTER)
    assert r.status == 200, await r.text()
    return await r.json()  # type: ignore[no-any-return]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def chat(client: TestClient, key: str, model: str, **extra: Any) -> Any:
    return await client.post("/v1/chat/completions", headers=bearer(key),
                             json={"model": model, "messages": HI, **extra})


async def key_count(client: TestClient) -> int:
    r = await client.get("/key/list", headers=MASTER)
    return len((await r.json())["keys"])


async def test_generate_returns_a_key_shown_once(client: TestClient) -> None:
    body = await generate(client, key_alias="ci-bot", metadata={"team": "ml"},
                          config={"tier": 2}, max_budget=12.5)
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{22}", body["key"])
    assert re.fullmatch(r"key-[0-9a-f]{16}", body["key_id"])
    assert body["key_name"] == "sk-..." + body["key"][-4:]
    assert (body["key_alias"], body["metadata"], body["config"], body["max_budget"]) == \
        ("ci-bot", {"team": "ml"}, {"tier": 2}, 12.5)
    listed = (await (await client.get("/key/list", headers=MASTER)).json())["keys"]
    assert body["key"] not in str(listed)
    assert hashlib.sha256(body["key"].encode()).hexdigest() not in str(listed)
    # LiteLLM's "token" names the key without its secret: gw's public key_id
    assert body["token"] == body["key_id"] and [k["token"] for k in listed].count(
        body["key_id"]) == 1


async def test_default_duration_is_one_hour(client: TestClient) -> None:
    for body in ({}, {"duration": None}):
        before = datetime.now(UTC)
        expires = datetime.fromisoformat((await generate(client, **body))["expires"])
        assert timedelta(minutes=59, seconds=59) < expires - before < timedelta(hours=1,
                                                                                seconds=5)


@pytest.mark.parametrize("duration, seconds", [
    ("30s", 30), ("20m", 1200), ("30min", 1800), ("30h", 108000), ("30d", 2592000)])
async def test_every_duration_form(client: TestClient, duration: str, seconds: int) -> None:
    before = datetime.now(UTC)
    expires = datetime.fromisoformat((await generate(client, duration=duration))["expires"])
    assert abs((expires - before).total_seconds() - seconds) < 5
    assert expires.utcoffset() == timedelta(0)


async def test_never_expires(client: TestClient) -> None:
    body = await generate(client, duration="never")
    assert body["expires"] is None
    r = await client.get("/key/info", params={"key": body["key"]}, headers=MASTER)
    assert (await r.json())["info"]["expires"] is None


@pytest.mark.parametrize("duration", ["-5m", "0s", "99999999d", "1x", "banana", "", " 5m",
                                      "5M", "1e3s", "5m5m", "５m", 30, True, [], {}])
async def test_bad_durations_are_400_and_store_nothing(client: TestClient,
                                                       duration: Any) -> None:
    before = await key_count(client)
    r = await client.post("/key/generate", json={"duration": duration}, headers=MASTER)
    assert r.status == 400
    err = (await r.json())["error"]
    assert err["param"] == "duration" and '"30s"' in err["message"]
    assert await key_count(client) == before


@pytest.mark.parametrize("body, param", [
    ({"models": "cheap"}, "models"), ({"models": [1]}, "models"),
    ({"aliases": ["x"]}, "aliases"), ({"aliases": {"a": 1}}, "aliases"),
    ({"max_budget": -5}, "max_budget"), ({"max_budget": "lots"}, "max_budget"),
    ({"max_budget": True}, "max_budget"), ({"metadata": "x"}, "metadata"),
    ({"config": []}, "config"), ({"key_alias": 5}, "key_alias"),
    ({"allowed_routes": ["/*"]}, "allowed_routes"), ({"user_role": "proxy_admin"}, "user_role"),
    ({"team_id": 5}, "team_id"), ({"user_id": ""}, "user_id"), ({"spend": 5}, "spend"),
])
async def test_unknown_or_mistyped_fields_are_400_and_store_nothing(
        client: TestClient, body: dict[str, Any], param: str) -> None:
    before = await key_count(client)
    r = await client.post("/key/generate", json=body, headers=MASTER)
    assert r.status == 400
    assert (await r.json())["error"]["param"] == param
    assert await key_count(client) == before


async def test_budget_nan_and_overflow_are_refused(client: TestClient) -> None:
    for raw in (b'{"max_budget": NaN}', b'{"max_budget": 1e309}'):
        r = await client.post("/key/generate", data=raw,
                              headers={**MASTER, "Content-Type": "application/json"})
        assert r.status == 400


async def test_expired_key_is_refused_in_real_time(client: TestClient) -> None:
    key = (await generate(client, duration="1s"))["key"]
    assert (await chat(client, key, "cheap")).status == 200
    await asyncio.sleep(1.2)
    r = await chat(client, key, "cheap")
    assert r.status == 401
    err = (await r.json())["error"]
    assert err["code"] == "expired_key" and key not in err["message"]


async def test_deleted_key_is_refused_at_once_and_says_so(client: TestClient) -> None:
    key = (await generate(client))["key"]
    assert (await chat(client, key, "cheap")).status == 200  # now cached
    r = await client.post("/key/delete", json={"keys": [key]}, headers=MASTER)
    assert r.status == 200 and (await r.json())["deleted_keys"] == [key]
    r = await chat(client, key, "cheap")
    assert r.status == 401
    err = (await r.json())["error"]
    assert err["code"] == "deleted_key" and key not in err["message"]
    again = await client.post("/key/delete", json={"keys": [key]}, headers=MASTER)
    assert again.status == 404


async def test_models_allow_list_is_enforced(client: TestClient) -> None:
    key = (await generate(client, models=["cheap"]))["key"]
    assert (await chat(client, key, "cheap")).status == 200
    r = await chat(client, key, "expensive")
    assert r.status == 403 and (await r.json())["error"]["code"] == "model_not_allowed"


async def test_alias_pointing_outside_the_models_is_kept_but_cannot_reach(
        client: TestClient) -> None:
    # LiteLLM's test_keys.py makes such keys; the models check after the alias refuses
    key = (await generate(client, models=["cheap"], aliases={"fast": "expensive"}))["key"]
    r = await chat(client, key, "fast")
    assert r.status == 403 and (await r.json())["error"]["code"] == "model_not_allowed"
    listed = await (await client.get("/v1/models", headers=bearer(key))).json()
    assert [m["id"] for m in listed["data"]] == ["cheap"]


async def test_alias_chains_are_refused(client: TestClient) -> None:
    r = await client.post("/key/generate", headers=MASTER, json={
        "aliases": {"a": "b", "b": "cheap"}})
    assert r.status == 400


async def test_alias_cannot_reach_a_model_outside_the_key(client: TestClient) -> None:
    key = (await generate(client, models=["cheap"], aliases={"fast": "cheap"}))["key"]
    # the operator narrows the models: the alias's target is no longer allowed
    r = await client.post("/key/update", headers=MASTER, json={"key": key,
                                                               "models": ["other"]})
    assert r.status == 200  # kept, but the alias now leads to a model the key may not use
    r = await chat(client, key, "fast")
    assert r.status == 403 and (await r.json())["error"]["code"] == "model_not_allowed"
    r = await client.post("/key/update", headers=MASTER, json={
        "key": key, "models": ["other"], "aliases": {}})
    assert r.status == 200
    r = await chat(client, key, "fast")
    assert r.status == 400 and (await r.json())["error"]["code"] == "model_not_found"


async def test_alias_shadowing_a_group_name_resolves_to_the_alias(client: TestClient) -> None:
    key = (await generate(client, models=["cheap"], aliases={"expensive": "cheap"}))["key"]
    r = await chat(client, key, "expensive")
    assert r.status == 200
    assert (await r.json())["model"] == "cheap"  # the mock names the model it served


async def test_models_lists_what_the_key_may_use(client: TestClient) -> None:
    key = (await generate(client, models=["cheap"], aliases={"gpt-3.5-turbo": "cheap"}))["key"]
    r = await client.get("/v1/models", headers=bearer(key))
    assert [m["id"] for m in (await r.json())["data"]] == ["cheap", "gpt-3.5-turbo"]
    r = await client.get("/v1/models", headers=MASTER)
    assert [m["id"] for m in (await r.json())["data"]] == ["cheap", "expensive", "other"]


@pytest.mark.parametrize("method, path", [
    ("POST", "/key/generate"), ("POST", "/key/update"), ("POST", "/key/delete"),
    ("GET", "/key/list"), ("GET", "/spend/keys"), ("GET", "/spend/models"),
    ("GET", "/spend/logs"), ("GET", "/spend/days"), ("POST", "/config/reload"),
    ("GET", "/health")])
async def test_virtual_keys_cannot_use_admin_routes(client: TestClient, method: str,
                                                    path: str) -> None:
    key = (await generate(client))["key"]
    r = await client.request(method, path, headers=bearer(key), json={"keys": [key]})
    assert r.status == 403
    assert (await r.json())["error"]["code"] == "admin_only"


async def test_a_key_reads_its_own_info_but_not_another_s(client: TestClient) -> None:
    mine, theirs = (await generate(client))["key"], (await generate(client))["key"]
    own = await client.get("/key/info", headers=bearer(mine))
    assert own.status == 200 and (await own.json())["info"]["key_name"].endswith(mine[-4:])
    own = await client.get("/key/info", params={"key": mine}, headers=bearer(mine))
    assert own.status == 200
    other = await client.get("/key/info", params={"key": theirs}, headers=bearer(mine))
    assert other.status == 403 and theirs not in await other.text()


async def test_update_and_info_by_key_id(client: TestClient) -> None:
    body = await generate(client, key_alias="first")
    r = await client.post("/key/update", headers=MASTER, json={
        "key": body["key_id"], "key_alias": "renamed", "max_budget": 3, "duration": "2h"})
    assert r.status == 200
    updated = (await r.json())
    assert updated["key"] is None  # the secret is never echoed when it was not given
    info = updated["info"]
    assert (info["key_alias"], info["max_budget"]) == ("renamed", 3.0)
    left = datetime.fromisoformat(info["expires"]) - datetime.now(UTC)
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2)
    r = await client.get("/key/info", params={"key": body["key_id"]}, headers=MASTER)
    assert (await r.json())["info"]["key_alias"] == "renamed"
    r = await client.post("/key/delete", json={"keys": [body["key_id"]]}, headers=MASTER)
    assert (await r.json())["deleted_keys"] == [body["key_id"]]
    assert (await chat(client, body["key"], "cheap")).status == 401


async def test_update_unknown_key_is_404_and_unknown_field_400(client: TestClient) -> None:
    r = await client.post("/key/update", headers=MASTER,
                          json={"key": "sk-unknownunknownunknown", "key_alias": "x"})
    assert r.status == 404
    key = (await generate(client))["key"]
    r = await client.post("/key/update", headers=MASTER, json={"key": key, "is_admin": True})
    assert r.status == 400


async def test_only_the_hash_is_stored(client: TestClient, tmp_path: Path) -> None:
    keys = [(await generate(client, key_alias=f"k{i}"))["key"] for i in range(3)]
    for key in keys:
        await chat(client, key, "cheap")
        await client.get("/key/info", params={"key": key}, headers=MASTER)
    await client.get("/spend/logs", headers=MASTER)  # flushes the spend buffer
    files = list(tmp_path.glob("gw.sqlite3*"))
    assert files
    data = b"".join(f.read_bytes() for f in files)
    for key in keys:
        assert key.encode() not in data
        assert key[3:].encode() not in data  # not even without its prefix
    assert hashlib.sha256(keys[0].encode()).hexdigest().encode() in data


async def test_sql_payload_keys_are_plain_401(client: TestClient) -> None:
    for payload in ("' OR '1'='1", "' OR (SELECT pg_sleep(8)) IS NULL --", "x'; DROP TABLE x;"):
        r = await chat(client, payload, "cheap")
        assert r.status == 401 and payload not in await r.text()
