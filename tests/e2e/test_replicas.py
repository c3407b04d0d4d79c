"""Two gwd replicas on one PostgreSQL: shared keys, prompt revocation, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import GwdFactory
from tests.support.gwd import MASTER_KEY, GwdProcess, until
from tests.support.pg import create_database, drop_database

pytestmark = pytest.mark.postgres
MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    url = create_database(pg_url, "gw_replicas")
    yield url
    drop_database(pg_url, url)


def replica_config(database_url: str) -> dict[str, Any]:
    return {"model_list": [{"model_name": n, "litellm_params": {"model": f"mock/{n}"}}
                           for n in ("cheap", "other")],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url,
                                 "key_cache_ttl": 60}}


def chat(proc: GwdProcess, key: str, model: str = "cheap") -> int:
    r = httpx.post(proc.base_url + "/v1/chat/completions", timeout=10,
                   headers={"Authorization": f"Bearer {key}"},
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return r.status_code


def test_replicas_share_keys_and_revocations_reach_the_other_within_a_second(
        gwd: GwdFactory, pg_database: str) -> None:
    # a long cache TTL: only LISTEN/NOTIFY can make the other replica notice in time
    a = gwd(replica_config(pg_database), name="a")
    b = gwd(replica_config(pg_database), name="b")
    key = httpx.post(a.base_url + "/key/generate", headers=MASTER,
                     json={"models": ["cheap", "other"]}).json()["key"]
    assert chat(b, key) == 200 and chat(a, key) == 200  # made on a, works on b (now cached)
    # an update on a narrows the models: b refuses "other" within about a second
    assert chat(b, key, "other") == 200
    r = httpx.post(a.base_url + "/key/update", headers=MASTER, json={"key": key,
                                                                     "models": ["cheap"]})
    assert r.status_code == 200
    assert until(lambda: chat(b, key, "other") == 403, 1.5) < 1.5
    # a delete on a: refused at once on a, within about a second on b
    assert httpx.post(a.base_url + "/key/delete", headers=MASTER,
                      json={"keys": [key]}).status_code == 200
    assert chat(a, key) == 401
    assert until(lambda: chat(b, key) == 401, 1.5) < 1.5


def test_keys_and_spend_survive_a_restart_of_either_replica(gwd: GwdFactory,
                                                            pg_database: str) -> None:
    a = gwd(replica_config(pg_database), name="a")
    b = gwd(replica_config(pg_database), name="b")
    key = httpx.post(b.base_url + "/key/generate", headers=MASTER, json={}).json()["key"]
    for proc in (a, b, a):
        assert chat(proc, key) == 200
    assert a.stop() == 0 and b.stop() == 0
    a.start()
    assert chat(a, key) == 200
    info = httpx.get(a.base_url + "/key/info", params={"key": key}, headers=MASTER).json()
    assert info["info"]["requests"] == 4
