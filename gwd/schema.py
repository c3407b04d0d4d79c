"""Validation of OpenAI request bodies (pure): what a client may send to each endpoint.

Top-level parameters are allow-listed per endpoint (as OpenAI does: an unknown
argument is a 400 naming it). Fields that would pick where or how gwd calls an
upstream (``api_base``, ``api_key``, ``base_url``, ...) are refused wherever
they appear in the body — except inside JSON Schemas a client sends as tool
parameters or a response format, which are data, not routing. Types are
checked strictly (a bool is not an int), with explicit caps on list sizes,
nesting depth and numbers. The result is a :class:`CallRequest`; the body
forwarded upstream is the client's own dict, untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .providers.base import Endpoint

MAX_MESSAGES = 10_000
MAX_INPUTS = 2048
MAX_N = 128
MAX_TOKENS_CAP = 1_000_000
MAX_DEPTH = 64
MAX_MODEL_LEN = 256
IMAGE_TOKEN_ALLOWANCE = 1600

FORBIDDEN = frozenset({
    "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "extra_headers",
    "user_config", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key",
    "aws_region_name", "vertex_project", "vertex_location", "vertex_credentials",
    "organization", "mock_response", "litellm_params", "headers", "api_type", "deployment_id",
})
SCHEMA_HOLDERS = ("parameters", "schema", "json_schema")

_SAMPLING = {"temperature", "top_p", "n", "stop", "max_tokens", "presence_penalty",
             "frequency_penalty", "logit_bias", "seed", "user", "stream", "stream_options",
             "logprobs", "top_k", "min_p", "repetition_penalty"}
ALLOWED: dict[Endpoint, frozenset[str]] = {
    "chat": frozenset(_SAMPLING | {
        "model", "messages", "max_completion_tokens", "top_logprobs", "response_format",
        "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "service_tier", "store", "metadata", "modalities", "audio", "prediction",
        "reasoning_effort", "web_search_options", "verbosity", "prompt_cache_key",
        "safety_identifier"}),
    "completions": frozenset(_SAMPLING | {"model", "prompt", "suffix", "best_of", "echo"}),
    "embeddings": frozenset({"model", "input", "encoding_format", "dimensions", "user"}),
}
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A validated call: the fields gwd itself needs, plus the body to forward."""

    endpoint: Endpoint
    model: str
    stream: bool
    body: dict[str, Any]
    max_tokens: int | None        # the client's output cap, if any
    prompt_bound: int             # an upper bound of the prompt's tokens


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and v == v and v not in (float("inf"), float("-inf")))


