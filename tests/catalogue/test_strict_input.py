"""Issue 21, strict types and sizes, and Retry-After on every 429.

Each refusal is a 400 in OpenAI's envelope naming the field, and leaves the key
count, the ledger and the fake upstream untouched (:meth:`Gateway.snapshot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes import Fault
from tests.support.gateway import HI, Gateway, bearer, gateway

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def refused(gw: Gateway, path: str, body: Any, param: str,
                  phrase: str) -> dict[str, Any]:
    before = await gw.snapshot()
    err = await gw.refused(await gw.post_raw(path, orjson.dumps(body)), 400, param=param)
    assert phrase in err["message"], err
    assert await gw.snapshot() == before
    return err


@pytest.mark.parametrize("bias", [{"x": "y"}, {"50256": "y"}, {"50256": 101},
                                  {"50256": True}, {"x": 5}, {"50256": None}, [1, 2]],
                         ids=str)
async def test_logit_bias_values_must_be_numbers_from_minus_100_to_100(
        gw: Gateway, bias: Any) -> None:
    await refused(gw, CHAT, {"model": "cheap", "messages": HI, "logit_bias": bias},
                  "logit_bias", "logit_bias")


async def test_a_valid_logit_bias_is_forwarded(gw: Gateway) -> None:
    r = await gw.post_raw(CHAT, orjson.dumps({"model": "cheap", "messages": HI,
                                              "logit_bias": {"50256": -100, "13": 2.5}}))
    assert r.status == 200
    assert gw.fake.requests[-1].json["logit_bias"] == {"50256": -100, "13": 2.5}


@pytest.mark.parametrize("part", [{"type": "text"}, {"type": "text", "text": None},
                                  {"type": "text", "text": 5}], ids=str)
async def test_a_text_part_needs_its_text(gw: Gateway, part: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "ok"}, part]}]
    await refused(gw, CHAT, {"model": "cheap", "messages": messages},
                  "messages.0.content.1.text", "text part")


@pytest.mark.parametrize("value", ["", ["a", ""]], ids=repr)
async def test_embeddings_input_cannot_be_an_empty_string(gw: Gateway, value: Any) -> None:
    await refused(gw, EMBED, {"model": "cheap", "input": value}, "input", "empty string")


@pytest.mark.parametrize("field", ["metadata", "config"])
async def test_key_objects_over_64_kb_are_refused(gw: Gateway, field: str) -> None:
    big = {"blob": "x" * (3 * 1024 * 1024)}
    err = await refused(gw, "/key/generate", {field: big}, field, "64 KB")
    assert "xxxx" not in err["message"]
    assert (await gw.generate(**{field: {"blob": "x" * 60_000}}))["key"]   # under: stored


async def test_key_delete_with_too_many_ids_says_so(gw: Gateway) -> None:
    ids = [f"key-{i:016x}" for i in range(100_000)]
    await refused(gw, "/key/delete", {"keys": ids}, "keys", "at most 1000 keys")


@pytest.mark.parametrize("retry_after", [None, "0.2"])
async def test_an_upstream_429_becomes_a_429_with_retry_after(
        gw: Gateway, retry_after: str | None) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    gw.fake.set_default(Fault(status=429, headers=headers))
    key = (await gw.generate())["key"]
    r = await gw.client.post(CHAT, json={"model": "cheap", "messages": HI},
                             headers=bearer(key))
    assert r.status == 429
    assert r.headers.get("Retry-After") == "1"   # at least a second, in whole seconds
    assert (await r.json())["error"]["type"] == "rate_limit_error"
