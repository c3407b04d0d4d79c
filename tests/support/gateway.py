"""gwd in-process in front of a fake OpenAI upstream, with the probes "nothing stored,
nothing forwarded, nothing leaked" needs (catalogue sections a and b).

::

    async with gateway(tmp_path) as gw:            # groups "cheap" and "expensive"
        before = await gw.snapshot()                # keys, ledger rows, upstream requests
        err = await gw.refused(await gw.chat(MASTER_KEY, "nope"), 400, "model_not_found")
        assert await gw.snapshot() == before

Both groups are OpenAI deployments on one :class:`~tests.fakes.OpenAIFake` (upstream
models ``cheap-up`` and ``expensive-up``) with a provider key, so a test can see
exactly what reached the upstream and that no secret came back.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gwd.auth import hash_key
from gwd.keys import key_name, new_key_id
from gwd.runtime import RUNTIME, Runtime
from gwd.store.base import KeyRecord
from tests.conftest import sha256_hex
from tests.fakes import OpenAIFake
from tests.fakes.responses_fake import ResponsesFake
from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

PROVIDER_KEY = "sk-provider-canary-7f3c9a1e5b2d4c6e8a0b"
MASTER = {"Authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}


def gateway_config(upstream: str, **general: Any) -> dict[str, Any]:
    return {"model_list": [
        {"model_name": name, "litellm_params": {
            "model": f"openai/{name}-up", "api_base": upstream + "/v1",
            "api_key": PROVIDER_KEY, **PRICES}} for name in ("cheap", "expensive")],
        "general_settings": {"master_key": MASTER_KEY, **general}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Snapshot:
    keys: int
    ledger_rows: int
    upstream_requests: int


@dataclass
class Gateway:
    client: TestClient
    fake: OpenAIFake

    @property
    def runtime(self) -> Runtime:
        return self.client.server.app[RUNTIME]  # type: ignore[union-attr]

    async def generate(self, **body: Any) -> dict[str, Any]:
        r = await self.client.post("/key/generate", json=body, headers=MASTER)
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]

    async def chat(self, key: str | None, model: str = "cheap", **extra: Any) -> ClientResponse:
        return await self.client.post("/v1/chat/completions",
                                      headers=bearer(key) if key else {},
                                      json={"model": model, "messages": HI, **extra})

    async def post_raw(self, path: str, data: bytes, key: str | None = MASTER_KEY,
                       content_type: str | None = "application/json") -> ClientResponse:
        headers = bearer(key) if key else {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        payload = io.BytesIO(data) if len(data) > 1 << 20 else data  # big: no ResourceWarning
        return await self.client.post(path, data=payload, headers=headers)

    async def craft(self, raw: str, **fields: Any) -> KeyRecord:
        """Store a key with a chosen secret (and any fields, e.g. a past ``expires``)
        straight through the store, as /key/generate would have."""
        now = datetime.now(UTC)
        record = KeyRecord(token_hash=hash_key(raw), key_id=new_key_id(),
                           key_name=key_name(raw), created_at=now, updated_at=now,
                           **fields)
        await self.runtime.store.insert_key(record)
        return record

    async def snapshot(self) -> Snapshot:
        """Keys stored, ledger rows written (after a flush), requests the upstream got."""
        keys = await self.client.get("/key/list", params={"size": "1000"}, headers=MASTER)
        logs = await self.client.get("/spend/logs", params={"limit": "1000"}, headers=MASTER)
        assert keys.status == logs.status == 200
        return Snapshot(len((await keys.json())["keys"]), len((await logs.json())["logs"]),
                        len(self.fake.requests))

    async def refused(self, resp: ClientResponse, status: int, code: str | None = None,
                      param: str | None = None) -> dict[str, Any]:
        """The OpenAI error envelope of a refusal, checked; no secret in the answer."""
        text = await resp.text()
        assert resp.status == status, text
        self.assert_clean(text)
        body = await resp.json()
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param",
                                                                 "code"}, body
        if code is not None:
            assert body["error"]["code"] == code, body
        if param is not None:
            assert body["error"]["param"] == param, body
        return body["error"]  # type: ignore[no-any-return]

    @staticmethod
    def assert_clean(text: str) -> None:
        for secret in (MASTER_KEY, PROVIDER_KEY):
            assert secret not in text and sha256_hex(secret) not in text


@asynccontextmanager
async def gateway(tmp_path: Path, **general: Any) -> AsyncIterator[Gateway]:
    with ResponsesFake("upstream") as fake:   # an OpenAIFake that also serves /responses
        async with app_client(gateway_config(fake.base_url, **general), tmp_path) as client:
            yield Gateway(client, fake)
