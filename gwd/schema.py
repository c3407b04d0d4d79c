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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest
from .providers.base import Endpoint

if TYPE_CHECKING:
    from .doors.base import Door

MAX_MESSAGES = 10_000
MAX_INPUTS = 2048
MAX_N = 128
MAX_TOKENS_CAP = 1_000_000
MAX_DEPTH = 64
MAX_MODEL_LEN = 256
MAX_LOGIT_BIAS = 1024
IMAGE_TOKEN_ALLOWANCE = 1600

FORBIDDEN = frozenset({
    "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "extra_headers",
    "user_config", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key",
    "aws_region_name", "vertex_project", "vertex_location", "vertex_credentials",
    "organization", "litellm_params", "headers", "api_type", "deployment_id",
})
SCHEMA_HOLDERS = ("parameters", "schema", "json_schema")
IMAGE_TYPES = ("image_url", "input_image")
_CONTROL = re.compile("[\x00-\x1f\x7f]")

_SAMPLING = {"temperature", "top_p", "n", "stop", "max_tokens", "presence_penalty",
             "frequency_penalty", "logit_bias", "seed", "user", "stream", "stream_options",
             "logprobs", "top_k", "min_p", "repetition_penalty"}
ALLOWED: dict[Endpoint, frozenset[str]] = {
    "chat": frozenset(_SAMPLING | {
        "model", "messages", "max_completion_tokens", "top_logprobs", "response_format",
        "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "service_tier", "store", "metadata", "modalities", "audio", "prediction",
        "reasoning_effort", "web_search_options", "verbosity", "prompt_cache_key",
        "safety_identifier", "fallbacks", "mock_response", "num_retries", "timeout"}),
    "completions": frozenset(_SAMPLING | {"model", "prompt", "suffix", "best_of", "echo",
                                          "fallbacks", "mock_response", "num_retries",
                                          "timeout"}),
    "embeddings": frozenset({"model", "input", "encoding_format", "dimensions", "user",
                             "fallbacks", "num_retries", "timeout"}),
}  # fallbacks, mock_response, num_retries, timeout: LiteLLM's, taken out of the body by the
#   policy (gwd/call_options.py), never forwarded upstream
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True)  # not frozen: built on every call, and frozen costs ~1 µs
class CallRequest:
    """A validated call: the fields gwd itself needs, plus the body to forward."""

    endpoint: Endpoint
    model: str
    stream: bool
    body: dict[str, Any]
    max_tokens: int | None        # the client's output cap, if any
    prompt_bound: int             # an upper bound of the prompt's tokens
    door: Door | None = None      # the front door, when not OpenAI's (see gwd.doors)


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and v == v and v not in (float("inf"), float("-inf")))


def _scan(value: Any, depth: int) -> int:
    """Refuse routing fields at any depth; return the number of image parts seen.

    The hot path: no paths are built. On any refusal :func:`_locate` walks the body
    again, building paths, to say where."""
    if depth > MAX_DEPTH:
        raise _Refused
    images = 0
    if type(value) is dict:
        if not FORBIDDEN.isdisjoint(value) or (depth >= MAX_DEPTH and value):
            raise _Refused
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                if kind is dict and key in SCHEMA_HOLDERS:
                    _depth(item, depth + 1)
                else:
                    images += _scan(item, depth + 1)
            elif key == "type" and item in IMAGE_TYPES:
                images += 1
            elif kind is not str and kind is not int and kind is not float \
                    and kind is not bool and item is not None:
                images += _scan(item, depth + 1)  # a subclass: the general walk
    elif type(value) is list:
        if depth >= MAX_DEPTH and value:
            raise _Refused
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                images += _scan(item, depth + 1)
    elif isinstance(value, (dict, list)):  # subclasses (not from orjson): walk generally
        return _locate(value, "", depth)
    return images


class _Refused(Exception):
    """Raised by :func:`_scan` when the body must be refused (:func:`_locate` says why)."""


