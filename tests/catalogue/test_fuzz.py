"""Fuzzing the request parser and the admin bodies (catalogue §4's fuzz corpus, I11, A13).

Four properties, with hypothesis, each on a bounded number of examples (the whole
module runs in a few seconds; ``GW_FUZZ_SCALE=20`` multiplies them for a long run)
and derandomized, so CI is repeatable:

- ``gwd.schema.validate`` on any JSON value (and on OpenAI-shaped bodies with wild
  values) raises nothing but ``InvalidRequest`` (400) or returns a ``CallRequest``
  whose body has no routing field outside a JSON Schema;
- ``gwd.keys.parse_fields`` likewise: ``InvalidRequest`` or a dict of typed fields;
- over HTTP (gwd's real app in a thread, a fake upstream behind it), any body with
  any content type on the three LLM routes is never a 5xx, and a 4xx reached
  neither the upstream nor the ledger;
- /key/generate and /key/update with fuzzed admin bodies are 200 or 400, never 5xx,
  and a 400 stored nothing (key count and the updated key's info unchanged).

The seed corpus in ``corpus/`` (bodies that once broke gwd or a gateway like it,
e.g. ``metadata`` nested 300 deep, which was a 500 on /key/generate) is replayed
on every run, through the same checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwd.errors import InvalidRequest
from gwd.keys import KEY_FIELDS, parse_fields
from gwd.schema import ALLOWED, FORBIDDEN, ROLES, SCHEMA_HOLDERS, CallRequest, validate
from tests.fakes import OpenAIFake
from tests.support.gateway import MASTER, gateway_config
from tests.support.served import served

SCALE = int(os.environ.get("GW_FUZZ_SCALE", "1"))
# hypothesis imports mypy_extensions to print a failing example; keep that warning from
# turning the report of a real failure into an INTERNALERROR (filterwarnings = error)
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict:DeprecationWarning")
CORPUS = Path(__file__).parent / "corpus"
ROUTES = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
          "embeddings": "/v1/embeddings"}
NAMES = sorted(set().union(*ALLOWED.values()) | FORBIDDEN | set(KEY_FIELDS) | {
    "role", "content", "type", "image_url", "url", "text", "function", "name", "key",
    "include_usage", *SCHEMA_HOLDERS})


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, database=None,
                    derandomize=True, suppress_health_check=[HealthCheck.too_slow])


scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["cheap", "30s", "never", "", "\x00"]))
keys_ = st.sampled_from(NAMES) | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(keys_, inner, max_size=3), max_leaves=10)
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(sorted(ROLES)) | values},
    optional={"content": st.text(max_size=20) | values, "tool_calls": values}), max_size=2)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` three times in four, any JSON value otherwise."""
    return st.integers(0, 3).flatmap(lambda i: good if i else values)


good_messages = st.lists(st.fixed_dictionaries({
    "role": st.sampled_from(["user", "system", "assistant"]), "content": st.text(max_size=20)}),
    min_size=1, max_size=2)
REQUIRED = {"chat": ("messages", mostly(good_messages) | messages),
            "completions": ("prompt", mostly(st.text(max_size=10))),
            "embeddings": ("input", mostly(st.text(max_size=10)))}
SAMPLING = {"stream": mostly(st.booleans()), "max_tokens": mostly(st.integers(1, 100)),
            "temperature": mostly(st.floats(0, 2))}


def openai_body(endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    """A body for ``endpoint``: mostly well-formed, with wild values and extra fields."""
    field, strategy = REQUIRED[endpoint]
    optional = {"encoding_format": mostly(st.sampled_from(["float", "base64"]))} \
        if endpoint == "embeddings" else SAMPLING
    return st.builds(
        lambda base, extra: {**extra, **base},
        st.fixed_dictionaries({"model": mostly(st.sampled_from(["cheap", "expensive", "x"])),
                               field: strategy}, optional=optional),
        st.just({}) | st.just({}) | st.dictionaries(keys_, values, max_size=3))


calls = st.sampled_from(sorted(ROUTES)).flatmap(
    lambda endpoint: st.tuples(st.just(endpoint), openai_body(endpoint) | values))
admin_bodies = st.fixed_dictionaries({}, optional={
    "models": mostly(st.lists(st.sampled_from(["cheap", "expensive", "other"]), max_size=3)),
    "duration": mostly(st.sampled_from(["30s", "5m", "2h", "1d", "never", "0s", "3651d"])),
    "aliases": mostly(st.dictionaries(st.text(min_size=1, max_size=6),
                                      st.sampled_from(["cheap", "expensive"]), max_size=2)),
    "config": mostly(st.dictionaries(st.text(max_size=5), values, max_size=3)),
    "metadata": mostly(st.dictionaries(st.text(max_size=5), values, max_size=3)),
    "key_alias": mostly(st.text(min_size=1, max_size=10)),
    "max_budget": mostly(st.decimals(0, 1000, allow_nan=False, places=6).map(float))})


def dumps(value: Any) -> bytes:
    """JSON as any client might write it: big integers, NaN and Infinity included."""
    return json.dumps(value, default=str).encode()


def no_routing_field(value: Any) -> bool:
    if isinstance(value, dict):
        return all(k not in FORBIDDEN and ((k in SCHEMA_HOLDERS and isinstance(v, dict))
                                           or no_routing_field(v)) for k, v in value.items())
    return all(no_routing_field(v) for v in value) if isinstance(value, list) else True


@fuzz(300)
@given(call=calls)
def test_validate_answers_400_or_a_call_for_any_json(call: tuple[Any, Any]) -> None:
    check_validate(*call)


def check_validate(endpoint: Any, body: Any) -> None:
    try:
        call = validate(endpoint, body, 100)
    except InvalidRequest as err:
        assert err.status == 400 and err.message
        orjson.dumps(err.body())  # renderable as it is
        return
    assert isinstance(call, CallRequest) and call.body is body
    assert isinstance(call.model, str) and no_routing_field(body)
    assert call.max_tokens is None or 1 <= call.max_tokens <= 128 * 1_000_000


@fuzz(300)
@given(body=values | admin_bodies, update=st.booleans())
def test_parse_fields_answers_400_or_typed_fields(body: Any, update: bool) -> None:
    try:  # as the HTTP edge delivers it: orjson reads a 2**70 as a float, refuses NaN
        body = orjson.loads(dumps(body))
    except (orjson.JSONDecodeError, RecursionError):
        return
    try:
        fields = parse_fields(body, required=("key",) if update else ())
    except InvalidRequest as err:
        assert err.status == 400 and err.message
        return
    assert set(fields) <= {*KEY_FIELDS, "duration_given"}
    assert all(isinstance(m, str) for m in fields.get("models", ()))
    orjson.dumps({k: fields[k] for k in ("config", "metadata") if k in fields})  # storable


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, OpenAIFake]]:
    with OpenAIFake("fuzzed") as fake, \
            served(gateway_config(fake.base_url), tmp_path_factory.mktemp("fuzz")) as (url, _), \
            httpx.Client(base_url=url, timeout=10) as client:
        yield client, fake