def _scan(value: Any, path: str, depth: int) -> int:
    """Refuse routing fields at any depth; return the number of image parts seen."""
    if depth > MAX_DEPTH:
        raise _bad(f"request body is nested more than {MAX_DEPTH} levels deep")
    images = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FORBIDDEN:
                raise _bad(f"'{key}' cannot be set by a client: where and how gwd calls a "
                           "provider is set by the operator's config", param=path + key)
            if key in SCHEMA_HOLDERS and isinstance(item, dict):
                _depth(item, depth + 1)
                continue
            if key == "type" and item in ("image_url", "input_image"):
                images += 1
            images += _scan(item, f"{path}{key}.", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            images += _scan(item, f"{path}{i}.", depth + 1)
    return images


def _depth(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _bad(f"request body is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for item in value.values():
            _depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _depth(item, depth + 1)


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> None:
    if name in body and body[name] is not None:
        v = body[name]
        if not _is_num(v) or not low <= v <= high:
            raise _bad(f"'{name}' must be a number from {low:g} to {high:g}", param=name)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if not _is_int(v) or not low <= v <= high:
        raise _bad(f"'{name}' must be an integer from {low} to {high}", param=name)
    return int(v)


def _typed(body: Mapping[str, Any], name: str, kinds: tuple[type, ...], what: str) -> None:
    v = body.get(name)
    if v is not None and (not isinstance(v, kinds) or (bool not in kinds and isinstance(v, bool)
                                                       and int in kinds)):
        raise _bad(f"'{name}' must be {what}", param=name)


def _strings_or_tokens(value: Any, name: str, cap: int) -> None:
    """A string, a list of strings, a list of token ids, or a list of token-id lists."""
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise _bad(f"'{name}' must be a string or a non-empty list", param=name)
    if len(value) > cap:
        raise _bad(f"'{name}' has {len(value)} items; at most {cap} are accepted", param=name)
    if all(isinstance(v, str) for v in value) or all(_is_int(v) for v in value):
        return
    if all(isinstance(v, list) and v and all(_is_int(t) for t in v) for v in value):
        return
    raise _bad(f"'{name}' must be a string, a list of strings, or a list of token ids",
               param=name)


def _messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list of messages", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise _bad(f"'messages' has {len(messages)} items; at most {MAX_MESSAGES} are accepted",
                   param="messages")
    for i, m in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(m, dict):
            raise _bad(f"'{where}' must be an object with 'role' and 'content'", param=where)
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a dict is unhashable: not `in`
            raise _bad(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}",
                       param=f"{where}.role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise _bad(f"'{where}.content' must be a string or a list of content parts",
                       param=f"{where}.content")
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise _bad(f"'{where}.content' parts must be objects", param=f"{where}.content")
        if content is None and m.get("role") not in ("assistant", "function") \
                and "tool_calls" not in m:
            raise _bad(f"'{where}.content' is required", param=f"{where}.content")


def validate(endpoint: Endpoint, body: Any, raw_size: int) -> CallRequest:
    """Check a parsed JSON body for ``endpoint``; raises :class:`InvalidRequest`."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    unknown = [k for k in body if k not in ALLOWED[endpoint]]
    for key in unknown:
        if key in FORBIDDEN:
            _scan({key: None}, "", 0)
    if unknown:
        raise _bad(f"unrecognized request argument supplied: {unknown[0][:64]}",
                   param=unknown[0][:64])
    images = _scan(body, "", 0)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", param="model")
    if len(model) > MAX_MODEL_LEN or any(ord(c) < 32 or c == "\x7f" for c in model):
        raise _bad("'model' is not a valid model name", param="model")
    _typed(body, "stream", (bool,), "true or false")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not isinstance(
            options.get("include_usage", False), bool)):
        raise _bad("'stream_options' must be an object like {\"include_usage\": true}",
                   param="stream_options")
    _typed(body, "user", (str,), "a string")
    if endpoint == "embeddings":
        if "input" not in body:
            raise _bad("'input' is required", param="input")
        _strings_or_tokens(body["input"], "input", MAX_INPUTS)
        if body.get("encoding_format") not in (None, "float", "base64"):
            raise _bad("'encoding_format' must be \"float\" or \"base64\"",
                       param="encoding_format")
        _integer(body, "dimensions", 1, 65536)
        return CallRequest(endpoint, model, False, body, None, raw_size)
    if endpoint == "chat":
        _messages(body.get("messages"))
        _typed(body, "tools", (list,), "a list of tools")
        _typed(body, "tool_choice", (str, dict), "a string or an object")
        _typed(body, "response_format", (dict,), "an object")
        _typed(body, "parallel_tool_calls", (bool,), "true or false")
        _integer(body, "top_logprobs", 0, 20)
    else:
        if "prompt" not in body:
            raise _bad("'prompt' is required", param="prompt")
        _strings_or_tokens(body["prompt"], "prompt", MAX_INPUTS)
        _typed(body, "suffix", (str,), "a string")
        _typed(body, "echo", (bool,), "true or false")
        _integer(body, "best_of", 1, 20)
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _integer(body, "n", 1, MAX_N)
    _integer(body, "seed", -(2**63), 2**63 - 1)
    _integer(body, "top_k", 0, 1_000_000)
    _number(body, "min_p", 0, 1)
    _number(body, "repetition_penalty", 0, 100)
    _typed(body, "logit_bias", (dict,), "an object")
    if endpoint == "chat":
        _typed(body, "logprobs", (bool,), "true or false")
    else:
        _integer(body, "logprobs", 0, 5)
    stop = body.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and len(stop) <= 16 and all(isinstance(s, str) for s in stop))):
        raise _bad("'stop' must be a string or a list of up to 16 strings", param="stop")
    max_tokens = _integer(body, "max_tokens", 1, MAX_TOKENS_CAP)
    mct = _integer(body, "max_completion_tokens", 1, MAX_TOKENS_CAP)
    cap = mct if mct is not None else max_tokens
    n = body.get("n") or 1
    if cap is not None:
        cap *= n
    return CallRequest(endpoint, model, stream, body, cap,
                       raw_size + images * IMAGE_TOKEN_ALLOWANCE)
