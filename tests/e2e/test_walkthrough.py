"""The operator walkthrough (shared/reference/walkthrough.md), step by step, against real gwd.

Walkthrough 1: PostgreSQL, ollama/llama2 groups, a key with models + "20m",
spend read back with /key/info. Walkthrough 2: a model group of three
huggingface deployments reached through an alias, then "upgraded" by changing
the alias with /key/update. The request bodies are the walkthrough's, verbatim;
only the upstreams' api_base point at fake servers on loopback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import OllamaFake, OpenAIFake, TGIFake
from tests.support.pg import create_database, drop_database

KEY_PATTERN = re.compile(r"^sk-[A-Za-z0-9_-]{22}$")


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    url = create_database(pg_url, "gw_walk")
    yield url
    drop_database(pg_url, url)


def test_walkthrough_1_temporary_keys_and_spend(gwd: GwdFactory, pg_database: str) -> None:
    with OllamaFake("llama2") as ollama:
        config = {
            "model_list": [
                {"model_name": "gpt-4", "litellm_params": {"model": "ollama/llama2",
                                                           "api_base": ollama.base_url}},
                {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "ollama/llama2",
                                                                   "api_base": ollama.base_url}},
            ],
            "general_settings": {"master_key": "sk-1234", "database_url": pg_database},
        }
        proc = gwd(config)
        # Step 3: generate a temporary key (the walkthrough's body, verbatim; curl -d sends
        # it as application/x-www-form-urlencoded)
        before = datetime.now(UTC)
        r = httpx.post(proc.base_url + "/key/generate",
                       headers={"Authorization": "Bearer sk-1234",
                                "Content-Type": "application/x-www-form-urlencoded"},
                       content=b'{"models": ["gpt-3.5-turbo", "gpt-4", "claude-2"], '
                               b'"duration": "20m"}')
        assert r.status_code == 200, r.text
        body = r.json()
        key = body["key"]
        assert KEY_PATTERN.match(key)
        expires = datetime.fromisoformat(body["expires"])
        assert expires.tzinfo is not None
        assert timedelta(minutes=19, seconds=59) <= expires - before <= timedelta(minutes=20,
                                                                                   seconds=5)
        # use it
        with openai.OpenAI(base_url=proc.base_url, api_key=key, max_retries=0) as client:
            reply = client.chat.completions.create(
                model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hello"}])
            assert reply.choices[0].message.content == ollama.reply_text
            with pytest.raises(openai.BadRequestError):  # claude-2: allowed, but not served
                client.chat.completions.create(model="claude-2",
                                               messages=[{"role": "user", "content": "x"}])
        assert ollama.requests[-1].json["model"] == "llama2"
        # Tracking spend: /key/info with the master key
        info = httpx.get(proc.base_url + f"/key/info?key={key}",
                         headers={"Authorization": "Bearer sk-1234"}).json()
        assert info["key"] == key and info["info"]["token"] == key
        assert info["info"]["models"] == ["gpt-3.5-turbo", "gpt-4", "claude-2"]
        assert info["info"]["aliases"] == {} and info["info"]["config"] == {}
        assert datetime.fromisoformat(info["info"]["expires"]) == expires
        assert info["info"]["requests"] >= 1
        assert isinstance(info["info"]["spend"], float)  # ollama/ is self-hosted: priced 0


def test_walkthrough_2_alias_to_a_group_then_upgrade(gwd: GwdFactory) -> None:
    tgis = [TGIFake(f"tgi{i}").start() for i in range(3)]
    paid = OpenAIFake("paid").start()
    try:
        config = {
            "model_list": [
                *({"model_name": "my-free-tier",
                   "litellm_params": {"model": "huggingface/HuggingFaceH4/zephyr-7b-beta",
                                      "api_base": t.base_url}} for t in tgis),
                {"model_name": "my-paid-tier",
                 "litellm_params": {"model": "gpt-4", "api_key": "my-api-key",
                                    "api_base": paid.base_url}},
            ],
            "general_settings": {"master_key": "sk-1234"},
        }
        proc = gwd(config)
        master = {"Authorization": "Bearer sk-1234", "Content-Type": "application/json"}
        r = httpx.post(proc.base_url + "/key/generate", headers=master, content=b"""{
"models": ["my-free-tier"],
"aliases": {"gpt-3.5-turbo": "my-free-tier"},
"duration": "30min"
}""")
        assert r.status_code == 200, r.text
        key = r.json()["key"]
        with openai.OpenAI(base_url=proc.base_url + "/v1", api_key=key, max_retries=0) as c:
            answers = {c.chat.completions.create(
                model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}]
            ).choices[0].message.content for _ in range(24)}
            # the alias reaches the group, and the group's shuffle spreads over all three
            assert answers == {t.reply_text for t in tgis}
            assert all(len(t.requests) > 0 for t in tgis)
            with pytest.raises(openai.PermissionDeniedError):
                c.chat.completions.create(model="my-paid-tier",
                                          messages=[{"role": "user", "content": "hi"}])
            assert paid.requests == []
            assert {m.id for m in c.models.list()} == {"my-free-tier", "gpt-3.5-turbo"}
            # upgrade: point the alias at the paid tier, without touching the client
            up = httpx.post(proc.base_url + "/key/update", headers=master, json={
                "key": key, "models": ["my-free-tier", "my-paid-tier"],
                "aliases": {"gpt-3.5-turbo": "my-paid-tier"}})
            assert up.status_code == 200, up.text
            reply = c.chat.completions.create(model="gpt-3.5-turbo",
                                              messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == paid.reply_text
            assert paid.requests[-1].header("authorization") == "Bearer my-api-key"
            assert paid.requests[-1].json["model"] == "gpt-4"
        info = httpx.get(proc.base_url + "/key/info", params={"key": key},
                         headers=master).json()["info"]
        assert info["aliases"] == {"gpt-3.5-turbo": "my-paid-tier"}
        assert info["requests"] == 25 and info["spend"] > 0  # gpt-4 is priced
    finally:
        for fake in (*tgis, paid):
            fake.stop()
