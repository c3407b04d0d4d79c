"""Catalogue (a), bad input: A1–A25 -> a 4xx in OpenAI's envelope, nothing stored,
nothing forwarded, nothing leaked.

"Nothing stored, nothing forwarded" is asserted with :meth:`Gateway.snapshot`: the
key count, the ledger rows (after a flush) and the fake upstream's request count are
unchanged. Every refusal is also checked for the master and provider keys.

Where each ID is tested:

- here: A1, A2, A4, A5, A8, A9, A10, A11 (on /key/update), A12, A13, A15, A16, A21,
  A22, A24, A25;
- tests/catalogue/test_bad_input_wire.py (raw sockets, a real gwd where memory or
  CPU is measured): A3, A6 (lying Content-Length, chunked, peak RSS), A7, A14, A18, A20;
- tests/catalogue/test_auth_timing.py: A17 (key formats, SQL payloads timed on both
  backends); tests/catalogue/test_auth_routes.py: A19 (405/404 for every route of
  the inventory), A23 (Host header);
- elsewhere, exactly: A6 tests/e2e/test_http_edge.py::test_body_over_the_limit_is_413;
  A11 on /key/generate tests/e2e/test_keys.py::test_bad_durations_are_400_and_store_nothing
  (the catalogue's whole list, plus non-strings) and tests/unit/test_durations.py; A19
  tests/e2e/test_http_edge.py::test_unknown_route_is_404_and_wrong_method_405.

Where gw differs from the catalogue, on purpose:

- A1 duplicate keys: accepted, the last one wins (RFC 8259 leaves it open; the OpenAI
  API and LiteLLM accept them). What gwd checks and what it forwards are the same
  parsed object, re-encoded, so gwd and the upstream cannot disagree about which
  value counted: ``test_A1_duplicate_keys_last_wins_for_the_check_and_the_upstream``.
- A3 no Content-Type: read as JSON (docs/operations.md: ``curl -d`` sends no JSON
  type), so a valid body works and a bad one is 400; other types are 415.
- A15/A16 an unknown model is 400 ``model_not_found`` (SPEC §3), not 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes import AnthropicFake, OpenAIFake
from tests.support.gateway import HI, MASTER, Gateway, bearer, gateway
from tests.support.gwd import MASTER_KEY
from tests.support.inproc import app_client

CHAT = "/v1/chat/completions"
VALID: dict[str, dict[str, Any]] = {
    CHAT: {"model": "cheap", "messages": HI},
    "/v1/completions": {"model": "cheap", "prompt": "x"},
    "/v1/embeddings": {"model": "cheap", "input": "x"},
}


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    async with gateway(tmp_path) as g:
        yield g


async def refused_untouched(gw: Gateway, path: str, raw: bytes, status: int = 400,
                            content_type: str | None = "application/json",
                            **expect: str) -> dict[str, Any]:
    before = await gw.snapshot()
    err = await gw.refused(await gw.post_raw(path, raw, content_type=content_type),
                           status, **expect)
    assert await gw.snapshot() == before
    return err


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "cheap", "messages": HI, **fields}


@pytest.mark.parametrize("raw", [b"{", b'{"model": "cheap",}', b'{"model": NaN}',
                                 b'{"model": "cheap", "temperature": Infinity}',
                                 b'\xef\xbb\xbf{"model": "cheap"}', b"{'model': 'cheap'}"],
                         ids=["truncated", "trailing-comma", "NaN", "Infinity", "BOM",
                              "single-quotes"])
async def test_A1_malformed_json_is_400_and_nothing_reaches_the_upstream(
        gw: Gateway, raw: bytes) -> None:
    err = await refused_untouched(gw, CHAT, raw)
    assert err["type"] == "invalid_request_error"


async def test_A1_duplicate_keys_last_wins_for_the_check_and_the_upstream(gw: Gateway) -> None:
    key = (await gw.generate(models=["cheap"]))["key"]
    twice = b'{"model": "cheap", "model": "expensive", "messages": [{"role": "user", ' \
            b'"content": "hi"}]}'
    r = await gw.client.post(CHAT, data=twice, headers={**bearer(key),
                                                        "Content-Type": "application/json"})
    await gw.refused(r, 403, "model_not_allowed")
    assert gw.fake.requests == []
    swapped = twice.replace(b'"cheap", "model": "expensive"', b'"expensive", "model": "cheap"')
    r = await gw.client.post(CHAT, data=swapped, headers={**bearer(key),
                                                          "Content-Type": "application/json"})
    assert r.status == 200
    assert [q.json["model"] for q in gw.fake.requests] == ["cheap-up"]
    assert gw.fake.requests[0].body.count(b'"model"') == 1


@pytest.mark.parametrize("path", [CHAT, "/v1/completions", "/v1/embeddings", "/key/generate",
                                  "/key/update", "/key/delete"])
async def test_A2_top_level_must_be_an_object(gw: Gateway, path: str) -> None:
    for raw in (b"[]", b'[{"model": "cheap"}]', b'"cheap"', b"null", b"42", b"true", b"",
                b" \r\n "):
        await refused_untouched(gw, path, raw)


@pytest.mark.parametrize("path, fields, param", [
    (CHAT, {"model": 123}, "model"), (CHAT, {"messages": "hi"}, "messages"),
    (CHAT, {"max_tokens": "10"}, "max_tokens"), (CHAT, {"max_tokens": True}, "max_tokens"),
    (CHAT, {"stream": "yes"}, "stream"), (CHAT, {"temperature": "hot"}, "temperature"),
    (CHAT, {"n": 1.5}, "n"), (CHAT, {"user": 7}, "user"),
    ("/v1/embeddings", {"input": {}}, "input"), ("/v1/embeddings", {"input": [1, "a"]}, "input"),
    ("/v1/completions", {"prompt": {"text": "x"}}, "prompt"),
], ids=lambda v: str(v)[:40])
async def test_A4_wrong_types_are_400_naming_the_param(gw: Gateway, path: str,
                                                       fields: dict[str, Any],
                                                       param: str) -> None:
    await refused_untouched(gw, path, orjson.dumps(VALID[path] | fields), param=param)


@pytest.mark.parametrize("path, data, param", [
    (CHAT, {"messages": HI}, "model"), (CHAT, {"model": "cheap"}, "messages"),
    ("/v1/completions", {"model": "cheap"}, "prompt"),
    ("/v1/completions", {"prompt": "x"}, "model"),
    ("/v1/embeddings", {"model": "cheap"}, "input"), ("/v1/embeddings", {"input": "x"}, "model"),
    ("/key/update", {"key_alias": "x"}, "key"), ("/key/delete", {}, "keys"),
])
async def test_A5_missing_required_fields_per_endpoint(gw: Gateway, path: str,
                                                       data: dict[str, Any],
                                                       param: str) -> None:
    await refused_untouched(gw, path, orjson.dumps(data), param=param)


@pytest.mark.parametrize("depth", [100, 100_000], ids=["past-gwd-cap", "past-the-parser"])
async def test_A8_deep_nesting_is_400_not_a_recursion_error(gw: Gateway, depth: int) -> None:
    deep = b"[" * depth + b"]" * depth
    raw = b'{"model": "cheap", "messages": [{"role": "user", "content": "x"}], ' \
          b'"metadata": {"d": ' + deep + b"}}"
    await refused_untouched(gw, CHAT, raw)
    admin = b'{"metadata": {"d": ' + deep + b"}}"
    await refused_untouched(gw, "/key/generate", admin)


async def test_A9_control_characters_surrogates_and_bad_utf8_are_400(gw: Gateway) -> None:
    await refused_untouched(gw, CHAT, orjson.dumps(body(model="cheap\u0000")), param="model")
    await refused_untouched(gw, "/key/generate", orjson.dumps({"key_alias": "a\u0000b"}),
                            param="key_alias")
    await refused_untouched(gw, "/key/generate", orjson.dumps({"aliases": {"a\nb": "cheap"}}),
                            param="aliases")
    for raw in (b'{"model": "cheap", "messages": [{"role": "user", "content": "\\ud800"}]}',
                b'{"model": "cheap", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
                b'{"key_alias": "\\udc00x"}'):
        await refused_untouched(gw, CHAT if b"messages" in raw else "/key/generate", raw)


async def test_A9_valid_unicode_round_trips_byte_exact_and_the_access_log_survives(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, text = "модель-😀-\u202egnp.exe", "emoji 😀, RTL \u202eabc\u202c, CJK 漢字, e\u0301"
    async with gateway(tmp_path, access_log=True) as gw:
        made = await gw.generate(key_alias=name, metadata={name: text}, aliases={name: "cheap"})
        r = await gw.client.get("/key/info", params={"key": made["key"]}, headers=MASTER)
        info = (await r.json())["info"]
        assert (info["key_alias"], info["metadata"], info["aliases"]) == \
            (name, {name: text}, {name: "cheap"})
        r = await gw.chat(made["key"], name, messages=[{"role": "user", "content": text}])
        assert r.status == 200
        sent = gw.fake.requests[-1]
        assert sent.json["messages"][0]["content"] == text
        assert sent.json["model"] == "cheap-up"
    lines = [orjson.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert [x["status"] for x in lines] == [200, 200, 200]
    assert lines[0]["key_alias"] is None and lines[2]["key_alias"] == name


@pytest.mark.parametrize("raw", [b"-1", b"0", b"18446744073709551616", b"1e308", b"1.5",
                                 b"true", b'"10"'])
async def test_A10_out_of_range_max_tokens_is_400(gw: Gateway, raw: bytes) -> None:
    data = b'{"model": "cheap", "messages": [{"role": "user", "content": "x"}], ' \
           b'"max_tokens": ' + raw + b"}"
    err = await refused_untouched(gw, CHAT, data)
    assert err["param"] in ("max_tokens", None)  # None: the parser refused the number itself


@pytest.mark.parametrize("raw", [b"-5", b"NaN", b"1e309", b"-0.000001", b'"lots"', b"true",
                                 b"1000000001", b"[]"])
async def test_A10_bad_max_budget_is_400_and_stores_nothing(gw: Gateway, raw: bytes) -> None:
    err = await refused_untouched(gw, "/key/generate", b'{"max_budget": ' + raw + b"}")
    assert err["param"] in ("max_budget", None)


async def test_A11_bad_durations_on_update_are_400_and_change_nothing(gw: Gateway) -> None:
    made = await gw.generate(duration="1h")
    before = await gw.snapshot()
    for duration in ("-5m", "0s", "99999999d", "1x", "banana", "", " 5m", "5M", "1e3s",
                     "5m5m", "５m", "1h ", "NaNs", 30, True, [], {}):
        r = await gw.client.post("/key/update", json={"key": made["key"], "duration": duration},
                                 headers=MASTER)
        err = await gw.refused(r, 400, param="duration")
        assert '"30s"' in err["message"]  # the accepted forms are named
    info = await (await gw.client.get("/key/info", params={"key": made["key_id"]},
                                      headers=MASTER)).json()
    assert info["info"]["expires"] == made["expires"]
    assert await gw.snapshot() == before


@pytest.mark.parametrize("fields", [
    {"duration": "3651d"}, {"duration": "999999999999d"}, {"duration": "9999999999999s"},
    {"duration": "-1s"}, {"duration": "0s"}, {"expires": "10000-01-01T00:00:00Z"},
    {"expires": "2000-01-01T00:00:00Z"},
], ids=lambda f: str(f))
async def test_A12_expiry_past_ten_years_or_in_the_past_is_400(gw: Gateway,
                                                               fields: dict[str, Any]) -> None:
    await refused_untouched(gw, "/key/generate", orjson.dumps(fields),
                            param=next(iter(fields)))
    made = await gw.generate(duration="1h")
    before = await gw.snapshot()
    r = await gw.client.post("/key/update", json={"key": made["key_id"], **fields},
                             headers=MASTER)
    await gw.refused(r, 400, param=next(iter(fields)))
    r = await gw.client.get("/key/info", params={"key": made["key_id"]}, headers=MASTER)
    assert (await r.json())["info"]["expires"] == made["expires"]
    assert await gw.snapshot() == before


@pytest.mark.parametrize("field, value", [
    ("allowed_routes", ["/*"]), ("user_role", "proxy_admin"), ("api_base", "http://evil"),
    ("is_admin", True), ("spend", 5), ("token", "sk-chosen-by-the-caller-000000"),
    ("key_id", "key-0000000000000000"), ("team_id", "t"),
])
async def test_A13_B11_admin_bodies_are_strict_on_generate_and_update(gw: Gateway, field: str,
                                                                  value: Any) -> None:
    await refused_untouched(gw, "/key/generate", orjson.dumps({field: value}), param=field)
    made = await gw.generate(key_alias="before")
    before = await gw.snapshot()
    r = await gw.client.post("/key/update", headers=MASTER,
                             json={"key": made["key"], "key_alias": "after", field: value})
    await gw.refused(r, 400, param=field)
    info = await (await gw.client.get("/key/info", params={"key": made["key"]},
                                      headers=MASTER)).json()
    assert info["info"]["key_alias"] == "before"
    assert await gw.snapshot() == before


ROUTING = ["api_base", "base_url", "api_key", "api_version", "custom_llm_provider",
           "extra_headers", "user_config", "headers", "litellm_params", "organization"]


def _placements(field: str) -> list[dict[str, Any]]:
    evil = {field: "http://169.254.169.254/"}
    return [
        body(**evil),
        body(user_config={"api_base": "http://evil"}) if field == "user_config" else body(
            metadata={"deep": [{"x": evil}]}),
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "x", **evil}]}]),
        body(tools=[{"type": "function", "function": {"name": "f", **evil}}]),
    ]


@pytest.mark.parametrize("field", ROUTING)
async def test_A13_routing_fields_are_refused_at_any_depth(gw: Gateway, field: str) -> None:
    for placement in _placements(field):
        err = await refused_untouched(gw, CHAT, orjson.dumps(placement))
        assert err["param"] is not None and err["param"].split(".")[-1] == field


async def test_A13_known_openai_params_pass_through_untouched(gw: Gateway) -> None:
    params = {"temperature": 0.3, "top_p": 0.9, "seed": 7, "stop": ["\n\n"], "user": "u-1",
              "max_tokens": 5, "response_format": {"type": "json_schema", "json_schema": {
                  "name": "s", "schema": {"properties": {"api_key": {"type": "string"}}}}},
              "tools": [{"type": "function", "function": {"name": "login", "parameters": {
                  "type": "object", "properties": {"base_url": {"type": "string"}}}}}],
              "logit_bias": {"50256": -100}, "metadata": {"team": "ml"}}
    r = await gw.chat(MASTER_KEY, **params)
    assert r.status == 200, await r.text()
    (sent,) = gw.fake.requests
    assert {k: sent.json[k] for k in params} == params
    assert sent.path == "/v1/chat/completions" and sent.query == {}


@pytest.mark.parametrize("model", ["../x", "%2e%2e/", "gpt/../../admin", "..%2F..%2Fkey",
                                   "/v1/../key/generate", "cheap/../expensive", "http://x/"])
async def test_A15_path_traversal_in_model_names_is_model_not_found(gw: Gateway,
                                                                    model: str) -> None:
    await refused_untouched(gw, CHAT, orjson.dumps(body(model=model)), code="model_not_found")
    r = await gw.client.get("/key/info", params={"key": model}, headers=MASTER)
    await gw.refused(r, 404, "key_not_found")


@pytest.mark.parametrize("model", ["cheap?x=1", "cheap#frag", "che ap", " cheap", "cheap\n",
                                   "cheap\r\nX-Injected: 1", "x" * 10_240])
async def test_A16_odd_model_strings_are_400(gw: Gateway, model: str) -> None:
    await refused_untouched(gw, CHAT, orjson.dumps(body(model=model)))


async def test_A15_A16_an_odd_alias_never_reaches_the_upstream_url(gw: Gateway) -> None:
    names = ["../../key/generate", "a?b=c#d e", "%2F..%2F"]
    key = (await gw.generate(aliases=dict.fromkeys(names, "cheap")))["key"]
    for name in names:
        assert (await gw.chat(key, name)).status == 200
    assert [(q.path, q.query, q.json["model"]) for q in gw.fake.requests] == \
        [("/v1/chat/completions", {}, "cheap-up")] * len(names)


@pytest.mark.parametrize("path, data, param", [
    (CHAT, body(messages=[{"role": "user", "content": "x"}] * 100_000), "messages"),
    (CHAT, body(n=10_000), "n"),
    ("/v1/embeddings", {"model": "cheap", "input": ["x"] * 100_000}, "input"),
    ("/v1/completions", {"model": "cheap", "prompt": ["x"] * 100_000}, "prompt"),
    (CHAT, body(stop=["x"] * 17), "stop"),
], ids=["100k-messages", "n-10000", "100k-inputs", "100k-prompts", "17-stops"])
async def test_A21_list_sizes_have_explicit_caps(gw: Gateway, path: str, data: Any,
                                                 param: str) -> None:
    await refused_untouched(gw, path, orjson.dumps(data), param=param)


@pytest.mark.parametrize("options", ["yes", [], 1, {"include_usage": "yes"},
                                     {"include_usage": 1}])
async def test_A22_stream_with_bad_stream_options_is_400(gw: Gateway, options: Any) -> None:
    await refused_untouched(gw, CHAT, orjson.dumps(body(stream=True, stream_options=options)),
                            param="stream_options")


TEMPLATES = ["{{7*7}}", "{% import os %}{{ os.system('id') }}", "${7*7}", "#{7*7}",
             "__import__('os').system('id')", "{{config.__class__.__init__.__globals__}}",
             "%(master_key)s {0.__class__}"]


async def test_A24_template_and_eval_strings_are_forwarded_and_stored_verbatim(
        gw: Gateway) -> None:
    joined = " | ".join(TEMPLATES)
    made = await gw.generate(key_alias=TEMPLATES[0], metadata={t: t for t in TEMPLATES},
                             config={"prompt": joined}, aliases={TEMPLATES[2]: "cheap"})
    info = (await (await gw.client.get("/key/info", params={"key": made["key"]},
                                       headers=MASTER)).json())["info"]
    assert info["key_alias"] == TEMPLATES[0] and info["config"] == {"prompt": joined}
    assert info["metadata"] == {t: t for t in TEMPLATES}
    r = await gw.chat(made["key"], TEMPLATES[2], messages=[
        {"role": "system", "content": joined}, {"role": "user", "content": TEMPLATES[1]}],
        user=TEMPLATES[4])
    assert r.status == 200
    (sent,) = gw.fake.requests
    assert sent.json["messages"] == [{"role": "system", "content": joined},
                                     {"role": "user", "content": TEMPLATES[1]}]
    assert sent.json["user"] == TEMPLATES[4] and b"49" not in sent.body


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_A25_image_urls_are_passed_opaque_and_never_fetched(tmp_path: Path,
                                                                  provider: str) -> None:
    with OpenAIFake("bait") as bait, \
            (AnthropicFake("up") if provider == "anthropic" else OpenAIFake("up")) as up:
        urls = ["http://169.254.169.254/latest/meta-data/iam/", bait.base_url + "/image.png"]
        config = {"model_list": [{"model_name": "vision", "litellm_params": {
            "model": f"{provider}/vision-up", "api_base": up.base_url + (
                "/v1" if provider == "openai" else "")}}],
            "general_settings": {"master_key": MASTER_KEY}}
        async with app_client(config, tmp_path) as client:
            content = [{"type": "text", "text": "what is this?"}] + [
                {"type": "image_url", "image_url": {"url": u}} for u in urls]
            r = await client.post(CHAT, headers=MASTER, json={
                "model": "vision", "max_tokens": 10,
                "messages": [{"role": "user", "content": content}]})
            assert r.status == 200, await r.text()
        assert bait.requests == []
        (sent,) = up.requests
        if provider == "openai":
            assert sent.json["messages"][0]["content"] == content
        else:
            blocks = sent.json["messages"][0]["content"]
            assert [b["source"] for b in blocks if b["type"] == "image"] == \
                [{"type": "url", "url": u} for u in urls]
