"""The Responses API <-> chat completions, for deployments that have no ``/responses``.

Only where the translation is faithful (:func:`untranslatable` says why not):
no ``previous_response_id``/``conversation``/``background``, only ``function``
tools, input items that are messages (text and image URLs), function calls and
their outputs, and no stream. Then:

* ``instructions`` -> a system message; ``input`` text -> one user message; message
  items keep their role (``developer`` -> system), ``input_text``/``output_text``
  parts -> text, ``input_image`` with an ``image_url`` -> an image part;
  ``function_call`` items -> the assistant's ``tool_calls``, ``function_call_output``
  -> ``tool`` messages;
* ``max_output_tokens`` -> ``max_tokens``; ``temperature``, ``top_p``, ``user``,
  ``parallel_tool_calls`` as they are; function tools and ``tool_choice`` to chat's
  shapes; ``text.format`` json_schema / json_object -> ``response_format``;
  ``reasoning.effort`` -> ``reasoning_effort``; ``store`` and ``metadata`` dropped.

The answer becomes a ``response`` object: the text as one ``message`` output item,
each tool call a ``function_call`` item; ``length`` -> status ``incomplete``
(``max_output_tokens``). Pure: no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..providers.base import Json, Usage, content_text, random_hex
from .anthropic_answer import cached_tokens

TEXT_PARTS = ("input_text", "output_text", "text")
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def untranslatable(body: Mapping[str, Any]) -> str | None:
    """Why ``body`` cannot be sent as a chat call (None: it can)."""
    for name in ("previous_response_id", "conversation", "prompt"):
        if body.get(name) is not None:
            return f"'{name}'"
    if body.get("background") is True:
        return "'background'"
    if body.get("stream") is True:
        return "streaming"
    for tool in body.get("tools") or ():
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else None
            return f"the '{kind}' tool"
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        kind = item.get("type", "message") if isinstance(item, Mapping) else None
        if kind not in ("message", "function_call", "function_call_output"):
            return f"input items of type '{kind}'"
        if kind == "message" and isinstance(item.get("content"), list):
            for part in item["content"]:
                ptype = part.get("type") if isinstance(part, Mapping) else None
                if ptype not in TEXT_PARTS and not (ptype == "input_image"
                                                    and isinstance(part.get("image_url"), str)):
                    return f"content parts of type '{ptype}'"
    return None


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts: list[Json] = []
    for part in content if isinstance(content, list) else ():
        if part.get("type") in TEXT_PARTS:
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        else:
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
    return parts


def _messages(body: Mapping[str, Any]) -> list[Json]:
    out: list[Json] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        out.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        return [*out, {"role": "user", "content": items}]
    for item in items or ():
        kind = item.get("type", "message")
        if kind == "function_call":
            call = {"id": str(item.get("call_id") or ""), "type": "function", "function": {
                "name": str(item.get("name") or ""),
                "arguments": str(item.get("arguments") or "")}}
            if out and out[-1]["role"] == "assistant" and "tool_calls" in out[-1]:
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""),
                        "content": output if isinstance(output, str) else content_text(output)})
        else:
            out.append({"role": ROLES.get(str(item.get("role")), "user"),
                        "content": _content(item.get("content"))})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice if choice in ("auto", "none", "required") else "auto"


def to_chat(body: Mapping[str, Any]) -> Json:
    """A translatable Responses request -> the OpenAI chat body the call carries."""
    out: Json = {"model": body["model"], "messages": _messages(body)}
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if body.get(name) is not None:
            out[name] = body[name]
    tools = [{"type": "function", "function": {
        k: t[k] for k in ("name", "description", "parameters", "strict") if k in t}}
        for t in body.get("tools") or ()]
    if tools:
        out["tools"] = tools
        if body.get("tool_choice") is not None:
            out["tool_choice"] = _tool_choice(body["tool_choice"])
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        out["reasoning_effort"] = reasoning["effort"]
    return out


def response_usage(usage: Usage, cached: int = 0) -> Json:
    cached = max(cached, usage.cached_tokens)
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": min(cached, usage.prompt_tokens)},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def response_from_chat(chat: Mapping[str, Any], usage: Usage,
                       request: Mapping[str, Any]) -> Json:
    """A chat completion -> a ``response`` object answering ``request``."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices \
        and isinstance(choices[0], Mapping) else {}
    message = choice.get("message") if isinstance(choice.get("message"), Mapping) else {}
    output: list[Json] = []
    text = content_text(message.get("content"))
    if text:
        output.append({"type": "message", "id": "msg_gw" + random_hex(24),
                       "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": text,
                                    "annotations": []}]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            output.append({"type": "function_call", "id": "fc_gw" + random_hex(24),
                           "call_id": str(call.get("id") or ""),
                           "name": str(function.get("name") or ""),
                           "arguments": str(function.get("arguments") or ""),
                           "status": "completed"})
    cut = choice.get("finish_reason") == "length"
    return {"id": "resp_gw" + random_hex(32), "object": "response",
            "created_at": int(time.time()), "status": "incomplete" if cut else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "model": request["model"], "output": output,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": None, "reasoning": None, "store": False,
            "temperature": request.get("temperature"), "top_p": request.get("top_p"),
            "text": request.get("text") or {"format": {"type": "text"}},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools") or [], "truncation": "disabled",
            "usage": response_usage(usage, cached_tokens(chat.get("usage"))),
            "user": request.get("user"), "metadata": request.get("metadata") or {}}
