"""Console routes: the /ui page and its assets, login, logout and the session probe.

Thin on purpose: the console is a static client of the admin API and holds no
logic here beyond serving files with a strict Content-Security-Policy and
handing out the session cookie (:mod:`gwd.console.session`). Assets are read
from the package once, on first use; every answer carries ``SECURITY_HEADERS``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from ..console import session
from ..errors import AuthenticationError, InvalidRequest
from ..middleware import PUBLIC, json_response, read_json, route_auth
from ..runtime import RUNTIME

#: asset name -> content type; ``/ui`` itself is ``index.html``
ASSETS = {"console.js": "text/javascript", "console.css": "text/css",
          "chart.umd.min.js": "text/javascript", "icon.svg": "image/svg+xml"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin",
                    "Cache-Control": "no-cache"}
_cache: dict[str, bytes] = {}


def _asset(name: str) -> bytes:
    data = _cache.get(name)
    if data is None:
        data = _cache[name] = (resources.files("gwd.console") / "static" / name).read_bytes()
    return data


def _file(name: str, content_type: str) -> web.Response:
    return web.Response(body=_asset(name), content_type=content_type, charset="utf-8"
                        if content_type.startswith("text/") else None,
                        headers=SECURITY_HEADERS)


def _json(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status=status, headers={**SECURITY_HEADERS,
                                                       "Cache-Control": "no-store"})


@route_auth(PUBLIC)
async def page(request: web.Request) -> web.Response:
    return _file("index.html", "text/html")


def _serve(name: str, content_type: str) -> Any:
    @route_auth(PUBLIC)
    async def asset(request: web.Request) -> web.Response:
        return _file(name, content_type)
    return asset


@route_auth(PUBLIC)
async def login(request: web.Request) -> web.Response:
    """Trade the master key for a session cookie (HttpOnly, SameSite=Strict) and a CSRF
    token; a wrong key is a 401 and sets nothing."""
    body, _ = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"master_key"} or \
            not isinstance(body["master_key"], str):
        raise InvalidRequest("Send {\"master_key\": \"...\"} and nothing else.",
                             param="master_key")
    runtime = request.app[RUNTIME]
    master_key = runtime.config.general.master_key
    if master_key is None:  # no master key configured: the admin API is open anyway
        return _json({"logged_in": True, "open": True, "csrf_token": "", "expires": None})
    if len(body["master_key"]) > 512 or not runtime.auth.is_master(body["master_key"]):
        raise AuthenticationError("That is not the master key.", code="invalid_master_key")
    token, expires = session.mint(master_key)
    response = _json({"logged_in": True, "open": False,
                      "csrf_token": session.csrf_token(master_key, token),
                      "expires": expires})
    response.set_cookie(session.COOKIE, token, max_age=session.TTL, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


@route_auth(PUBLIC)
async def logout(request: web.Request) -> web.Response:
    response = _json({"status": "logged_out"})
    response.del_cookie(session.COOKIE, path="/")
    return response


@route_auth(PUBLIC)
async def current(request: web.Request) -> web.Response:
    """Whether this browser has a live session and, if so, its CSRF token (the page asks
    after a reload; the cookie itself is out of the script's reach)."""
    master_key = request.app[RUNTIME].config.general.master_key
    if master_key is None:
        return _json({"logged_in": True, "open": True, "csrf_token": "", "expires": None})
    token = request.cookies.get(session.COOKIE, "")
    expires = session.expiry(master_key, token) if token else None
    if expires is None:
        return _json({"logged_in": False, "open": False, "csrf_token": "", "expires": None})
    return _json({"logged_in": True, "open": False,
                  "csrf_token": session.csrf_token(master_key, token), "expires": expires})


def routes() -> list[web.RouteDef]:
    return [web.get("/ui", page, allow_head=False),
            *(web.get(f"/ui/{name}", _serve(name, ctype), allow_head=False)
              for name, ctype in ASSETS.items()),
            web.post("/ui/login", login), web.post("/ui/logout", logout),
            web.get("/ui/session", current, allow_head=False)]
