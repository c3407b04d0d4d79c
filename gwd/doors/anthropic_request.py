"""The Anthropic Messages request: validation, and its translation to an OpenAI chat call.

Validation is what Anthropic itself checks first (``model``, ``max_tokens``,
alternating-role ``messages`` of strings or typed blocks, the sampling ranges),
plus gw's own rules: a routing field (``api_base``, ``api_key``, ...) is refused
wherever it appears, as on every door. Top-level fields gw does not know are not
refused: they are forwarded to ``anthropic/`` deployments (which judge them) and
dropped in translation.

Translation for OpenAI-format deployments (``to_chat``):

* ``system`` (a string or text blocks) -> one system message, and so does a
  message of role ``system`` (a beta Claude Code uses) where it stands;
* user text and image blocks -> content parts (a base64 source as a ``data:`` URL,
  a URL source as is); a ``document`` with a text source -> a text part; other
  documents cannot be expressed and are dropped;
* user ``tool_result`` blocks -> ``tool`` messages, placed before the rest of that
  user turn (OpenAI wants them right after the assistant's tool calls);
* assistant ``tool_use`` -> ``tool_calls``; ``thinking`` blocks are dropped;
* ``max_tokens``, ``temperature``, ``top_p``, ``stop_sequences`` -> ``stop``,
  ``metadata.user_id`` -> ``user``; custom ``tools`` -> functions (server tools such
  as web search have no OpenAI equivalent and are dropped); ``tool_choice``
  auto/any/tool/none -> auto/required/function/none, ``disable_parallel_tool_use``
  -> ``parallel_tool_calls: false``; ``top_k`` and ``thinking`` are dropped;
  ``cache_control`` marks are dropped (OpenAI caches by itself).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import InvalidRequest
from ..providers.base import Json
from ..schema import IMAGE_TOKEN_ALLOWANCE, MAX_MESSAGES, MAX_MODEL_LEN, MAX_TOKENS_CAP, \
    scan_routing_fields

#: "system" mid-conversation is a beta Claude Code uses (mid-conversation-system-2026-04-07)
ROLES = ("user", "assistant", "system")
MAX_HEADER_LEN = 512
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
            and v not in (float("inf"), float("-inf")))


def _blocks(content: Any, where: str) -> int:
    """Check a content value (a string or a list of typed blocks); count its images."""
    if isinstance(content, str):
        return 0
    if not isinstance(content, list):
        raise _bad(f"'{where}' must be a string or a list of content blocks", param=where)
    images = 0
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad(f"'{where}.{i}' must be an object with a 'type'", param=f"{where}.{i}")
        kind = block["type"]
        if kind == "text" and not isinstance(block.get("text"), str):
            raise _bad(f"'{where}.{i}.text' must be a string", param=f"{where}.{i}.text")
        if kind in ("image", "document"):
            images += 1
            if not isinstance(block.get("source"), dict):
                raise _bad(f"'{where}.{i}.source' must be an object",
                           param=f"{where}.{i}.source")
        if kind == "tool_result":
            images += _blocks(block.get("content", ""), f"{where}.{i}.content")
    return images


def validate_messages(body: Any) -> tuple[str, int | None, int]:
    """Check a Messages request; returns (model, max_tokens, image count).

    ``max_tokens`` is required by ``/v1/messages`` (None is allowed here only for
    count_tokens, which the caller says by not checking it)."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    images = scan_routing_fields(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", param="model")
    if len(model) > MAX_MODEL_LEN or _CONTROL.search(model):
        raise _bad("'model' is not a valid model name", param="model")
    limit = body.get("max_tokens")
    if limit is not None and (not _is_int(limit) or not 1 <= limit <= MAX_TOKENS_CAP):
        raise _bad(f"'max_tokens' must be an integer from 1 to {MAX_TOKENS_CAP}",
                   param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list of messages", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise _bad(f"'messages' has {len(messages)} items; at most {MAX_MESSAGES} are "
                   "accepted", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _bad(f"'messages.{i}.role' must be \"user\", \"assistant\" or \"system\"",
                       param=f"messages.{i}.role")
        if "content" not in message:
            raise _bad(f"'messages.{i}.content' is required", param=f"messages.{i}.content")
        images += _blocks(message["content"], f"messages.{i}.content")
    if "system" in body:
        _blocks(body["system"], "system")
    for name, low, high in (("temperature", 0, 1), ("top_p", 0, 1)):
        value = body.get(name)
        if value is not None and (not _is_num(value) or not low <= value <= high):
            raise _bad(f"'{name}' must be a number from {low} to {high}", param=name)
    if body.get("top_k") is not None and (not _is_int(body["top_k"]) or body["top_k"] < 0):
        raise _bad("'top_k' must be a non-negative integer", param="top_k")
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list)
                                  and all(isinstance(s, str) for s in stops)):
        raise _bad("'stop_sequences' must be a list of strings", param="stop_sequences")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad("'stream' must be true or false", param="stream")
    for name, kind, what in (("tools", list, "a list of tools"),
                             ("tool_choice", dict, "an object"),
                             ("metadata", dict, "an object"), ("thinking", dict, "an object")):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise _bad(f"'{name}' must be {what}", param=name)
    return model, limit, images


