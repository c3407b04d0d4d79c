"""Google OAuth2 access tokens for ``vertex_ai/``, from a service account (google-auth).

``vertex_credentials`` is taken as LiteLLM takes it: a service-account JSON document (a
string holding the JSON, or a mapping in the YAML) or the path of a JSON file; without it,
the file named by ``GOOGLE_APPLICATION_CREDENTIALS``. The metadata server, workload
identity and ``gcloud`` user credentials are not asked (network or a CLI at run time).

A :class:`TokenSource` holds one service account's token. ``ensure()`` (awaited before a
call is built) returns at once while the token has more than :data:`REFRESH_MARGIN`
seconds left, and otherwise refreshes it in a worker thread (google-auth's refresh is
blocking HTTP to the account's ``token_uri``), one refresh at a time however many calls
wait; ``token`` is then read by the pure translator. So a token is replaced *before* it
expires, never used expired, and the event loop never blocks on Google.

The private key and the tokens are secrets: no message here contains them.
google-auth is the optional extra ``vertex`` (``pip install 'gw[vertex]'``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = 300.0   # seconds of validity left below which a token is replaced


class GoogleAuthError(Exception):
    """Credentials cannot be read or a token cannot be had (message names no secret)."""


def load_info(value: Any, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``vertex_credentials`` (JSON text, mapping or file path; else the environment's
    ``GOOGLE_APPLICATION_CREDENTIALS``) -> the service-account document. Reads a file."""
    env = os.environ if env is None else env
    if isinstance(value, Mapping):
        info: Any = dict(value)
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            info = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise GoogleAuthError("vertex_credentials is not valid JSON") from None
    else:
        path = value if isinstance(value, str) and value else env.get(
            "GOOGLE_APPLICATION_CREDENTIALS")
        if not path:
            raise GoogleAuthError("no Google credentials: set vertex_credentials (a "
                                  "service-account JSON or its path) or "
                                  "GOOGLE_APPLICATION_CREDENTIALS")
        try:
            info = orjson.loads(Path(path).expanduser().read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise GoogleAuthError(f"the Google credentials file could not be read "
                                  f"({type(exc).__name__})") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise GoogleAuthError("vertex_credentials must be a service-account key "
                              '("type": "service_account")')
    return info


class TokenSource:
    """One service account's access token, refreshed ahead of its expiry."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        try:
            from google.oauth2 import service_account
        except ImportError:
            raise GoogleAuthError("vertex_ai/ needs google-auth: "
                                  "pip install 'gw[vertex]'") from None
        try:
            self._creds = service_account.Credentials.from_service_account_info(
                dict(info), scopes=list(SCOPES))
        except (ValueError, KeyError) as exc:
            raise GoogleAuthError(f"the service-account key is not usable "
                                  f"({type(exc).__name__})") from None
        self.project_id: str | None = info.get("project_id")
        self.token: str | None = None
        self.expiry: datetime | None = None   # naive UTC, as google-auth keeps it
        self.refreshes = 0
        self._lock: asyncio.Lock | None = None

    def fresh(self, now: datetime | None = None) -> bool:
        if self.token is None or self.expiry is None:
            return False
        now = now or datetime.now(UTC).replace(tzinfo=None)
        return (self.expiry - now).total_seconds() > REFRESH_MARGIN

    async def ensure(self) -> str:
        """A token valid for more than the margin (refreshing first if needed)."""
        if self.fresh():
            return self.token   # type: ignore[return-value]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.fresh():
                await asyncio.to_thread(self._refresh)
        return self.token   # type: ignore[return-value]

    def _refresh(self) -> None:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        try:
            self._creds.refresh(Request())
        except exceptions.GoogleAuthError as exc:
            raise GoogleAuthError(f"Google refused the service account's token request "
                                  f"({type(exc).__name__})") from None
        except Exception as exc:   # transport failures (requests' exceptions)
            raise GoogleAuthError(f"the Google token endpoint could not be reached "
                                  f"({type(exc).__name__})") from None
        self.token, self.expiry = self._creds.token, self._creds.expiry
        self.refreshes += 1


_SOURCES: dict[str, TokenSource] = {}


def source_for(info: Mapping[str, Any]) -> TokenSource:
    """The shared source of a service account (deployments using one key share a token)."""
    key = f"{info.get('client_email')}|{info.get('private_key_id')}|{info.get('token_uri')}"
    source = _SOURCES.get(key)
    if source is None:
        source = _SOURCES[key] = TokenSource(info)
    return source
