"""Catalogue (c), faults C1–C26: each upstream completion that is billed has exactly one ledger row.

The cases share one :class:`~tests.support.faultlab.Lab` gwd (SQLite), a fresh key
each. They check what the client and the upstream saw, and the key's ledger read from
the database: one row per call, failed calls cost 0, estimates flagged, counters equal
to the ledger. gwd's log must hold no traceback after each test and no secret at all.

In tests/catalogue/test_faults_process.py (each needs a gwd of its own): C13 (a 200 MB
upstream body: refused with 502, gwd's peak RSS bounded), C20 (SIGTERM with 100 calls in
flight, 50 of them streams: all finish, the ledger equals the upstream's completed
calls), and C21's synchronous_commit check.

Covered in tests/e2e/test_db_faults.py (the database's faults):
- C15 (down at start): test_unreachable_postgres_at_start_is_one_line_exit_1_without_the_password,
  test_unwritable_sqlite_path_at_start_is_one_line_exit_1,
  test_fail_open_is_opt_in_and_readiness_says_the_db_is_down.
- C16 (down mid-run) and C17 (recovers, no restart):
  test_postgres_down_mid_run_fails_closed_journals_spend_and_recovers,
  test_a_silent_database_costs_a_caller_at_most_the_timeout.
- C18: test_sqlite_disk_full_refuses_writes_keeps_spend_and_recovers. C19:
  test_sqlite_writer_contention_is_absorbed_by_busy_timeout. C24:
  test_an_exhausted_pool_gives_503_never_401. C25:
  test_the_pool_returns_to_baseline_after_injected_db_errors.
- C21 (SIGKILL): test_stopping_while_postgres_is_down_loses_no_answered_call[sigkill],
  and test_faults_process.py::test_c21_gwd_never_turns_synchronous_commit_off. A known
  limit, by design (DESIGN.md, "batch for speed"): with the database up, ledger rows
  wait in memory up to ``spend_flush_interval`` (0.1 s), so a SIGKILL loses the calls
  answered in that last 0.1 s. A clean stop loses nothing (C20).

C22 is also tests/e2e/test_spend.py::test_disconnect_mid_stream_is_billed_once. C23,
as decided in docs/operations.md ("Spend and budgets"): a client hanging up on a
non-streamed call does not cancel it; its full cost is recorded once, ``client_closed``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import orjson
import pytest

from tests.conftest import assert_no_secret
from tests.fakes import Fault, OpenAIFake
from tests.fakes.base import sse
from tests.support.faultlab import (
    MASTER,
    PROVIDER_KEY,
    Lab,
    ScriptedFake,
    black_hole,
    catalogue_groups,
    cost,
    estimate,
    sse_chunk,
    sse_events,
    streamed_text,
)
from tests.support.gwd import MASTER_KEY

CONNECT, FIRST_BYTE, IDLE = 1.0, 2.0, 1.0
ROUTER = {"num_retries": 2, "connect_timeout": CONNECT, "first_byte_timeout": FIRST_BYTE,
          "stream_idle_timeout": IDLE, "cooldown_time": 1}
ZERO = Decimal(0)
OK_COST = cost(10, 5)   # what the fakes report: 10 prompt + 5 completion tokens
TRACEBACK_MARKS = ("Traceback", "Error handling request", "unhandled error")


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, OpenAIFake]]:
    started: dict[str, OpenAIFake] = {n: OpenAIFake(n).start() for n in
                                      ("ok", "bad", "bad2", "target")}
    started["scripted"] = ScriptedFake().start()
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(scope="module")
def lab(fakes: dict[str, OpenAIFake], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with black_hole() as hole:
        lab = Lab(tmp_path_factory.mktemp("lab"), catalogue_groups(fakes, hole), ROUTER).start()
        yield lab
        assert lab.proc is not None and lab.proc.stop() == 0
        assert_no_secret(lab.proc.log_text(), [MASTER_KEY, PROVIDER_KEY], "the lab's log")


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest, fakes: dict[str, OpenAIFake]) -> Iterator[None]:
    """Fakes start each test behaving; a test on the lab must leave no traceback in its log."""
    for fake in fakes.values():
        fake.reset()
        fake.reply_text = f"Hello from {fake.name}, a fake upstream."
    scripted = fakes["scripted"]
    assert isinstance(scripted, ScriptedFake)
    scripted.script, scripted.content_type = None, "text/event-stream"
    lab: Lab | None = request.getfixturevalue("lab") if "lab" in request.fixturenames else None
    seen = len(lab.proc.log_text()) if lab and lab.proc else 0
    yield
    if lab is not None and lab.proc is not None:
        new = lab.proc.log_text()[seen:]
        assert not [m for m in TRACEBACK_MARKS if m in new], new[-3000:]


@pytest.fixture
def scripted(fakes: dict[str, OpenAIFake]) -> ScriptedFake:
    fake = fakes["scripted"]
    assert isinstance(fake, ScriptedFake)
    return fake


@pytest.mark.parametrize("status", [500, 502, 503], ids=["C1-500", "C1-502", "C1-503"])
def test_c1_5xx_fails_over_and_only_the_answer_is_billed(lab: Lab, fakes: dict[str, OpenAIFake],
                                                         status: int) -> None:
    fakes["bad"].set_default(Fault(status=status))
    key = lab.key()
    r = lab.call(key, f"c1-{status}")
    assert r.status_code == 200 and fakes["ok"].reply_text in r.text
    assert (len(fakes["bad"].requests), len(fakes["ok"].requests)) == (1, 1)
    assert Decimal(r.headers["x-gw-response-cost"]) == OK_COST
    assert [(x.status, x.deployment, x.cost) for x in lab.rows(key)] == [
        ("success", f"c1-{status}/1", OK_COST)]


def test_c2_every_deployment_failing_is_a_502_that_costs_nothing(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(status=500))
    fakes["bad2"].set_default(Fault(status=503))
    key = lab.key()
    started = time.monotonic()
    r = lab.call(key, "c2")
    assert r.status_code == 502 and time.monotonic() - started < 5
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "upstream_error"
    assert len(fakes["bad"].requests) == len(fakes["bad2"].requests) == 1
    assert lab.summary(key) == [("error", ZERO)]


def test_c3_a_429_cools_the_deployment_for_its_retry_after_without_a_retry_storm(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(status=429, headers={"Retry-After": "30"}))
    key = lab.key()
    assert [lab.call(key, "c3").status_code for _ in range(10)] == [200] * 10
    assert (len(fakes["bad"].requests), len(fakes["ok"].requests)) == (1, 10)
    time.sleep(1.3)  # past cooldown_time (1 s): only Retry-After (30 s) keeps it cooling
    health = httpx.get(lab.url + "/health", headers=MASTER, timeout=10).json()
    assert {d["deployment"]: d["cooling_down"] for d in health["deployments"]}["c3/0"] is True
    assert lab.summary(key) == [("success", OK_COST)] * 10


def test_c4_an_upstream_400_is_passed_through_and_not_retried(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(status=400, body={"error": {"message": "bad 'messages'"}}))
    key = lab.key()
    r = lab.call(key, "c4-400")
    assert r.status_code == 400 and "bad 'messages'" in r.json()["error"]["message"]
    assert (len(fakes["bad"].requests), len(fakes["ok"].requests)) == (1, 0)
    assert lab.summary(key) == [("error", ZERO)]


def test_c4_an_upstream_401_is_a_502_without_the_upstream_text(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(status=401, body={"error": {
        "message": f"Incorrect API key provided: {PROVIDER_KEY}"}}))
    key = lab.key()
    r = lab.call(key, "c4-401")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_auth_error"
    assert PROVIDER_KEY not in r.text and "Incorrect API key" not in r.text
    assert (len(fakes["bad"].requests), len(fakes["ok"].requests)) == (1, 0)
    assert fakes["bad"].requests[0].header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert lab.summary(key) == [("error", ZERO)]


def test_c5_a_black_hole_fails_over_after_the_connect_timeout(lab: Lab,
                                                              fakes: dict[str, OpenAIFake]) -> None:
    key = lab.key()
    started = time.monotonic()
    r = lab.call(key, "c5")
    assert r.status_code == 200 and CONNECT * 0.9 <= time.monotonic() - started < CONNECT + 3
    started = time.monotonic()
    r = lab.call(key, "c5-only")
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < CONNECT + 3
    assert lab.summary(key) == [("error", ZERO), ("success", OK_COST)]


def test_c6_a_silent_upstream_is_a_504_after_the_first_byte_timeout(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(hang=True))
    key = lab.key()
    started = time.monotonic()
    r = lab.call(key, "c6")
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
    assert FIRST_BYTE * 0.9 <= time.monotonic() - started < FIRST_BYTE + 3
    assert lab.summary(key) == [("error", ZERO)]


def test_c7_a_stream_stalling_midway_gets_an_error_event_and_its_part_billed_once(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    bad = fakes["bad"]
    bad.reply_text = " ".join(f"word{i}" for i in range(40))
    bad.set_default(Fault(stream_stall_after=12))    # the role chunk and 11 words, then silence
    key = lab.key()
    started = time.monotonic()
    r = lab.call(key, "c7", stream=True)
    assert IDLE * 0.9 <= time.monotonic() - started < IDLE + 3
    events = sse_events(r.text)
    assert r.status_code == 200 and "[DONE]" not in r.text
    assert events[-1][0] == "error"
    assert orjson.loads(events[-1][1])["error"]["type"] == "timeout_error"
    text = streamed_text(events)
    assert text == " ".join(f"word{i}" for i in range(11))
    assert bad.streams == [("stalled", 12, 44)]
    [row] = lab.rows(key)
    assert (row.status, row.usage_estimated, row.completion_tokens) == ("error", True,
                                                                       estimate(text))
    assert row.prompt_tokens > 0 and row.cost == cost(row.prompt_tokens, row.completion_tokens)
    lab.assert_exact(key)


def test_c8_a_reset_mid_body_is_a_502_with_one_error_row(lab: Lab,
                                                         fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(body_cut_after=40))
    key = lab.key()
    r = lab.call(key, "c8")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    assert lab.summary(key) == [("error", ZERO)]
    other = lab.key()    # with a healthy deployment behind it, the call fails over
    r = lab.call(other, "c8-failover")
    assert r.status_code == 200 and fakes["ok"].reply_text in r.text
    assert [(x.status, x.deployment, x.cost) for x in lab.rows(other)] == [
        ("success", "c8-failover/1", OK_COST)]


GARBAGE = {"html": b"<html><body>C9-MARKER internal error page</body></html>",
           "truncated-json": b'{"id": "chatcmpl-1", "note": "C9-MARKER", "choices": [{"mess',
           "wrong-shape": b'{"result": "C9-MARKER", "data": [1, 2, 3]}',
           "json-array": b'["C9-MARKER"]'}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(GARBAGE), ids=[f"C9-{k}" for k in GARBAGE])
def test_c9_a_garbage_answer_is_502_bad_response_and_never_echoed(
        lab: Lab, fakes: dict[str, OpenAIFake], kind: str, stream: bool) -> None:
    fakes["bad"].set_default(Fault(garbage=GARBAGE[kind]))
    key = lab.key()
    r = lab.call(key, "c9", stream=stream)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_bad_response"
    assert "C9-MARKER" not in r.text
    assert lab.summary(key) == [("error", ZERO)]


@pytest.mark.parametrize("stream", [False, True], ids=["C10-plain", "C10-stream"])
def test_c10_an_answer_without_usage_is_served_and_billed_on_a_flagged_estimate(
        lab: Lab, fakes: dict[str, OpenAIFake], stream: bool) -> None:
    fakes["bad"].set_default(Fault(no_usage=True))
    key = lab.key()
    r = lab.call(key, "c10", stream=stream)
    assert r.status_code == 200
    if stream:
        assert r.text.rstrip().endswith("data: [DONE]")
        text = streamed_text(sse_events(r.text))
    else:
        text = r.json()["choices"][0]["message"]["content"]
    assert text == fakes["bad"].reply_text
    [row] = lab.rows(key)
    assert (row.status, row.usage_estimated, row.completion_tokens) == ("success", True,
                                                                       estimate(text))
    assert row.prompt_tokens > 0 and row.cost == cost(row.prompt_tokens, row.completion_tokens)
    assert stream or Decimal(r.headers["x-gw-response-cost"]) == row.cost
    lab.assert_exact(key)


@pytest.mark.parametrize("how", ["reset", "eof"], ids=["C11-reset", "C11-eof"])
def test_c11_a_truncated_stream_gets_an_error_event_and_its_part_billed_once(
        lab: Lab, fakes: dict[str, OpenAIFake], scripted: ScriptedFake, how: str) -> None:
    if how == "reset":   # the connection drops after the role chunk and 9 words
        fakes["bad"].reply_text = " ".join(f"w{i}" for i in range(30))
        fakes["bad"].set_default(Fault(stream_cut_after=10, no_usage=True))
        group, expected = "c11", " ".join(f"w{i}" for i in range(9))
    else:                # a clean end of the body, with no finish, no usage, no [DONE]
        scripted.script = [sse_chunk(""), sse_chunk("Hello"), sse_chunk(" there")]
        group, expected = "c11-eof", "Hello there"
    key = lab.key()
    r = lab.call(key, group, stream=True)
    events = sse_events(r.text)
    assert r.status_code == 200 and "[DONE]" not in r.text and events[-1][0] == "error"
    assert streamed_text(events) == expected
    [row] = lab.rows(key)
    assert (row.status, row.usage_estimated, row.completion_tokens) == ("error", True,
                                                                       estimate(expected))
    assert row.cost == cost(row.prompt_tokens, row.completion_tokens) > 0
    lab.assert_exact(key)


BROKEN_LINES = {"C12-malformed-json": b'data: {"choices": [{"delta": {"content": "x"\n\n',
                "C12-non-utf8-in-json": b'data: {"choices": [{"index": 0, "delta": '
                                        b'{"content": "\xff\xfe\xc3"}}]}\n\n',
                "C12-non-utf8-bytes": b"data: \xff\xfe\xfd\x80\n\n"}


@pytest.mark.parametrize("line", list(BROKEN_LINES.values()), ids=list(BROKEN_LINES))
def test_c12_a_broken_stream_line_ends_the_stream_with_a_clean_error_event(
        lab: Lab, scripted: ScriptedFake, line: bytes) -> None:
    scripted.script = [sse_chunk(""), sse_chunk("Hello"), line, sse_chunk(" more"),
                       sse_chunk(None, "stop"), b"data: [DONE]\n\n"]
    key = lab.key()
    r = lab.call(key, "c12", stream=True)
    events = sse_events(r.text)
    assert r.status_code == 200 and "[DONE]" not in r.text and events[-1][0] == "error"
    assert orjson.loads(events[-1][1])["error"]["type"] == "upstream_error"
    assert streamed_text(events) == "Hello" and "\ufffd" not in r.text
    [row] = lab.rows(key)
    assert (row.status, row.usage_estimated, row.completion_tokens) == ("error", True,
                                                                       estimate("Hello"))


def test_c12_sse_comments_and_unknown_fields_are_skipped(lab: Lab,
                                                         scripted: ScriptedFake) -> None:
    usage = sse({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
                 "model": "gpt-4o", "choices": [],
                 "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}})
    scripted.script = [b": keep-alive\n\n", sse_chunk(""), b"retry: 100\n\n",
                       sse_chunk("Hello"), b"id: 3\n\n", b"x-unknown-field\n\n",
                       sse_chunk(" world"), sse_chunk(None, "stop"), usage,
                       b"data: [DONE]\n\n"]
    key = lab.key()
    r = lab.call(key, "c12", stream=True)
    events = sse_events(r.text)
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    assert streamed_text(events) == "Hello world" and all(n is None for n, _ in events)
    assert [(x.status, x.usage_estimated, x.cost) for x in lab.rows(key)] == [
        ("success", False, cost(7, 2))]


@pytest.mark.parametrize("status", [302, 307], ids=["C14-302", "C14-307"])
def test_c14_a_redirect_to_another_host_is_not_followed(lab: Lab, fakes: dict[str, OpenAIFake],
                                                        status: int) -> None:
    target = f"http://localhost:{fakes['target'].port}/v1/chat/completions"
    fakes["bad"].set_default(Fault(status=status, headers={"Location": target}))
    key = lab.key()
    r = lab.call(key, "c14")
    assert r.status_code == 502 and PROVIDER_KEY not in r.text
    assert lab.call(key, "c14-failover").status_code == 200
    assert fakes["target"].requests == []
    assert lab.summary(key) == [("error", ZERO), ("success", OK_COST)]


def test_c22_a_client_gone_mid_stream_is_billed_once_quietly(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    bad = fakes["bad"]
    bad.reply_text = " ".join(f"word{i}" for i in range(200))
    bad.set_default(Fault(stream_delay=0.02))
    key = lab.key()
    with httpx.stream("POST", lab.url + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "c22", "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]}) as r:
        request_id, lines = r.headers["x-request-id"], r.iter_lines()
        got = [next(lines) for _ in range(12)]
    delivered = streamed_text(sse_events("\n".join(got)))
    deadline = time.monotonic() + 5
    while not bad.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bad.streams and bad.streams[0][0] == "closed_by_client"  # upstream closed too
    [row] = lab.rows(key)
    assert (row.status, row.usage_estimated) == ("client_closed", True)
    assert estimate(delivered) <= row.completion_tokens < estimate(bad.reply_text)
    assert row.cost == cost(row.prompt_tokens, row.completion_tokens)
    lab.assert_exact(key)
    line = [x for x in lab.access_lines() if x["request_id"] == request_id]
    assert [(x["status"], x["call_status"]) for x in line] == [(499, "client_closed")]


def test_c23_a_client_gone_before_the_answer_is_still_billed_once(
        lab: Lab, fakes: dict[str, OpenAIFake]) -> None:
    fakes["bad"].set_default(Fault(delay=1.0))
    key = lab.key()
    with pytest.raises(httpx.ReadTimeout):
        lab.call(key, "c23", timeout=0.3)
    deadline = time.monotonic() + 5
    while not lab.rows(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.summary(key) == [("client_closed", OK_COST)]
    assert len(fakes["bad"].requests) == 1   # neither cancelled nor retried


@pytest.mark.parametrize("how", ["dns", "tls"], ids=["C26-dns", "C26-tls"])
def test_c26_a_dns_or_tls_failure_fails_over_and_never_shows_the_key(
        lab: Lab, fakes: dict[str, OpenAIFake], how: str) -> None:
    key = lab.key()
    r = lab.call(key, f"c26-{how}")
    assert r.status_code == 200 and fakes["ok"].reply_text in r.text
    r = lab.call(key, f"c26-{how}-only")
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
    assert PROVIDER_KEY not in r.text and "Bearer" not in r.text
    assert len(fakes["ok"].requests) == 1    # the TLS attempt never became a request
    assert lab.summary(key) == [("error", ZERO), ("success", OK_COST)]
