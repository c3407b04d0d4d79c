"""The console's session tokens (gwd.console.session): pure functions, no server."""

from __future__ import annotations

import time

import pytest

from gwd.auth import MASTER
from gwd.console import session
from gwd.errors import AuthenticationError, PermissionDenied

KEY = "sk-master-key-for-the-console-tests"


def test_a_minted_token_is_valid_until_it_expires_and_only_under_its_master_key() -> None:
    now = 1_800_000_000.0
    token, expires = session.mint(KEY, now)
    assert expires == int(now) + session.TTL
    assert session.expiry(KEY, token, now) == expires
    assert session.expiry(KEY, token, expires - 1) == expires
    assert session.expiry(KEY, token, expires) is None          # expired
    assert session.expiry(KEY + "x", token, now) is None        # master key changed
    assert KEY not in token and session.mint(KEY, now)[0] != token  # a nonce each time


@pytest.mark.parametrize("forge", [
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),           # signature changed
    lambda t: t.replace("v1.", "v1.9", 1),                        # expiry pushed out
    lambda t: t.rsplit(".", 1)[0],                                # no signature
    lambda t: "v2" + t[2:], lambda t: "", lambda t: "é" * 10, lambda t: t + "." + t,
    lambda t: t + "0" * 300])
def test_a_tampered_token_is_refused(forge: object) -> None:
    token, _ = session.mint(KEY)
    assert session.expiry(KEY, forge(token)) is None  # type: ignore[operator]


def test_identify_needs_the_csrf_token_that_goes_with_the_cookie() -> None:
    token, _ = session.mint(KEY)
    csrf = session.csrf_token(KEY, token)
    cookies = {session.COOKIE: token}
    assert session.identify(KEY, cookies, {session.CSRF_HEADER: csrf}) is MASTER
    with pytest.raises(PermissionDenied):
        session.identify(KEY, cookies, {})
    other, _ = session.mint(KEY)
    with pytest.raises(PermissionDenied):  # another session's token
        session.identify(KEY, cookies, {session.CSRF_HEADER: session.csrf_token(KEY, other)})
    with pytest.raises(AuthenticationError):
        session.identify(KEY, {session.COOKIE: token + "0"}, {session.CSRF_HEADER: csrf})
    expired, _ = session.mint(KEY, time.time() - session.TTL - 1)
    with pytest.raises(AuthenticationError):
        session.identify(KEY, {session.COOKIE: expired},
                         {session.CSRF_HEADER: session.csrf_token(KEY, expired)})


def test_a_presented_key_or_no_cookie_leaves_the_decision_to_the_key() -> None:
    token, _ = session.mint(KEY)
    csrf = {session.CSRF_HEADER: session.csrf_token(KEY, token)}
    assert session.identify(KEY, {}, csrf) is None
    assert session.identify(KEY, {session.COOKIE: token},
                            {**csrf, "Authorization": "Bearer sk-some-virtual-key"}) is None
