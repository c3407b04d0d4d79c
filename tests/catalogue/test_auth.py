"""Catalogue (b), auth boundaries: B1–B22.

Where each ID is tested:

- here: B1, B2, B3, B4, B6, B7, B8, B21 as the cases of the B22 test (each decision
  on /chat/completions, /completions and /embeddings, streamed or not, with no
  upstream call, no ledger row and no key change for any refusal; B7's key is stored
  as it could not be made through /key/generate), B3 (the expiry boundary), B5, B8
  (cycles), B10, B12, B14 (PostgreSQL), B15, B16, B18, B19, B20 (the canary's own
  test; the canary itself runs after every test that uses the ``gwd`` fixture, see
  tests/conftest.py);
- tests/catalogue/test_auth_routes.py: B9 (route inventory x credentials, B10's
  admin half, B11's "a virtual key cannot mint keys"), B17;
- tests/catalogue/test_auth_timing.py: B13;
- elsewhere, exactly: B4 tests/e2e/test_keys.py::test_deleted_key_is_refused_at_once_and_says_so;
  B5 tests/e2e/test_replicas.py::
  test_replicas_share_keys_and_revocations_reach_the_other_within_a_second (deleted
  on one replica, refused by the other within 1.5 s with a 60 s cache TTL; a
  narrowed key likewise) and ``test_B5_B16_...`` here; B8 shadowing
  tests/e2e/test_keys.py::test_alias_shadowing_a_group_name_resolves_to_the_alias;
  B11 tests/catalogue/test_bad_input.py::
  test_A13_B11_admin_bodies_are_strict_on_generate_and_update;
  B12 tests/e2e/test_startup.py (open proxy on loopback, weak key refused off
  loopback); B14 (SQLite) tests/e2e/test_keys.py::test_only_the_hash_is_stored.

Where gw differs from the catalogue, on purpose (SPEC wins):

- B5 "blocked": gw has no /key/block; a key is narrowed (/key/update) or deleted.
- B8: an alias to a missing group is 400 ``model_not_found`` (SPEC §3), not 404.
- B12: with no master key gw runs an open proxy bound to 127.0.0.1 (SPEC §1); a
  weak key (under 16 characters, or a published one) is refused off loopback. An
  empty or blank key is a config error (exit 1), tested here.
- B16: gw has no rotate endpoint: rotating is generating a new key and deleting
  the old one, tested across two replicas here.
- B21: budget exhausted is 400 ``budget_exceeded`` (SPEC §4-5), not 429.
- B22: OpenAI's embeddings take no ``stream``; gwd refuses the parameter (400), so
  on embeddings x stream only the decisions made before the body is read (401s)
  can be the same as elsewhere, and are.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gwd.store.base import StoreUnavailable
from tests.conftest import GwdFactory, scan_gwd, sha256_hex
from tests.fakes import OpenAIFake
from tests.support.gateway import HI, MASTER, Gateway, bearer, gateway, gateway_config
from tests.support.gwd import MASTER_KEY, REPO, write_config
from tests.support.pg import create_database, drop_database, fetch, run_async
from tests.support.recorder import Recorder, dechunk

BODIES = {"/v1/chat/completions": {"messages": HI}, "/v1/completions": {"prompt": "hi"},
          "/v1/embeddings": {"input": "hi"}}


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def call(gw: Gateway, path: str, key: str | None, model: str, stream: bool) -> Any:
    body = {"model": model, **BODIES[path], **({"stream": True} if stream else {})}
    return await gw.client.post(path, json=body, headers=bearer(key) if key else {})


DECISIONS = [  # (id, which key, model, status, code)
    ("B1-no-key", None, "cheap", 401, "missing_api_key"),
    ("B2-unknown-key", "unknown", "cheap", 401, "invalid_api_key"),
    ("B3-expired-key", "expired", "cheap", 401, "expired_key"),
    ("B4-deleted-key", "deleted", "cheap", 401, "deleted_key"),
    ("B6-model-not-in-key", "cheap-only", "expensive", 403, "model_not_allowed"),
    ("B7-alias-to-model-not-in-key", "alias-out", "fast", 403, "model_not_allowed"),
    ("B8-alias-to-missing-group", "alias-ghost", "fast", 400, "model_not_found"),
    ("B21-budget-spent", "broke", "cheap", 400, "budget_exceeded"),
]


async def make_keys(gw: Gateway) -> dict[str, str]:
    keys = {"cheap-only": (await gw.generate(models=["cheap"]))["key"],
            "deleted": (await gw.generate())["key"], "unknown": "sk-wellformedbutunknown0",
            "alias-ghost": (await gw.generate(aliases={"fast": "ghost"}))["key"],
            "expired": "sk-expired-" + "x" * 22, "alias-out": "sk-alias-outside-" + "y" * 22,
            "broke": (await gw.generate(max_budget=0.00001))["key"]}
    await gw.client.post("/key/delete", json={"keys": [keys["deleted"]]}, headers=MASTER)
    await gw.craft(keys["expired"], expires=datetime.now(UTC) - timedelta(seconds=1))
    await gw.craft(keys["alias-out"], models=("cheap",), aliases={"fast": "expensive"})
    assert (await gw.chat(keys["broke"])).status == 200  # costs 0.00002: the budget is spent
    return keys


@pytest.mark.parametrize("case", DECISIONS, ids=[d[0] for d in DECISIONS])
async def test_B22_the_same_decision_on_every_endpoint_streamed_or_not(
        gw: Gateway, case: tuple[str, str | None, str, int, str]) -> None:
    bid, who, model, status, code = case
    keys = await make_keys(gw)
    key = keys[who] if who else None
    before = await gw.snapshot()
    for path in BODIES:
        for stream in (False, True):
            expect = (status, code)
            if path.endswith("embeddings") and stream and status != 401:
                expect = (400, "invalid_request")  # embeddings take no stream parameter
            err = await gw.refused(await call(gw, path, key, model, stream), *expect)
            assert key is None or key not in str(err), bid
    assert await gw.snapshot() == before  # no upstream call, no ledger row, no key change
    for path in BODIES:  # and the same endpoints do serve a key that may call them
        for stream in (False, True):
            r = await call(gw, path, keys["cheap-only"], "cheap", stream)
            assert r.status == (400 if path.endswith("embeddings") and stream else 200)


async def test_B3_a_key_is_refused_from_the_moment_it_expires(gw: Gateway) -> None:
    now = datetime.now(UTC)
    for raw, expires, status in [("sk-skew-past-" + "a" * 22, now - timedelta(seconds=1), 401),
                                 ("sk-at-expiry-" + "b" * 22, now, 401),
                                 ("sk-skew-future-" + "c" * 22, now + timedelta(seconds=3),
                                  200)]:
        await gw.craft(raw, expires=expires)
        r = await gw.chat(raw)
        assert r.status == status
        if status == 401:
            err = await gw.refused(r, 401, "expired_key")
            assert raw not in err["message"] and raw not in str(err)


async def test_B8_alias_cycles_and_chains_are_refused_at_create(
        gw: Gateway) -> None:
    before = await gw.snapshot()
    for aliases in ({"a": "b", "b": "a"}, {"a": "a"}, {"a": "b", "b": "c", "c": "cheap"}):
        r = await gw.client.post("/key/generate", json={"aliases": aliases}, headers=MASTER)
        await gw.refused(r, 400, param="aliases")
    assert await gw.snapshot() == before  # (a missing target: B8 in the B22 table)


async def test_B10_a_virtual_key_cannot_read_another_key_or_any_spend(gw: Gateway) -> None:
    mine, theirs = await gw.generate(), await gw.generate()
    for ref in (theirs["key"], theirs["key_id"]):
        r = await gw.client.get("/key/info", params={"key": ref}, headers=bearer(mine["key"]))
        err = await gw.refused(r, 403, "not_own_key")
        assert theirs["key"] not in str(err)
    r = await gw.client.get("/key/info", params={"key": mine["key_id"]},
                            headers=bearer(mine["key"]))
    assert r.status == 200 and (await r.json())["key"] is None  # by key_id: no secret back
    for path in ("/spend/logs", "/spend/keys", "/spend/days"):
        r = await gw.client.get(path, params={"key": mine["key"]}, headers=bearer(mine["key"]))
        await gw.refused(r, 403, "admin_only")


@pytest.mark.parametrize("master_key", ["", "   ", "os.environ/GW_TEST_UNSET_MASTER_KEY"],
                         ids=["empty", "blank", "unset-env"])
def test_B12_an_empty_master_key_refuses_to_start(tmp_path: Path, master_key: str) -> None:
    config = {**gateway_config("http://127.0.0.1:9"), "general_settings": {
        "master_key": master_key}}
    path = write_config(tmp_path / "empty.yaml", config)
    out = subprocess.run([sys.executable, "-m", "gwd", "--config", str(path)],
                         capture_output=True, text=True, cwd=REPO, timeout=30)
    assert out.returncode == 1
    assert "config error" in out.stderr and "master_key" in out.stderr
    assert "serving" not in out.stderr


@pytest.mark.postgres
async def test_B14_postgres_holds_only_the_hash(tmp_path: Path, pg_url: str) -> None:
    url = create_database(pg_url, "gw_b14")
    try:
        async with gateway(tmp_path, database_url=url) as gw:
            keys = [(await gw.generate(key_alias=f"k{i}"))["key"] for i in range(3)]
            for key in keys:
                assert (await gw.chat(key)).status == 200
            await gw.snapshot()  # flushes the spend buffer
        tables = [r["tablename"] for r in run_async(fetch(
            url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
        dump = "".join(str(list(map(dict, run_async(fetch(url, f'SELECT * FROM "{t}"')))))
                       for t in tables)
    finally:
        drop_database(pg_url, url)
    assert "gw_keys" in tables and "gw_spend_log" in tables
    for key in keys:
        assert key not in dump and key[3:] not in dump and MASTER_KEY not in dump
        assert sha256_hex(key) in dump


async def test_B15_keys_sharing_a_40_character_prefix_authenticate_independently(
        gw: Gateway) -> None:
    prefix = "sk-" + "P" * 37
    first, second, stranger = prefix + "first-key", prefix + "second-key", prefix + "nope"
    assert first[:40] == second[:40] == stranger[:40]
    await gw.craft(first, models=("cheap",))
    await gw.craft(second, models=("expensive",))
    for _ in range(2):  # the second round comes from the key cache
        assert (await gw.chat(first, "cheap")).status == 200
        assert (await gw.chat(second, "expensive")).status == 200
        await gw.refused(await gw.chat(first, "expensive"), 403, "model_not_allowed")
        await gw.refused(await gw.chat(second, "cheap"), 403, "model_not_allowed")
        await gw.refused(await gw.chat(stranger, "cheap"), 401, "invalid_api_key")


async def test_B16_an_update_takes_effect_on_the_next_call(gw: Gateway) -> None:
    key = (await gw.generate(models=["cheap", "expensive"]))["key"]
    assert (await gw.chat(key, "expensive")).status == 200  # cached now
    r = await gw.client.post("/key/update", json={"key": key, "models": ["cheap"]},
                             headers=MASTER)
    assert r.status == 200
    await gw.refused(await gw.chat(key, "expensive"), 403, "model_not_allowed")


@pytest.mark.postgres
def test_B5_B16_a_rotated_key_is_refused_on_every_replica_and_the_new_one_works(
        gwd: GwdFactory, pg_url: str) -> None:
    url = create_database(pg_url, "gw_b16")
    replicas: list[Any] = []
    try:
        with OpenAIFake("up") as fake:
            config = gateway_config(fake.base_url, database_url=url, key_cache_ttl=60)
            a, b = replicas[:] = [gwd(config, name="a"), gwd(config, name="b")]
            old = httpx.post(a.base_url + "/key/generate", headers=MASTER, json={}).json()

            def chat(proc: Any, key: str) -> int:
                return httpx.post(proc.base_url + "/v1/chat/completions", headers=bearer(key),
                                  json={"model": "cheap", "messages": HI}).status_code

            assert chat(a, old["key"]) == chat(b, old["key"]) == 200  # cached on both
            new = httpx.post(a.base_url + "/key/generate", headers=MASTER, json={}).json()
            r = httpx.post(a.base_url + "/key/delete", headers=MASTER,
                           json={"keys": [old["key_id"]]})
            assert r.status_code == 200
            assert chat(a, old["key"]) == 401  # at once where it was deleted
            deadline = datetime.now(UTC) + timedelta(seconds=5)  # the catalogue's TTL target
            while chat(b, old["key"]) != 401:
                assert datetime.now(UTC) < deadline, "replica b still accepts the old key"
            assert chat(a, new["key"]) == chat(b, new["key"]) == 200
            calls = len(fake.requests)
            assert chat(b, old["key"]) == 401 and len(fake.requests) == calls
    finally:
        for proc in replicas:
            proc.stop()  # before the database goes away (the fixture scans them later)
        drop_database(pg_url, url)


class BrokenStore:
    """A store whose key lookups fail the way ``error`` says; the rest is the real one."""

    def __init__(self, real: Any, error: BaseException) -> None:
        self.real, self.error = real, error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def get_key(self, token_hash: str) -> Any:
        raise self.error


@pytest.mark.parametrize("error", [StoreUnavailable("down"), TimeoutError(),
                                   RuntimeError("a bug"), KeyError("x")],
                         ids=["unavailable", "timeout", "bug", "keyerror"])
async def test_B18_a_fault_inside_auth_is_503_never_an_identity(gw: Gateway,
                                                               error: BaseException) -> None:
    key = (await gw.generate())["key"]
    gw.runtime.cache.store = BrokenStore(gw.runtime.store, error)  # type: ignore[assignment]
    gw.runtime.cache.invalidate("*")  # a cached key would (rightly) be served for its TTL
    for who in (key, "sk-unknownunknownunknown1"):
        await gw.refused(await gw.chat(who), 503, "database_unavailable")
        r = await gw.client.get("/key/list", headers=bearer(who))
        await gw.refused(r, 503, "database_unavailable")
    assert gw.fake.requests == []
    assert (await gw.chat(MASTER_KEY)).status == 200  # the master key needs no lookup


async def test_B19_health_probes_say_ok_and_nothing_else(gw: Gateway) -> None:
    r = await gw.client.get("/health/liveliness")
    assert (r.status, await r.json()) == (200, {"status": "ok"})
    r = await gw.client.get("/health/readiness")  # LiteLLM's fields, empty
    assert (r.status, await r.json()) == (200, {"status": "ok", "db": "ok", "cache": None,
                                                "litellm_version": None,
                                                "success_callbacks": []})
    await gw.refused(await gw.client.get("/health"), 401, "missing_api_key")
    key = (await gw.generate())["key"]
    await gw.refused(await gw.client.get("/health", headers=bearer(key)), 403, "admin_only")
    detail = await (await gw.client.get("/health", headers=MASTER)).text()
    assert "http" not in detail and gw.fake.base_url not in detail
    gw.assert_clean(detail)


class _Seen:
    """What :func:`scan_gwd` reads from a GwdProcess: a log, a recorder, a name."""

    def __init__(self, recorder: Recorder, log: str) -> None:
        self.recorder, self.log, self.config_path = recorder, log, Path("canary.yaml")

    def log_text(self) -> str:
        return self.log


def test_B20_the_canary_finds_secrets_in_answers_and_logs() -> None:
    virtual = "sk-" + "v" * 22
    with OpenAIFake("echo", reply_text=f"leak {MASTER_KEY} {sha256_hex(virtual)}") as fake:
        recorder = Recorder(fake.port).start()
        try:
            httpx.post(recorder.url + "/v1/chat/completions", headers=bearer(virtual),
                       json={"model": "m", "messages": HI, "stream": True})
        finally:
            recorder.stop()
    assert virtual.encode() in recorder.sent()
    with pytest.raises(AssertionError, match="secret appeared in an answer"):
        scan_gwd(_Seen(recorder, ""), [MASTER_KEY])  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="virtual key's hash appeared in an answer"):
        scan_gwd(_Seen(recorder, ""), [])  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="secret appeared in the log"):
        scan_gwd(_Seen(Recorder(1), f"x {MASTER_KEY}"), [MASTER_KEY])  # type: ignore[arg-type]
    split = sha256_hex(virtual)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" \
        b"20\r\n" + split[:32].encode() + b"\r\n20\r\n" + split[32:].encode() + b"\r\n0\r\n\r\n"
    assert split.encode() not in chunked and split.encode() in dechunk(chunked)