def _locate(value: Any, path: str, depth: int) -> int:
    """:func:`_scan`, slowly, building each field's path for the error message."""
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
            if key == "type" and item in IMAGE_TYPES:
                images += 1
            images += _locate(item, f"{path}{key}.", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            images += _locate(item, f"{path}{i}.", depth + 1)
    return images


def _images(body: dict[str, Any]) -> int:
    """The image parts in ``body``; raises :class:`InvalidRequest` naming a refused field."""
    try:
        return _scan(body, 0)
    except _Refused:
        return _locate(body, "", 0)


#: for the other front doors (gwd.doors): the same refusal of routing fields
scan_routing_fields = _images


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
        if not isinstance(m, dict):
            raise _bad(f"'messages.{i}' must be an object with 'role' and 'content'",
                       param=f"messages.{i}")
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a dict is unhashable: not `in`
            raise _bad(f"'messages.{i}.role' must be one of {', '.join(sorted(ROLES))}",
                       param=f"messages.{i}.role")
        content = m.get("content")
        if type(content) is str:
            continue
        where = f"messages.{i}.content"
        if content is not None and not isinstance(content, (str, list)):
            raise _bad(f"'{where}' must be a string or a list of content parts", param=where)
        if isinstance(content, list):
            _parts(content, where)
        if content is None and role not in ("assistant", "function") \
                and "tool_calls" not in m:
            raise _bad(f"'{where}' is required", param=where)


def _parts(parts: list[Any], where: str) -> None:
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _bad(f"'{where}' parts must be objects", param=where)
        if part.get("type") == "text" and not isinstance(part.get("text"), str):
            raise _bad(f"'{where}.{j}.text' is required in a text part and must be a string",
                       param=f"{where}.{j}.text")


def _logit_bias(body: Mapping[str, Any], name: str) -> None:
    """OpenAI's shape: token ids (as strings) to a bias from -100 to 100."""
    bias = body[name]
    if bias is None:
        return
    if not isinstance(bias, dict) or len(bias) > MAX_LOGIT_BIAS:
        raise _bad(f"'logit_bias' must be an object of at most {MAX_LOGIT_BIAS} token ids",
                   param=name)
    for token, value in bias.items():
        if not (token.isascii() and token.isdigit()) or not _is_num(value) or not -100 <= value <= 100:
            raise _bad("'logit_bias' must map token ids (digits) to numbers from -100 to "
                       f"100; got {token[:20]!r}", param=name)


def _no_empty_input(value: Any) -> None:
    if value == "" or (isinstance(value, list) and "" in value):
        raise _bad("'input' cannot be an empty string", param="input")


def validate(endpoint: Endpoint, body: Any, raw_size: int) -> CallRequest:
    """Check a parsed JSON body for ``endpoint``; raises :class:`InvalidRequest`."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    unknown = [k for k in body if k not in ALLOWED[endpoint]]
    for key in unknown:
        if key in FORBIDDEN:
            _locate({key: None}, "", 0)
    if unknown:
        raise _bad(f"unrecognized request argument supplied: {unknown[0][:64]}",
                   param=unknown[0][:64])
    images = _images(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", param="model")
    if len(model) > MAX_MODEL_LEN or _CONTROL.search(model):
        raise _bad("'model' is not a valid model name", param="model")
    checks = _CHECKS[endpoint]
    for key in body:  # only the fields present: most calls send few
        check = checks.get(key)
        if check is not None:
            check(body, key)
    stream = body.get("stream") is True
    if endpoint == "embeddings":
        if "input" not in body:
            raise _bad("'input' is required", param="input")
        _strings_or_tokens(body["input"], "input", MAX_INPUTS)
        _no_empty_input(body["input"])
        return CallRequest(endpoint, model, False, body, None, raw_size)
    if endpoint == "chat":
        _messages(body.get("messages"))
    else:
        if "prompt" not in body:
            raise _bad("'prompt' is required", param="prompt")
        _strings_or_tokens(body["prompt"], "prompt", MAX_INPUTS)
    mct = body.get("max_completion_tokens")
    cap = mct if mct is not None else body.get("max_tokens")  # both checked above
    if cap is not None:
        cap *= body.get("n") or 1
    return CallRequest(endpoint, model, stream, body, cap,
                       raw_size + images * IMAGE_TOKEN_ALLOWANCE)


Check = Callable[[Mapping[str, Any], str], None]


def _num(low: float, high: float) -> Check:
    return lambda body, name: _number(body, name, low, high)


def _int(low: int, high: int) -> Check:
    def check(body: Mapping[str, Any], name: str) -> None:
        _integer(body, name, low, high)
    return check


def _of(kinds: tuple[type, ...], what: str) -> Check:
    return lambda body, name: _typed(body, name, kinds, what)


def _stream_options(body: Mapping[str, Any], name: str) -> None:
    options = body[name]
    if options is not None and (not isinstance(options, dict) or not isinstance(
            options.get("include_usage", False), bool)):
        raise _bad("'stream_options' must be an object like {\"include_usage\": true}",
                   param=name)


def _stop(body: Mapping[str, Any], name: str) -> None:
    stop = body[name]
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and len(stop) <= 16 and all(isinstance(s, str) for s in stop))):
        raise _bad("'stop' must be a string or a list of up to 16 strings", param=name)


def _encoding_format(body: Mapping[str, Any], name: str) -> None:
    if body[name] not in (None, "float", "base64"):
        raise _bad("'encoding_format' must be \"float\" or \"base64\"", param=name)


_BOOL = _of((bool,), "true or false")
_COMMON: dict[str, Check] = {"stream": _BOOL, "stream_options": _stream_options,
                             "user": _of((str,), "a string")}
_SAMPLING_CHECKS: dict[str, Check] = {
    "temperature": _num(0, 2), "top_p": _num(0, 1), "presence_penalty": _num(-2, 2),
    "frequency_penalty": _num(-2, 2), "n": _int(1, MAX_N), "seed": _int(-(2**63), 2**63 - 1),
    "top_k": _int(0, 1_000_000), "min_p": _num(0, 1), "repetition_penalty": _num(0, 100),
    "logit_bias": _logit_bias, "stop": _stop,
    "max_tokens": _int(1, MAX_TOKENS_CAP), "max_completion_tokens": _int(1, MAX_TOKENS_CAP),
}
#: per endpoint, the optional fields whose type or range is checked (run when present)
_CHECKS: dict[Endpoint, dict[str, Check]] = {
    "chat": {**_COMMON, **_SAMPLING_CHECKS,
             "tools": _of((list,), "a list of tools"),
             "tool_choice": _of((str, dict), "a string or an object"),
             "response_format": _of((dict,), "an object"), "parallel_tool_calls": _BOOL,
             "top_logprobs": _int(0, 20), "logprobs": _BOOL},
    "completions": {**_COMMON, **_SAMPLING_CHECKS, "suffix": _of((str,), "a string"),
                    "echo": _BOOL, "best_of": _int(1, 20), "logprobs": _int(0, 5)},
    "embeddings": {**_COMMON, "encoding_format": _encoding_format,
                   "dimensions": _int(1, 65536)},
}
