"""The HTTP edge: bad bodies, content types, sizes, methods and credentials -> OpenAI errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

CONFIG: dict[str, Any] = {
    "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
    "general_settings": {"master_key": MASTER_KEY, "max_request_body_mb": 0.5},
}
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
OK_BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    async with app_client(CONFIG, tmp_path) as c:
        yield c


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("raw", [b"{", b'{"model": "m",}', b'{"model": NaN}',
                                 b'{"x": Infinity}', b"\xef\xbb\xbf{}", b"\xff\xfe",
                                 b'"just a string"', b"[]", b"null", b"", b"   "])
async def test_malformed_bodies_are_400(client: TestClient, raw: bytes) -> None:
    resp = await client.post("/v1/chat/completions", data=raw,
                             headers={**AUTH, "Content-Type": "application/json"})
    err = await error_of(resp, 400)
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize("ctype", ["text/plain", "multipart/form-data; boundary=x",
                                   "application/xml"])
async def test_non_json_content_types_are_415(client: TestClient, ctype: str) -> None:
    resp = await client.post("/v1/chat/completions", data=OK_BODY,
                             headers={**AUTH, "Content-Type": ctype})
    await error_of(resp, 415)


async def test_curl_default_form_content_type_is_read_as_json(client: TestClient) -> None:
    resp = await client.post("/v1/chat/completions", data=OK_BODY, headers={
        **AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200


async def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 600_000 + b'"}]}'
    resp = await client.post("/v1/chat/completions", data=big,
                             headers={**AUTH, "Content-Type": "application/json"})
    await error_of(resp, 413)


async def test_unknown_route_is_404_and_wrong_method_405(client: TestClient) -> None:
    await error_of(await client.get("/v1/nope", headers=AUTH), 404)
    await error_of(await client.get("/v1/chat/completions", headers=AUTH), 405)


async def test_405_says_which_methods_and_every_error_has_a_request_id(
        client: TestClient) -> None:
    resp = await client.put("/key/list", headers=AUTH)
    await error_of(resp, 405)
    assert resp.headers["Allow"] == "GET"
    assert resp.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("query", [
    "/spend/logs?since=999999d", "/spend/days?until=0001-01-01T00:00:00%2B14:00",
    "/spend/models?since=banana", "/key/list?page=99999999999999999999",
])
async def test_out_of_range_query_values_are_400_not_500(client: TestClient,
                                                         query: str) -> None:
    await error_of(await client.get(query, headers=AUTH), 400)


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_api_key"),
    ({"Authorization": "Bearer"}, "missing_api_key"),
    ({"Authorization": "Bearer sk-not-a-real-key-aaaaaaaaaaaa"}, "invalid_api_key"),
    ({"Authorization": "Basic abc"}, "missing_api_key"),
    ({"Authorization": "Bearer ' OR '1'='1"}, "invalid_api_key"),
    ({"Authorization": "Bearer " + "k" * 5_000}, "invalid_api_key"),
])
async def test_bad_credentials_are_401_and_never_echoed(client: TestClient,
                                                        headers: dict[str, str],
                                                        code: str) -> None:
    resp = await client.post("/v1/chat/completions", data=OK_BODY, headers=headers)
    err = await error_of(resp, 401)
    assert err["code"] == code
    presented = headers.get("Authorization", "").partition(" ")[2].strip()
    if presented:
        assert presented not in err["message"]


async def test_oversized_header_is_refused_before_any_handler(client: TestClient) -> None:
    resp = await client.post("/v1/chat/completions", data=OK_BODY,
                             headers={"Authorization": "Bearer " + "k" * 10_000})
    assert resp.status in (400, 431)


async def test_key_in_query_string_is_ignored(client: TestClient) -> None:
    resp = await client.post(f"/v1/chat/completions?api_key={MASTER_KEY}&key={MASTER_KEY}",
                             data=OK_BODY)
    await error_of(resp, 401)


async def test_api_key_header_and_lowercase_bearer_work(client: TestClient) -> None:
    for headers in ({"api-key": MASTER_KEY}, {"Authorization": f"bearer {MASTER_KEY}"}):
        resp = await client.post("/v1/chat/completions", data=OK_BODY,
                                 headers={**headers, "Content-Type": "application/json"})
        assert resp.status == 200


async def test_unknown_model_is_400_model_not_found(client: TestClient) -> None:
    resp = await client.post("/v1/chat/completions", headers=AUTH,
                             json={"model": "nope", "messages": [{"role": "user",
                                                                  "content": "x"}]})
    err = await error_of(resp, 400)
    assert err["code"] == "model_not_found" and err["param"] == "model"


async def test_routing_field_in_body_is_refused(client: TestClient) -> None:
    resp = await client.post("/v1/chat/completions", headers=AUTH, json={
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "api_base": "http://169.254.169.254/"})
    err = await error_of(resp, 400)
    assert err["param"] == "api_base"


async def test_health_probes_need_no_key_and_reveal_nothing(client: TestClient) -> None:
    live = await client.get("/health/liveliness")
    assert live.status == 200 and await live.json() == {"status": "ok"}
    ready = await client.get("/health/readiness")
    ready_body = await ready.json()
    assert ready.status == 200 and (ready_body["status"], ready_body["db"]) == ("ok", "ok")
    assert set(ready_body) == {"status", "db", "cache", "litellm_version",
                               "success_callbacks"}
    await error_of(await client.get("/health"), 401)
