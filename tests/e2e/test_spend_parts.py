"""Cached, cache-write, reasoning and web-search usage billed to the provider's invoice.

Real gwd, official OpenAI SDK as the client, fake OpenAI and Anthropic upstreams
answering with usage recorded from real answers (tests/data). The ledger, read with
plain SQL on SQLite and PostgreSQL, holds the exact cost and every billed part.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GwdFactory
from tests.fakes import AnthropicFake, Fault, OpenAIFake
from tests.support.gwd import MASTER_KEY
from tests.support.ledger import PICO, key_hash
from tests.support.pg import create_database, drop_database, fetch, run_async

DATA = Path(__file__).resolve().parent.parent / "data"
MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}


def recorded_usage(vendor: str, name: str) -> dict[str, Any]:
    usage: dict[str, Any] = json.loads((DATA / vendor / name).read_text())["usage"]
    return usage


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'parts.db'}"
        return
    base = request.getfixturevalue("pg_url")
    url = create_database(base, "gw_parts")
    yield url
    drop_database(base, url)


def ledger(url: str, token_hash: str) -> list[tuple[str, Decimal, int, int, dict[str, int]]]:
    """(model_group, cost, prompt, completion, usage_detail) of each row, oldest first."""
    sql = ("SELECT model_group, cost, prompt_tokens, completion_tokens, usage_detail"
           " FROM gw_spend_log WHERE key_hash = {} ORDER BY time, request_id")
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            found = conn.execute(sql.format("?"), (token_hash,)).fetchall()
        return [(g, Decimal(c) * PICO, p, o, json.loads(d)) for g, c, p, o, d in found]
    found = run_async(fetch(url, sql.format("$1"), token_hash))
    return [(r[0], Decimal(r[1]), r[2], r[3], json.loads(r[4]) if isinstance(r[4], str)
             else r[4]) for r in found]


def test_cache_and_reasoning_usage_is_billed_to_the_pico_dollar(
        gwd: GwdFactory, database_url: str) -> None:
    reasoning = recorded_usage("openai", "response_reasoning_cached.json")
    cached = recorded_usage("anthropic", "response_cache_search.json")
    with OpenAIFake("oai") as oai, AnthropicFake("claude") as claude:
        proc = gwd({"model_list": [
            {"model_name": "o4", "litellm_params": {
                "model": "openai/o4-mini", "api_base": oai.base_url + "/v1", "api_key": "sk-up1"}},
            {"model_name": "sonnet", "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5", "api_base": claude.base_url,
                "api_key": "sk-ant-up2"}}],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url}})
        created = httpx.post(proc.base_url + "/key/generate", headers=MASTER,
                             json={"max_budget": 5})
        key = created.json()["key"]
        client = openai.OpenAI(api_key=key, base_url=proc.base_url + "/v1", max_retries=0)
        oai.set_default(Fault(usage=reasoning))
        claude.set_default(Fault(usage=cached))
        # a prompt as long as the recorded ones (33,568 tokens): a budgeted call is billed
        # at most what its prompt could be
        messages: Any = [{"role": "user", "content": "what is the total? " * 2000}]

        answer = client.chat.completions.create(model="o4", messages=messages)
        assert answer.usage is not None and answer.usage.completion_tokens_details is not None
        assert answer.usage.completion_tokens_details.reasoning_tokens == 1536
        with client.chat.completions.create(model="o4", messages=messages, stream=True) as s:
            list(s)
        answer = client.chat.completions.create(model="sonnet", messages=messages)
        assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
        assert answer.usage.prompt_tokens_details.cached_tokens == 30000
        with client.chat.completions.create(model="sonnet", messages=messages, stream=True,
                                            stream_options={"include_usage": True}) as s:
            last = list(s)[-1]
        assert last.usage is not None and last.usage.prompt_tokens == 33568

        logs = httpx.get(proc.base_url + "/spend/logs", headers=MASTER).json()
        info = httpx.get(proc.base_url + "/key/info", params={"key": key},
                         headers=MASTER).json()["info"]

    openai_parts = {"cached_tokens": 2048, "reasoning_tokens": 1536}
    claude_parts = {"cached_tokens": 30000, "cache_write_tokens": 1024,
                    "cache_write_1h_tokens": 1024, "web_searches": 2}
    # o4-mini: 552 x 1.10 + 2048 x 0.275 + 1800 x 4.40 per 1M (reasoning inside the 1800);
    # sonnet 4.5: 1520 x 3 + 30000 x 0.30 + 1024 x 3.75 + 1024 x 6 + 412 x 15 per 1M + 2 x $0.01
    o4, sonnet = Decimal("0.0090904"), Decimal("0.049724")
    assert ledger(database_url, key_hash(key)) == [
        ("o4", o4, 2600, 1800, openai_parts), ("o4", o4, 2600, 1800, openai_parts),
        ("sonnet", sonnet, 33568, 412, claude_parts),
        ("sonnet", sonnet, 33568, 412, claude_parts)]
    assert Decimal(str(info["spend"])) == 2 * (o4 + sonnet)
    assert sorted(r["usage_detail"].get("cached_tokens") for r in logs["logs"]) == \
        [2048, 2048, 30000, 30000]