def state(client: httpx.Client, fake: OpenAIFake) -> tuple[int, int, int]:
    keys = client.get("/key/list", params={"size": 1000}, headers=MASTER).json()["keys"]
    logs = client.get("/spend/logs", params={"limit": 1000}, headers=MASTER).json()["logs"]
    return len(keys), len(logs), len(fake.requests)


def check_llm_call(client: httpx.Client, fake: OpenAIFake, path: str,
                   content_type: str | None, body: bytes) -> None:
    before = state(client, fake)
    headers = {**MASTER, **({"Content-Type": content_type} if content_type is not None else {})}
    r = client.post(path, content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert set(r.json()) == {"error"}
        assert state(client, fake) == before


content_types = st.sampled_from([None, "application/json", "", "text/plain",
                                 "application/x-www-form-urlencoded", "application/x+json",
                                 "multipart/form-data; boundary=-----", "application/json; "
                                 "charset=latin-1", "application/json ; q=1"]) \
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
raw_calls = calls.map(lambda c: (c[0], dumps(c[1]))) | st.tuples(
    st.sampled_from(sorted(ROUTES)), st.binary(max_size=120))


@fuzz(100)
@given(call=raw_calls, content_type=content_types)
def test_the_http_edge_never_answers_5xx(site: Any, call: tuple[str, bytes],
                                         content_type: str | None) -> None:
    check_llm_call(*site, ROUTES[call[0]], content_type, call[1])


def check_admin(client: httpx.Client, fake: OpenAIFake, raw: bytes, update: bool) -> None:
    target = client.post("/key/generate", json={"key_alias": "target"}, headers=MASTER).json()
    info = client.get("/key/info", params={"key": target["key_id"]}, headers=MASTER).json()
    if update:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict):
            raw = dumps({**body, "key": target["key_id"]})
    before = state(client, fake)
    r = client.post("/key/update" if update else "/key/generate", content=raw,
                    headers={**MASTER, "Content-Type": "application/json"})
    assert r.status_code in (200, 400), (r.status_code, r.text)
    after = state(client, fake)
    if r.status_code == 400:
        assert after == before
        again = client.get("/key/info", params={"key": target["key_id"]}, headers=MASTER)
        assert again.json() == info
    else:
        assert after[0] == before[0] + (0 if update else 1)


@fuzz(60)
@given(body=admin_bodies | values, update=st.booleans())
def test_admin_bodies_are_200_or_400_and_a_400_stores_nothing(site: Any, body: Any,
                                                              update: bool) -> None:
    check_admin(*site, dumps(body), update)


def corpus(name: str) -> list[Any]:
    return list(orjson.loads((CORPUS / name).read_bytes()))


@pytest.mark.parametrize("entry", corpus("requests.json"), ids=lambda e: e["why"][:50])
def test_the_request_corpus_replays(site: Any, entry: dict[str, Any]) -> None:
    raw = entry["body"].encode("utf-8", "surrogatepass")
    check_llm_call(*site, ROUTES[entry["endpoint"]], entry.get("content_type"), raw)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    check_validate(entry["endpoint"], parsed)


@pytest.mark.parametrize("entry", corpus("admin.json"), ids=lambda e: e["why"][:50])
def test_the_admin_corpus_replays(site: Any, entry: dict[str, Any]) -> None:
    raw = entry["body"].encode()
    for update in (False, True):
        check_admin(*site, raw, update)