def prompt_bound(raw_size: int, images: int) -> int:
    """An upper bound of the prompt's tokens (as for chat: bytes, plus images)."""
    return raw_size + images * IMAGE_TOKEN_ALLOWANCE


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A client's ``anthropic-*`` header to pass on, or a 400 when it is unsafe."""
    value = headers.get(name)
    if value is None:
        return None
    if len(value) > MAX_HEADER_LEN or not _HEADER_VALUE.match(value):
        raise _bad(f"the '{name}' header is not a valid value")
    return value


# ------------------------------------------------------------------ translation

def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b["text"] for b in content
                       if isinstance(b, Mapping) and isinstance(b.get("text"), str))
    return ""


def _image_part(source: Mapping[str, Any]) -> Json | None:
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") if isinstance(source.get("media_type"), str) \
            else "image/png"
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,"
                                                          f"{source['data']}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return None


def _user_turn(content: list[Any]) -> list[Json]:
    """One user turn's blocks -> tool messages first, then one user message."""
    tools: list[Json] = []
    parts: list[Json] = []
    for block in content:
        kind = block.get("type")
        if kind == "tool_result":
            text = _text_of(block.get("content"))
            if block.get("is_error") is True and not text:
                text = "error"
            tools.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""),
                          "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            part = _image_part(block["source"])
            if part is not None:
                parts.append(part)
        elif kind == "document" and block["source"].get("type") == "text":
            parts.append({"type": "text", "text": str(block["source"].get("data") or "")})
    if parts:
        tools.append({"role": "user", "content": parts})
    return tools


def _assistant_turn(content: list[Any]) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id") or ""), "type": "function", "function": {
                "name": str(block.get("name") or ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    message: Json = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tools(tools: list[Any]) -> list[Json]:
    out = []
    for tool in tools:
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str) \
                or "input_schema" not in tool or tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, bash, ...): no OpenAI equivalent
        function: Json = {"name": tool["name"], "parameters": tool.get("input_schema")}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Mapping[str, Any]) -> Any:
    kind = choice.get("type")
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    return "auto"


def to_chat(body: Mapping[str, Any]) -> Json:
    """A validated Messages request -> the OpenAI chat body the call carries."""
    messages: list[Json] = []
    system = _text_of(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        content = message["content"]
        if message["role"] == "system":
            messages.append({"role": "system", "content": _text_of(content)})
        elif isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
        elif message["role"] == "assistant":
            messages.append(_assistant_turn(content))
        else:
            messages.extend(_user_turn(content))
    out: Json = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    tools = _tools(body.get("tools") or [])
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, Mapping):
            out["tool_choice"] = _tool_choice(choice)
            if choice.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out
