"""Catalogue B13 (constant-time master key compare) and A17 (odd key formats, SQL payload
keys timed on both backends) — see test_auth.py and test_bad_input.py for the maps.

B13 is checked on the code, not with a stopwatch. gwd hashes the presented key
and the master key with SHA-256 and compares the digests with
``hmac.compare_digest``; the virtual-key lookup is a dict/indexed lookup on the
full SHA-256 of the credential. Even a naive ``==`` on those digests would leak
nothing about the key's prefix (the hash scrambles it), and its difference is a
few nanoseconds, while one request through a loopback socket varies by hundreds
of microseconds on a loaded two-core CI box: a Welch t-test over 10k HTTP trials
would pass whatever the compare was, so it would prove nothing. Instead
``test_B13_...`` reads the source: ``is_master_digest`` compares digests with
``compare_digest`` and nothing in gwd compares a master key or its digest with
``==``, ``!=`` or ``in``.

A17: every malformed credential is a 401 in OpenAI's envelope (or a 400 from the
HTTP parser, for a NUL byte or a 10 KiB header) that echoes nothing; two
``Authorization`` headers are refused. ``bearer`` in lower case is accepted: the
scheme is case-insensitive (RFC 9110 §11.1), so only a bad key is a 401. The SQL
payloads of CVE-2026-42208 answer like a plain unknown key, in about the same time
(median within 50 ms, every one under 1 s: ``pg_sleep(8)`` would take 8 s), on
SQLite and on PostgreSQL, on every LLM route and on the admin query parameters
(CVE-2024-5225), and no database error text reaches the client.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from gwd.auth import Authenticator, KeyCache
from tests.support.gateway import MASTER, Gateway, gateway
from tests.support.gwd import MASTER_KEY
from tests.support.pg import create_database, drop_database
from tests.support.rawhttp import exchange, request, statuses

GWD = Path(__file__).resolve().parents[2] / "gwd"
SQL = ["' OR '1'='1", "' OR (SELECT pg_sleep(8)) IS NULL --", "x'; DROP TABLE gw_keys; --",
       "\" OR 1=1 --", "1; SELECT sqlite3_sleep(8000); --", "$1) OR TRUE --",
       "' UNION SELECT token_hash FROM gw_keys --"]
DB_WORDS = ("syntax", "sqlite", "postgres", "asyncpg", "operationalerror", "sqlstate",
            "traceback", "gw_keys")
ROUTES = [("POST", "/v1/chat/completions", {"model": "cheap", "messages": [
    {"role": "user", "content": "x"}]}), ("POST", "/v1/completions", {
        "model": "cheap", "prompt": "x"}), ("POST", "/v1/embeddings", {
            "model": "cheap", "input": "x"}), ("GET", "/v1/models", None)]


def _compares(tree: ast.AST) -> list[ast.Compare]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]


def test_B13_the_master_key_is_compared_in_constant_time_only() -> None:
    source = (GWD / "auth.py").read_text()
    method = next(n for n in ast.walk(ast.parse(source))
                  if isinstance(n, ast.FunctionDef) and n.name == "is_master_digest")
    calls = [ast.unparse(n.func) for n in ast.walk(method) if isinstance(n, ast.Call)]
    assert "hmac.compare_digest" in calls or "secrets.compare_digest" in calls
    assert _compares(method) == []  # no ==, != or in on digests
    problems = []
    for path in sorted(GWD.rglob("*.py")):
        for node in _compares(ast.parse(path.read_text())):
            text = ast.unparse(node)
            secret = any(isinstance(o, (ast.Name, ast.Attribute)) and any(
                w in ast.unparse(o) for w in ("master_key", "master_digest"))
                for o in (node.left, *node.comparators))
            against_none = all(isinstance(c, ast.Constant) and c.value is None
                               for c in node.comparators)
            if secret and not against_none:
                problems.append(f"{path.relative_to(GWD)}:{node.lineno}: {text}")
    assert problems == []
    auth = Authenticator(MASTER_KEY, KeyCache(None, 5))  # type: ignore[arg-type]
    assert auth.is_master(MASTER_KEY)
    assert not any(auth.is_master(k) for k in (MASTER_KEY[:-1], MASTER_KEY + "x", "",
                                                MASTER_KEY.upper(), " " + MASTER_KEY))


def test_B13_the_check_catches_a_plain_compare() -> None:
    bad = ast.parse("def is_master(self, raw):\n    return raw == self.master_key\n")
    assert [ast.unparse(c) for c in _compares(bad)] == ["raw == self.master_key"]


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_api_key"), ({"Authorization": ""}, "missing_api_key"),
    ({"Authorization": "Bearer"}, "missing_api_key"),
    ({"Authorization": "Bearer    "}, "missing_api_key"),
    ({"Authorization": "Basic " + MASTER_KEY}, "missing_api_key"),
    ({"Authorization": MASTER_KEY}, "missing_api_key"),
    ({"Authorization": "bearer sk-not-a-key-0000000000"}, "invalid_api_key"),
    ({"Authorization": "Bearer not-even-sk"}, "invalid_api_key"),
    ({"Authorization": "Bearer " + "k" * 5000}, "invalid_api_key"),
    ({"api-key": "sk-not-a-key-0000000000"}, "invalid_api_key"),
    (CIMultiDict([("Authorization", f"Bearer {MASTER_KEY}"), ("Authorization", "Bearer x")]),
     "invalid_api_key"),
    (CIMultiDict([("api-key", "x"), ("api-key", MASTER_KEY)]), "invalid_api_key"),
], ids=["none", "empty", "bearer-alone", "bearer-blank", "basic", "no-scheme", "lowercase",
        "no-sk", "5k-key", "api-key", "two-authorization", "two-api-key"])
async def test_A17_odd_credentials_are_401_and_never_echoed(gw: Gateway, headers: Any,
                                                            code: str) -> None:
    r = await gw.client.post("/v1/chat/completions", headers=headers, json={
        "model": "cheap", "messages": [{"role": "user", "content": "x"}]})
    err = await gw.refused(r, 401, code)
    for value in CIMultiDict(headers).values():
        presented = value.split(" ", 1)[-1].strip()
        assert len(presented) < 8 or presented not in str(err)  # (not "Bearer" itself)
    assert gw.fake.requests == []


async def test_A17_nul_and_huge_keys_are_refused_by_the_parser_and_not_logged(
        gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    for value in (f"Bearer {MASTER_KEY}\x00", f"Bearer {MASTER_KEY}\x7f",
                  f"Bearer {MASTER_KEY}" + "k" * 10_240):
        data = request("GET", "/key/list", {"Authorization": value})
        answer = await asyncio.to_thread(exchange, gw.client.port, data)
        assert statuses(answer) == [400]
    assert "refused with 400" in caplog.text  # the line is kept ...
    assert MASTER_KEY not in caplog.text      # ... without the bytes it quoted


async def _timed(gw: Gateway, method: str, path: str, key: str, body: Any,
                 params: dict[str, str] | None = None) -> tuple[float, int, str]:
    started = time.perf_counter()
    r = await gw.client.request(method, path, json=body, params=params,
                                headers={"Authorization": f"Bearer {key}"})
    text = await r.text()
    return time.perf_counter() - started, r.status, text


async def _sql_payloads_answer_like_plain_bad_keys(gw: Gateway) -> None:
    plain_times, sql_times = [], []
    for i in range(24):
        method, path, body = ROUTES[i % len(ROUTES)]
        plain = f"sk-plain-bad-key-{i:04d}-0000000000"
        payload = f"{SQL[i % len(SQL)]} {i}"  # unique: no negative-cache hit
        for key, times in ((plain, plain_times), (payload, sql_times)):
            seconds, status, text = await _timed(gw, method, path, key, body)
            assert status == 401 and '"invalid_api_key"' in text, text
            assert key not in text and not any(w in text.lower() for w in DB_WORDS), text
            times.append(seconds)
    assert max(sql_times) < 1.0
    assert statistics.median(sql_times) - statistics.median(plain_times) < 0.05
    for payload in SQL:  # the admin query parameters (CVE-2024-5225, CVE-2025-45809)
        for path, param in (("/spend/logs", "key"), ("/spend/days", "key"),
                            ("/key/info", "key"), ("/spend/logs", "since"),
                            ("/key/list", "page")):
            seconds, status, text = await _timed(gw, "GET", path, MASTER_KEY, None,
                                                 {param: payload})
            assert status in (200, 400, 404) and seconds < 1.0, (path, status, text)
            assert not any(w in text.lower() for w in DB_WORDS), text
    r = await gw.client.get("/key/list", headers=MASTER)
    assert r.status == 200  # and the tables are still there


async def test_A17_sql_payload_keys_answer_like_plain_bad_keys_on_sqlite(gw: Gateway) -> None:
    await _sql_payloads_answer_like_plain_bad_keys(gw)


@pytest.mark.postgres
async def test_A17_sql_payload_keys_answer_like_plain_bad_keys_on_postgres(
        tmp_path: Path, pg_url: str) -> None:
    url = create_database(pg_url, "gw_a17")
    try:
        async with gateway(tmp_path, database_url=url) as gw:
            await _sql_payloads_answer_like_plain_bad_keys(gw)
    finally:
        drop_database(pg_url, url)
