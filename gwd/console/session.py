"""Console login sessions: a signed, expiring cookie and the CSRF token bound to it (pure).

The console never keeps the master key in the browser. ``POST /ui/login`` checks
it once and sets ``gw_console``, an HttpOnly, SameSite=Strict cookie holding
``v1.<expiry>.<nonce>.<signature>``: the signature is an HMAC-SHA256 under a key
derived from the master key, so every ``--workers`` process (and every replica
with the same master key) accepts it without shared state, and changing the
master key ends every session. The CSRF token is a second HMAC of the cookie's
value; the page learns it from the login answer (or ``GET /ui/session``) and
sends it as ``X-CSRF-Token`` with every admin call. A cookie without the
matching header does nothing: SameSite=Strict already keeps other sites' requests
cookie-less, and the header is what a cross-site form or image can never add.

Sessions are stateless, so logging out clears the cookie in this browser; a
copied cookie stays valid until it expires (``TTL``, 12 hours).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from ..auth import MASTER, Identity, credential
from ..errors import AuthenticationError, PermissionDenied

COOKIE = "gw_console"
CSRF_HEADER = "X-CSRF-Token"
TTL = 12 * 3600
MAX_TOKEN = 200


def _secret(master_key: str) -> bytes:
    return hashlib.sha256(b"gw-console-session\0" + master_key.encode("utf-8",
                                                                     "surrogatepass")).digest()


def _sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def mint(master_key: str, now: float | None = None) -> tuple[str, int]:
    """A new session cookie value and its expiry (POSIX seconds)."""
    expires = int(time.time() if now is None else now) + TTL
    body = f"v1.{expires}.{secrets.token_hex(16)}"
    return f"{body}.{_sign(_secret(master_key), 'session|' + body)}", expires


def expiry(master_key: str, token: str, now: float | None = None) -> int | None:
    """The token's expiry if it is genuine and unexpired, else None (constant-time check)."""
    if len(token) > MAX_TOKEN:
        return None
    body, _, signature = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
        return None
    expected = _sign(_secret(master_key), "session|" + body)
    if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), expected.encode()):
        return None
    expires = int(parts[1])
    return expires if expires > (time.time() if now is None else now) else None


def csrf_token(master_key: str, token: str) -> str:
    """The CSRF token that goes with a session cookie value."""
    return _sign(_secret(master_key), "csrf|" + token)


def identify(master_key: str, cookies: Mapping[str, str],
             headers: Mapping[str, str]) -> Identity | None:
    """MASTER for a request carrying a live console session and its CSRF token; None when
    the request has no session cookie or presents a key of its own (then the key counts).
    A forged or expired cookie is a 401, a missing or wrong CSRF token a 403."""
    token = cookies.get(COOKIE)
    if not token or credential(headers) is not None:
        return None
    if expiry(master_key, token) is None:
        raise AuthenticationError("The console session has expired or is not valid; "
                                  "log in again.", code="console_session_invalid")
    sent = headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), csrf_token(master_key, token).encode()):
        raise PermissionDenied("This console request lacks its CSRF token; reload the page.",
                               code="csrf_token_invalid")
    return MASTER
