"""Teams across processes: blocking, unblocking and deleting a team, or blocking an
end-user, on one replica refuses (or serves again) on the other within a second, on two
PostgreSQL replicas and on two processes sharing one SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GwdFactory
from tests.support.gwd import MASTER_KEY, GwdProcess, until
from tests.support.pg import create_database, drop_database

MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    base: str = request.getfixturevalue("pg_url")
    url = create_database(base, "gw_tenants")
    yield url
    drop_database(base, url)


def config(database_url: str) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                                 "key_cache_ttl": 60}}


def chat(proc: GwdProcess, key: str, **extra: Any) -> int:
    r = httpx.post(proc.base_url + "/v1/chat/completions", timeout=10,
                   headers={"Authorization": f"Bearer {key}"},
                   json={"model": "m", "messages": [{"role": "user", "content": "hi"}],
                         **extra})
    return r.status_code


def admin(proc: GwdProcess, path: str, body: dict[str, Any]) -> Any:
    r = httpx.post(proc.base_url + path, headers=MASTER, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_team_and_end_user_changes_reach_the_other_process_within_a_second(
        gwd: GwdFactory, database_url: str) -> None:
    # a 60 s cache TTL: only the change notices can make b notice in time
    a = gwd(config(database_url), name="a")
    b = gwd(config(database_url), name="b")
    team = admin(a, "/team/new", {"team_alias": "t"})["team_id"]
    key = admin(a, "/key/generate", {"team_id": team})["key"]
    assert chat(b, key) == 200  # b now holds the key and the team in its caches
    admin(a, "/team/block", {"team_id": team})
    assert chat(a, key) == 403
    assert until(lambda: chat(b, key) == 403, 1.5) < 1.5
    admin(a, "/team/unblock", {"team_id": team})
    assert until(lambda: chat(b, key) == 200, 1.5) < 1.5
    assert chat(b, key, user="c1") == 200  # b caches "no customer c1"
    admin(a, "/customer/new", {"user_id": "c1", "blocked": True})
    assert until(lambda: chat(b, key, user="c1") == 403, 1.5) < 1.5
    admin(a, "/team/delete", {"team_ids": [team]})
    assert chat(a, key) == 401
    assert until(lambda: chat(b, key) == 401, 1.5) < 1.5


async def test_a_team_budget_holds_with_its_keys_hammered_on_two_processes(
        gwd: GwdFactory, database_url: str) -> None:
    cfg = config(database_url)
    cfg["model_list"][0]["litellm_params"].update(
        {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002})
    a = gwd(cfg, name="a")
    b = gwd(cfg, name="b")
    team = admin(a, "/team/new", {"team_alias": "t", "max_budget": 0.0004})["team_id"]
    keys = [admin(a, "/key/generate", {"team_id": team})["key"] for _ in range(2)]
    async with httpx.AsyncClient(timeout=30) as http:
        async def one(i: int) -> int:
            proc = (a, b)[i % 2]
            r = await http.post(proc.base_url + "/v1/chat/completions",
                                headers={"Authorization": f"Bearer {keys[i // 2 % 2]}"},
                                json={"model": "m", "max_tokens": 8,
                                      "messages": [{"role": "user", "content": "hi"}]})
            return r.status_code
        statuses = await asyncio.gather(*(one(i) for i in range(80)))
    assert set(statuses) == {200, 400} and statuses.count(200) >= 2
    info = httpx.get(a.base_url + "/team/info", params={"team_id": team}, headers=MASTER,
                     timeout=10).json()["team_info"]
    assert Decimal(str(info["spend"])) <= Decimal("0.0004")  # overshoot 0 across processes
    assert info["requests"] == statuses.count(200)
