"""Request validation: allow-listed params, strict types, routing fields refused anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from gwd.errors import InvalidRequest
from gwd.schema import IMAGE_TOKEN_ALLOWANCE, validate

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def bad(endpoint: str, body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        validate(endpoint, body, 100)  # type: ignore[arg-type]
    assert err.value.status == 400
    return err.value


def test_minimal_chat_is_valid() -> None:
    call = validate("chat", dict(CHAT), 50)
    assert (call.model, call.stream, call.max_tokens, call.prompt_bound) == ("m", False, None, 50)


@pytest.mark.parametrize("patch, param", [
    ({"model": 123}, "model"),
    ({"model": ""}, "model"),
    ({"model": "a\nb"}, "model"),
    ({"model": "x" * 300}, "model"),
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": {}, "content": "x"}]}, "messages.0.role"),  # unhashable: was a 500
    ({"messages": [{"role": ["user"], "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"messages": [{"role": "user"}]}, "messages.0.content"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": 2**64}, "max_tokens"),
    ({"max_tokens": 1e308}, "max_tokens"),
    ({"stream": "yes"}, "stream"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": 3}, "temperature"),
    ({"n": 10000}, "n"),
    ({"stop": 5}, "stop"),
    ({"stream_options": "usage"}, "stream_options"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options"),
    ({"tools": {}}, "tools"),
])
def test_wrong_types_name_the_param(patch: dict[str, Any], param: str) -> None:
    assert bad("chat", {**CHAT, **patch}).param == param


@pytest.mark.parametrize("body", [None, [], "x", 3, [CHAT]])
def test_top_level_must_be_an_object(body: Any) -> None:
    bad("chat", body)


@pytest.mark.parametrize("endpoint, body, param", [
    ("chat", {"messages": [{"role": "user", "content": "x"}]}, "model"),
    ("chat", {"model": "m"}, "messages"),
    ("completions", {"model": "m"}, "prompt"),
    ("embeddings", {"model": "m"}, "input"),
    ("embeddings", {"model": "m", "input": {}}, "input"),
    ("embeddings", {"model": "m", "input": ["x"] * 3000}, "input"),
    ("embeddings", {"model": "m", "input": "x", "encoding_format": "hex"}, "encoding_format"),
])
def test_missing_and_bad_fields_per_endpoint(endpoint: str, body: Any, param: str) -> None:
    assert bad(endpoint, body).param == param


@pytest.mark.parametrize("field", ["api_base", "base_url", "api_key", "api_version",
                                   "custom_llm_provider", "extra_headers", "user_config"])
def test_routing_fields_at_top_level_are_refused(field: str) -> None:
    err = bad("chat", {**CHAT, field: "http://evil.example"})
    assert "cannot be set by a client" in err.message


@pytest.mark.parametrize("body", [
    {**CHAT, "metadata": {"api_base": "http://evil"}},
    {**CHAT, "messages": [{"role": "user", "content": "x", "api_key": "k"}]},
    {**CHAT, "metadata": {"deep": [{"x": {"base_url": "http://evil"}}]}},
])
def test_routing_fields_nested_anywhere_are_refused(body: dict[str, Any]) -> None:
    assert "cannot be set by a client" in bad("chat", body).message


def test_json_schemas_in_tools_may_name_such_properties() -> None:
    tool = {"type": "function", "function": {"name": "login", "parameters": {
        "type": "object", "properties": {"api_key": {"type": "string"}}}}}
    validate("chat", {**CHAT, "tools": [tool]}, 10)


def test_unknown_params_are_refused_like_openai_does() -> None:
    err = bad("chat", {**CHAT, "frobnicate": 1})
    assert err.param == "frobnicate" and "unrecognized" in err.message


def test_depth_is_bounded() -> None:
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    bad("chat", {**CHAT, "metadata": {"d": deep}})


def test_max_tokens_times_n_is_the_output_cap() -> None:
    assert validate("chat", {**CHAT, "max_tokens": 10, "n": 3}, 10).max_tokens == 30
    assert validate("chat", {**CHAT, "max_completion_tokens": 7}, 10).max_tokens == 7


def test_images_raise_the_prompt_bound() -> None:
    msg = {"role": "user", "content": [{"type": "text", "text": "what"},
                                       {"type": "image_url", "image_url": {"url": "http://i"}}]}
    call = validate("chat", {**CHAT, "messages": [msg]}, 80)
    assert call.prompt_bound == 80 + IMAGE_TOKEN_ALLOWANCE


@pytest.mark.parametrize("prompt", ["x", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_completion_prompt_forms(prompt: Any) -> None:
    validate("completions", {"model": "m", "prompt": prompt}, 10)


def test_stream_flag() -> None:
    assert validate("chat", {**CHAT, "stream": True}, 10).stream is True
