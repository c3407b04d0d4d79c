"""The console's HTTP side (gwd.handlers.console) against an in-process gwd: what the
browser tests cannot see directly — headers, cookie attributes, CSRF refusals.

- every /ui answer carries the strict CSP (no inline script, no other origin) and
  friends; the page itself has no inline script, style or event handler;
- a wrong master key is a 401 that sets no cookie; the right one sets an HttpOnly,
  SameSite=Strict cookie whose value is not the key (nor its hash);
- with that cookie an admin route answers only when the CSRF token comes too; a
  forged cookie is a 401; the cookie never opens a proxy route; logging out
  expires the cookie.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gwd.console import session
from gwd.handlers.console import ASSETS
from tests.support.gateway import HI, MASTER, Gateway, gateway
from tests.support.gwd import MASTER_KEY


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def log_in(gw: Gateway) -> tuple[dict[str, str], str]:
    r = await gw.client.post("/ui/login", json={"master_key": MASTER_KEY})
    assert r.status == 200, await r.text()
    gw.client.session.cookie_jar.clear()  # cookies go explicitly, in headers
    jar = SimpleCookie(r.headers["Set-Cookie"])
    return {"Cookie": f"{session.COOKIE}={jar[session.COOKIE].value}"}, \
        (await r.json())["csrf_token"]


async def test_every_console_answer_has_a_strict_csp(gw: Gateway) -> None:
    for path in ["/ui", *(f"/ui/{name}" for name in ASSETS)]:
        r = await gw.client.get(path)
        assert r.status == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
    r = await gw.client.post("/ui/login", json={"master_key": MASTER_KEY})
    assert "Content-Security-Policy" in r.headers and r.headers["Cache-Control"] == "no-store"


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = (resources.files("gwd.console") / "static" / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/ui/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    script = (resources.files("gwd.console") / "static" / "console.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "eval(" not in script and "document.write" not in script


async def test_a_wrong_master_key_is_refused_and_sets_no_cookie(gw: Gateway) -> None:
    for body in ({"master_key": "sk-wrong"}, {"master_key": MASTER_KEY + "x"},
                 {"master_key": ""}):
        r = await gw.client.post("/ui/login", json=body)
        await gw.refused(r, 401, "invalid_master_key")
        assert "Set-Cookie" not in r.headers
    for body in ({}, {"master_key": 1}, {"master_key": MASTER_KEY, "x": 1}, []):
        r = await gw.client.post("/ui/login", json=body)
        await gw.refused(r, 400)
        assert "Set-Cookie" not in r.headers


async def test_the_session_cookie_is_httponly_strict_and_holds_no_secret(gw: Gateway) -> None:
    r = await gw.client.post("/ui/login", json={"master_key": MASTER_KEY})
    gw.client.session.cookie_jar.clear()  # cookies go explicitly, in headers
    raw = r.headers["Set-Cookie"]
    cookie = SimpleCookie(raw)[session.COOKIE]
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/" and int(cookie["max-age"]) == session.TTL
    gw.assert_clean(raw)
    gw.assert_clean(await r.text())
    probe = await (await gw.client.get("/ui/session", headers={
        "Cookie": f"{session.COOKIE}={cookie.value}"})).json()
    assert probe["logged_in"] is True
    assert probe["csrf_token"] == (await r.json())["csrf_token"]
    assert (await (await gw.client.get("/ui/session")).json())["logged_in"] is False


async def test_admin_routes_take_the_cookie_only_with_its_csrf_token(gw: Gateway) -> None:
    cookie, csrf = await log_in(gw)
    ok = await gw.client.get("/key/list", headers={**cookie, session.CSRF_HEADER: csrf})
    assert ok.status == 200
    made = await gw.client.post("/key/generate", json={"key_alias": "from-console"},
                                headers={**cookie, session.CSRF_HEADER: csrf})
    assert made.status == 200
    await gw.refused(await gw.client.post("/key/generate", json={}, headers=cookie),
                     403, "csrf_token_invalid")
    await gw.refused(await gw.client.get("/key/list", headers={
        **cookie, session.CSRF_HEADER: csrf[:-1] + "0"}), 403, "csrf_token_invalid")
    forged = {"Cookie": cookie["Cookie"][:-2] + "00"}
    await gw.refused(await gw.client.get("/key/list", headers={
        **forged, session.CSRF_HEADER: csrf}), 401, "console_session_invalid")
    # the cookie is not a proxy credential
    r = await gw.client.post("/v1/chat/completions", json={"model": "cheap", "messages": HI},
                             headers={**cookie, session.CSRF_HEADER: csrf})
    await gw.refused(r, 401, "missing_api_key")
    # a key presented with the cookie is what counts
    virtual = (await gw.generate())["key"]
    r = await gw.client.get("/key/list", headers={**cookie, session.CSRF_HEADER: csrf,
                                                  "Authorization": f"Bearer {virtual}"})
    await gw.refused(r, 403, "admin_only")
    r = await gw.client.get("/key/list", headers={**cookie, **MASTER})
    assert r.status == 200


async def test_logout_expires_the_cookie(gw: Gateway) -> None:
    r = await gw.client.post("/ui/logout")
    assert r.status == 200
    cookie = SimpleCookie(r.headers["Set-Cookie"])[session.COOKIE]
    assert cookie.value == "" and cookie["max-age"] == "0"
