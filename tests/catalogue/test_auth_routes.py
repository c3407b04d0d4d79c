"""Catalogue B9 (route inventory and auth matrix), B17 (path normalisation), A23 (Host
header) and A19 (wrong method / unknown route) — see test_auth.py for the B1–B22 map.

B9: ``ROUTES`` is the inventory: every (method, path) gwd serves with its auth level.
``test_B9_every_route_has_an_auth_level_and_is_in_the_matrix`` compares it with the
routes registered in the real app, so a route added without an entry here fails.
Then every route is called with each credential — none, an unknown key, a virtual
key, an expired one, a deleted one, the master key — and with a body that is valid
for it: public routes answer everybody, proxy routes every live key, admin routes
(``metrics`` included, as ``metrics_auth`` defaults to true) the master key alone:
401 for no/unknown/expired/deleted keys, 403 ``admin_only`` for a virtual key.

B17 and A23 send raw requests (a socket, not an HTTP client that would tidy them):
path variants of ``/key/generate`` and odd ``Host`` values get the canonical
decision or a 404, for every credential — never a skipped check. The auth level
comes from the matched route, and aiohttp matches the raw path, not one rebuilt
from ``Host`` (CVE-2026-49468).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gwd.middleware import ADMIN, METRICS, PROXY, PUBLIC
from tests.support.gateway import HI, MASTER, Gateway, bearer, gateway
from tests.support.gwd import MASTER_KEY
from tests.support.rawhttp import exchange, request, statuses

ROUTES: dict[tuple[str, str], str] = {
    **{(m, f"{prefix}{path}"): PROXY for prefix in ("", "/v1") for m, path in [
        ("POST", "/chat/completions"), ("POST", "/completions"), ("POST", "/embeddings"),
        ("GET", "/models"), ("POST", "/messages"), ("POST", "/messages/count_tokens"),
        ("POST", "/responses"), ("GET", "/responses/{response_id}"),
        ("DELETE", "/responses/{response_id}")]},
    **{("POST", f"/openai/deployments/{{group}}/{path}"): PROXY
       for path in ("chat/completions", "completions", "embeddings")},
    ("POST", "/key/generate"): ADMIN, ("GET", "/key/info"): PROXY,
    ("POST", "/key/update"): ADMIN, ("POST", "/key/delete"): ADMIN,
    ("GET", "/key/list"): ADMIN,
    ("GET", "/spend/keys"): ADMIN, ("GET", "/spend/models"): ADMIN,
    ("GET", "/spend/days"): ADMIN, ("GET", "/spend/logs"): ADMIN,
    ("GET", "/health/liveliness"): PUBLIC, ("GET", "/health/liveness"): PUBLIC,
    ("GET", "/health/readiness"): PUBLIC, ("GET", "/health"): ADMIN,
    ("POST", "/config/reload"): ADMIN, ("GET", "/metrics"): METRICS,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/ui"): PUBLIC, ("POST", "/ui/login"): PUBLIC, ("POST", "/ui/logout"): PUBLIC,
    ("GET", "/ui/session"): PUBLIC,
    **{("GET", f"/ui/{name}"): PUBLIC for name in ("console.js", "console.css",
                                                    "chart.umd.min.js", "icon.svg")},
    # teams, users, end-users, organisations (handlers/tenants.py): the master key only
    **{(m, f"{prefix}/{action}"): ADMIN
       for prefix in ("/team", "/user", "/customer", "/end_user", "/organization")
       for m, action in [("POST", "new"), ("POST", "update"), ("GET", "info"),
                         ("GET", "list"), ("POST", "delete")]},
    **{("POST", f"{prefix}/{action}"): ADMIN for prefix in ("/customer", "/end_user")
       for action in ("block", "unblock")},
    **{("POST", f"/team/{action}"): ADMIN
       for action in ("block", "unblock", "member_add", "member_delete")},
    ("PATCH", "/organization/update"): ADMIN, ("POST", "/organization/info"): ADMIN,
    ("DELETE", "/organization/delete"): ADMIN,
    # LiteLLM's routes (issue 13)
    ("GET", "/global/spend/keys"): ADMIN, ("GET", "/global/spend/models"): ADMIN,
    ("GET", "/global/spend/report"): ADMIN, ("GET", "/health/readiness/details"): ADMIN,
    ("GET", "/model/info"): PROXY, ("GET", "/v1/model/info"): PROXY,
    ("GET", "/v2/model/info"): PROXY, ("GET", "/model_group/info"): PROXY,
    ("GET", "/routes"): PUBLIC,
    ("POST", "/key/regenerate"): ADMIN, ("POST", "/key/{key}/regenerate"): ADMIN,
    ("POST", "/key/block"): ADMIN, ("POST", "/key/unblock"): ADMIN,
    ("POST", "/key/health"): PROXY,
}
CREDENTIALS = ("none", "unknown", "virtual", "expired", "deleted", "master")
#: path parameters filled in for the calls (no upstream knows the response id: 404 for
#: the keys that pass, which shows the auth decision as well as a 2xx)
FILLED = {"{response_id}": "resp_unknown", "{group}": "cheap",
          "{key}": "key-0000000000000000"}
NOT_FOUND_FOR_GOOD_KEYS = ("/responses/{response_id}", "/v1/responses/{response_id}")


def filled(path: str) -> str:
    for name, value in FILLED.items():
        path = path.replace(name, value)
    return path


REFUSED = {"none": (401, "missing_api_key"), "unknown": (401, "invalid_api_key"),
           "expired": (401, "expired_key"), "deleted": (401, "deleted_key")}


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def credentials(gw: Gateway) -> dict[str, str | None]:
    deleted = (await gw.generate())["key"]
    r = await gw.client.post("/key/delete", json={"keys": [deleted]}, headers=MASTER)
    assert r.status == 200
    expired = "sk-expired-" + "e" * 22
    await gw.craft(expired, expires=datetime.now(UTC) - timedelta(seconds=1))
    return {"none": None, "unknown": "sk-unknownunknownunknown1", "virtual":
            (await gw.generate())["key"], "expired": expired, "deleted": deleted,
            "master": MASTER_KEY}


async def valid_request(gw: Gateway, method: str, path: str,
                        keys: dict[str, str | None], who: str) -> dict[str, Any]:
    """Keyword arguments for ``client.request`` that the route accepts from its caller."""
    name = path.removeprefix("/v1")
    if path == "/key/info":  # a virtual key asks about itself, the master key about it
        return {"params": {"key": keys["virtual"]}} if who == "master" else {}
    if name == "/chat/completions":
        return {"json": {"model": "cheap", "messages": HI}}
    if name == "/completions":
        return {"json": {"model": "cheap", "prompt": "hi"}}
    if name == "/embeddings":
        return {"json": {"model": "cheap", "input": "hi"}}
    if name == "/responses":
        return {"json": {"model": "cheap", "input": "hi"}}
    if name.startswith("/openai/deployments/"):
        return await valid_request(gw, method, "/" + path.rsplit("/", 2)[-1]
                                   if path.endswith("/embeddings") or path.endswith(
                                       "/deployments/{group}/completions")
                                   else "/chat/completions", keys, who)
    if name.startswith("/messages"):
        return {"json": {"model": "cheap", "max_tokens": 5,
                         "messages": [{"role": "user", "content": "hi"}]}}
    if path == "/key/update":
        return {"json": {"key": (await gw.generate())["key_id"], "key_alias": "x"}}
    if path == "/ui/login":  # public: the master key goes in the body, not a header
        return {"json": {"master_key": MASTER_KEY}}
    if path == "/key/delete":
        return {"json": {"keys": [(await gw.generate())["key_id"]]}}
    if name.split("/")[1] in TENANT_KINDS:
        return await tenant_request(gw, method, path)
    if path in ("/key/regenerate", "/key/block", "/key/unblock"):
        return {"json": {"key": (await gw.generate())["key_id"]}}
    return {"json": {}} if method == "POST" else {}


TENANT_KINDS = {"team": ("team_id", "team_ids"), "user": ("user_id", "user_ids"),
                "customer": ("user_id", "user_ids"), "end_user": ("user_id", "user_ids"),
                "organization": ("organization_id", "organization_ids")}
_made = iter(range(1_000_000))


async def tenant_request(gw: Gateway, method: str, path: str) -> dict[str, Any]:
    """A body or query the tenant route accepts, about a tenant made for it."""
    prefix, action = path.strip("/").split("/")
    id_field, ids_field = TENANT_KINDS[prefix]
    tenant_id = f"{prefix}-{next(_made)}"
    made = await gw.client.post(f"/{prefix}/new", headers=MASTER,
                                json={id_field: tenant_id, **(
                                    {"auto_create_key": False} if prefix == "user" else {})})
    assert made.status == 200, await made.text()
    if action == "new":
        return {"json": {id_field: tenant_id + "-new"}}
    if action == "list":
        return {}
    if action == "info":
        if method == "POST":
            return {"json": {"organizations": [tenant_id]}}
        param = "end_user_id" if prefix in ("customer", "end_user") else id_field
        return {"params": {param: tenant_id}}
    if action in ("update",) or (prefix == "team" and action in ("block", "unblock")):
        return {"json": {id_field: tenant_id}}
    if action == "member_add":
        return {"json": {"team_id": tenant_id, "member": {"role": "user", "user_id": "u"}}}
    if action == "member_delete":
        await gw.client.post("/team/member_add", headers=MASTER, json={
            "team_id": tenant_id, "member": {"role": "user", "user_id": "u"}})
        return {"json": {"team_id": tenant_id, "user_id": "u"}}
    return {"json": {ids_field: [tenant_id]}}  # delete, block, unblock


def test_B9_every_route_has_an_auth_level_and_is_in_the_matrix(tmp_path: Path) -> None:
    from gwd.app import build_app
    from gwd.config import load_config
    from gwd.runtime import Runtime
    from tests.support.gateway import gateway_config
    from tests.support.gwd import write_config

    path = write_config(tmp_path / "c.yaml", gateway_config("http://127.0.0.1:9"))
    app = build_app(Runtime(load_config(path)))
    served = {(route.method, route.resource.canonical): getattr(route.handler, "__gw_auth__",
                                                                None)
              for route in app.router.routes() if route.resource is not None}
    assert served == ROUTES


async def test_B9_B10_admin_and_proxy_routes_against_every_credential(gw: Gateway) -> None:
    keys = await credentials(gw)
    for (method, path), level in ROUTES.items():
        for who in CREDENTIALS:
            kwargs = await valid_request(gw, method, path, keys, who)
            key = keys[who]
            url = path  # /key/{key}/regenerate: a fresh key each time
            if "{key}" in url:
                url = url.replace("{key}", (await gw.generate())["key_id"])
            r = await gw.client.request(method, filled(url),
                                        headers=bearer(key) if key else {}, **kwargs)
            where = f"{method} {path} as {who}"
            text = await r.text()
            gw.assert_clean(text)
            if path in NOT_FOUND_FOR_GOOD_KEYS and who in ("virtual", "master"):
                assert r.status == 404, f"{where}: {r.status} {text}"
            elif level == PUBLIC or (level == PROXY and who in ("virtual", "master")) \
                    or who == "master":
                assert 200 <= r.status < 300, f"{where}: {r.status} {text}"
            elif who == "virtual":
                assert (r.status, (await r.json())["error"]["code"]) == (403, "admin_only"), where
            else:
                assert (r.status, (await r.json())["error"]["code"]) == REFUSED[who], where
            if key and key != MASTER_KEY:
                assert key not in text or (path == "/key/info" and who == "virtual")


async def test_A19_other_methods_are_405_with_allow_and_unknown_routes_404(gw: Gateway) -> None:
    for _method, path in ROUTES:
        for other in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if (other, path) in ROUTES:
                continue
            r = await gw.client.request(other, filled(path), headers=MASTER)
            err = await gw.refused(r, 405, "method_not_allowed")
            allowed = {m for (m, p) in ROUTES if p == path}
            assert set(r.headers["Allow"].split(",")) == allowed, (other, path)
            assert err["type"] == "invalid_request_error"
    for path in ("/v2/chat/completions", "/key", "/key/", "/admin", "/config/update",
                 "/key/blocked", "/user/daily/activity", "/team/permissions_list",
                 "/prompts/test", "/mcp/tools"):
        await gw.refused(await gw.client.post(path, headers=MASTER, json={}), 404, "not_found")


# ---------------------------------------------------------------------------- raw paths
VARIANTS = ["//key/generate", "/key/generate/", "/KEY/generate", "/Key/Generate",
            "/v1/../key/generate", "/v1/%2e%2e/key/generate", "/%6bey/generate",
            "/key%2Fgenerate", "/key/%67enerate", "/./key/generate", "/key/./generate",
            "/key/generate%20", "/key/generate;x=1", "/key/generate%00", "/key/generate#f",
            "/health/../key/generate", "/health/liveliness/../../key/generate",
            "/key/generate/..;/", "http://evil.example/key/generate", "/key//generate",
            "/v1/key/generate", "/openapi.json/../key/generate"]


async def decisions(gw: Gateway, target: str, keys: dict[str, str | None],
                    host: str | None = "gw.test") -> dict[str, int]:
    out = {}
    for who in ("none", "virtual", "master"):
        key = keys[who]
        data = request("POST", target, {**(bearer(key) if key else {}),
                                        "Content-Type": "application/json"}, b"{}", host=host)
        answer = await asyncio.to_thread(exchange, gw.client.port, data)
        out[who] = statuses(answer)[0] if statuses(answer) else 0
    return out


@pytest.mark.parametrize("target", VARIANTS)
async def test_B17_path_variants_get_the_canonical_decision_or_404(gw: Gateway,
                                                                   target: str) -> None:
    keys = {"none": None, "virtual": (await gw.generate())["key"], "master": MASTER_KEY}
    before = (await gw.snapshot()).keys
    got = await decisions(gw, target, keys)
    assert got in ({"none": 401, "virtual": 403, "master": 200},
                   {"none": 404, "virtual": 404, "master": 404}), got
    assert (await gw.snapshot()).keys == before + (got["master"] == 200)


@pytest.mark.parametrize("host", ["x/#", "x?", "", "x/../health/liveliness",
                                  "gw.test/health/liveliness?", "localhost:99999", "[::1",
                                  "a b", "x#/key/generate", None],
                         ids=lambda h: repr(h))
async def test_A23_odd_host_headers_never_change_the_decision(gw: Gateway,
                                                              host: str | None) -> None:
    keys = {"none": None, "virtual": (await gw.generate())["key"], "master": MASTER_KEY}
    got = await decisions(gw, "/key/generate", keys, host=host)
    if host is None:  # HTTP/1.1 without Host is malformed (RFC 9112 §3.2): 400 for all
        assert got == {"none": 400, "virtual": 400, "master": 400}
    else:
        assert got == {"none": 401, "virtual": 403, "master": 200}
    data = request("GET", "/health/liveliness", {}, host=host)
    assert statuses(await asyncio.to_thread(exchange, gw.client.port, data)) in ([200], [400])
