"""The one HTTP client gwctl uses: synchronous, stdlib only (``urllib.request``).

Every failure ends as one of two exceptions, which ``gwctl.__main__`` turns into
exit statuses:

- :class:`ApiError` — gwd answered and refused (HTTP 4xx/5xx, or not JSON):
  exit 1, with gwd's own error message on one line — or exit 2 when gwd refused
  the value of a field (a 400 naming its ``param``): a bad option value is a
  usage error whichever side catches it.
- :class:`Unreachable` — no answer from the URL (refused, DNS, timeout, TLS):
  exit 3, naming the URL.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from . import __version__

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0


def one_line(text: str) -> str:
    """Collapse any line breaks so a message is exactly one line."""
    return " ".join(text.split())


class ApiError(Exception):
    """gwd answered with an error (its OpenAI-style envelope, when it sent one)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 body: Any = None, hint: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param  # the request field gwd refused, when it names one
        self.message = one_line(message)
        self.code = code
        self.body = body
        self.hint = hint

    def __str__(self) -> str:
        detail = f"HTTP {self.status}" + (f", {self.code}" if self.code else "")
        return f"{self.message} ({detail})" + (f"; {self.hint}" if self.hint else "")


class Unreachable(Exception):
    """Nothing usable came back from the URL: the server could not be reached."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = one_line(reason)

    def __str__(self) -> str:
        return f"cannot reach gwd at {self.url}: {self.reason}"


def check_url(url: str) -> str:
    """The base URL without a trailing slash; ``ValueError`` unless http(s)://host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not have a query or a fragment")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


class Client:
    """gwd's admin API at ``url``, authenticated with ``master_key`` when one is given."""

    def __init__(self, url: str = DEFAULT_URL, master_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = check_url(url)
        self.master_key = master_key or None
        self.timeout = timeout
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # A proxy from the environment is honoured, except for gwd on this machine.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    def get(self, path: str, **query: str | int | None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None) -> Any:
        """Send one request; the parsed JSON answer, or :class:`ApiError` /
        :class:`Unreachable`."""
        url = self.url + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": f"gwctl/{__version__}"}
        if self.master_key:
            headers["Authorization"] = f"Bearer {self.master_key}"
        data = None
        if method == "POST":
            data = json.dumps(body if body is not None else {}).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            try:
                status, raw = exc.code, exc.read()
            except (OSError, http.client.HTTPException) as read_exc:
                raise Unreachable(self.url, _reason(read_exc)) from None
            finally:
                exc.close()
            raise self._refusal(status, raw) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise Unreachable(self.url, _reason(exc)) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(status, f"the server at {self.url} did not answer with JSON; "
                           "is it gwd?") from None

    def _refusal(self, status: int, raw: bytes) -> ApiError:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code, param = error.get("code"), error.get("param")
            hint = ("no master key was given: use --master-key or $GWCTL_MASTER_KEY"
                    if status in (401, 403) and not self.master_key else None)
            return ApiError(status, error["message"], code if isinstance(code, str) else None,
                            body, hint, param if isinstance(param, str) else None)
        reason = http.client.responses.get(status, "Error")
        return ApiError(status, f"the server at {self.url} answered {reason!r} without a gwd "
                        "error message", None, body)


def api(ctx: Any) -> Client:
    """The client the root command put in the Click context (``ctx.obj``)."""
    client = ctx.find_root().obj
    assert isinstance(client, Client), "gwctl's root callback did not run"
    return client
