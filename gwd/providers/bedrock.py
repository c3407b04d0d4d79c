"""``bedrock/``: OpenAI chat and completions <-> Amazon Bedrock's Converse API.

Calls go to ``{endpoint}/model/{model id}/converse`` (streamed: ``/converse-stream``, AWS
event-stream binary framing, decoded by ``gwd/eventstream.py``), signed with SigV4 by
botocore (``aws_auth.py``: credentials, region). The endpoint is ``api_base``, else
``aws_bedrock_runtime_endpoint``, else ``https://bedrock-runtime.{region}.amazonaws.com``.
The model id is the part after ``bedrock/`` (LiteLLM's ``converse/`` route prefix
dropped), URL-encoded whole, so inference-profile ids and ARNs work as they are.

The translation, both ways:

* system/developer messages -> ``system`` text blocks; consecutive messages of one role
  are merged (Converse wants them alternating); assistant ``tool_calls`` -> ``toolUse``
  blocks, ``tool`` messages -> user ``toolResult`` blocks; ``image_url`` parts must be
  ``data:`` URLs (Converse takes the bytes; gw fetches nothing): others are a 400.
* ``max_completion_tokens``/``max_tokens``, ``temperature``, ``top_p``, ``stop`` ->
  ``inferenceConfig``; ``tools`` -> ``toolConfig.tools[].toolSpec``; ``tool_choice``
  auto/required/named -> ``auto``/``any``/``tool`` (none: no toolChoice: Converse has none).
* Answers: text blocks -> ``content``; ``toolUse`` -> ``tool_calls``; reasoning blocks
  are dropped. Stop reasons end_turn/stop_sequence -> stop, max_tokens -> length,
  tool_use -> tool_calls, guardrail_intervened/content_filtered -> content_filter.
* Usage: prompt = ``inputTokens`` + cache read/write tokens; completion = ``outputTokens``.
  In a stream, ``messageStop`` ends the answer and the ``metadata`` event after it
  carries the usage.

Embeddings are not served (Bedrock embeds through InvokeModel, not Converse).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from ..config import Deployment
from ..errors import InvalidRequest, UpstreamError
from ..memo import IdentityMemo
from . import aws_auth
from .base import (
    BadUpstreamResponse,
    Completion,
    Endpoint,
    Json,
    Provider,
    StreamTranslator,
    UpstreamRequest,
    Usage,
    content_items,
    content_text,
    dumps,
    estimated_usage,
    extract_error_message,
    loads_object,
    new_id,
    prompt_text,
)
from .openai import wants_usage

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "guardrail_intervened": "content_filter",
                "content_filtered": "content_filter"}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                 "image/gif": "gif", "image/webp": "webp"}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def finish_reason(reason: Any) -> str:
    return STOP_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def usage_of(usage: Any) -> Usage | None:
    if not isinstance(usage, Mapping):
        return None
    prompt, output = _count(usage.get("inputTokens")), _count(usage.get("outputTokens"))
    if prompt is None or output is None:
        return None
    cached = sum(_count(usage.get(k)) or 0
                 for k in ("cacheReadInputTokens", "cacheWriteInputTokens"))
    return Usage(prompt + cached, output)


# ------------------------------------------------------------------ request building

def image_block(url: str) -> Json:
    header, sep, data = url[5:].partition(",") if url.startswith("data:") else ("", "", "")
    mime, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or mime not in IMAGE_FORMATS:
        raise InvalidRequest("bedrock/ models take images as data: URLs (base64 png, jpeg, "
                             "gif or webp); gw does not fetch image URLs",
                             param="messages")
    return {"image": {"format": IMAGE_FORMATS[mime], "source": {"bytes": data}}}


def content_blocks(content: Any) -> list[Json]:
    return [{"text": value} if kind == "text" else
            image_block(value if isinstance(value, str) else "")
            for kind, value in content_items(content)]


def tool_use_block(call: Mapping[str, Any]) -> Json:
    function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
    raw = function.get("arguments")
    try:
        arguments = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        arguments = {}
    return {"toolUse": {"toolUseId": str(call.get("id") or new_id("chat")),
                        "name": str(function.get("name") or ""),
                        "input": arguments if isinstance(arguments, dict) else {}}}


def convert_messages(messages: Any) -> tuple[list[Json], list[Json]]:
    """OpenAI messages -> (system blocks, alternating Converse messages)."""
    system: list[Json] = []
    out: list[Json] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            if text:
                system.append({"text": text})
            continue
        if role == "tool":
            role, blocks = "user", [{"toolResult": {
                "toolUseId": str(message.get("tool_call_id") or ""),
                "content": [{"text": content_text(message.get("content"))}]}}]
        elif role == "assistant":
            blocks = content_blocks(message.get("content"))
            blocks += [tool_use_block(c) for c in message.get("tool_calls") or ()
                       if isinstance(c, Mapping)]
        else:
            role, blocks = "user", content_blocks(message.get("content"))
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def tool_config(body: Mapping[str, Any]) -> Json | None:
    tools: list[Json] = []
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        spec: Json = {"name": function["name"], "inputSchema": {
            "json": function.get("parameters") or {"type": "object", "properties": {}}}}
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
    if not tools:
        return None
    config: Json = {"tools": tools}
    choice = body.get("tool_choice")
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and function.get("name"):
            config["toolChoice"] = {"tool": {"name": function["name"]}}
    return config


def converse_body(endpoint: Endpoint, body: Mapping[str, Any]) -> Json:
    if endpoint == "chat":
        system, messages = convert_messages(body.get("messages"))
    else:
        system, messages = [], [{"role": "user",
                                 "content": [{"text": prompt_text(endpoint, body)}]}]
    out: Json = {"messages": messages}
    if system:
        out["system"] = system
    inference: Json = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if _count(limit):
        inference["maxTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if isinstance(body.get(ours), (int, float)) and not isinstance(body[ours], bool):
            inference[theirs] = body[ours]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        inference["stopSequences"] = stops
    if inference:
        out["inferenceConfig"] = inference
    if endpoint == "chat":
        config = tool_config(body)
        if config is not None:
            out["toolConfig"] = config
    return out


# ------------------------------------------------------------------ answers

def parse_converse(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                   data: Json) -> Completion:
    output = data.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        raise BadUpstreamResponse("upstream answer has no output message")
    texts: list[str] = []
    calls: list[Json] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        use = block.get("toolUse")
        if isinstance(use, Mapping):
            calls.append({"id": str(use.get("toolUseId") or ""), "type": "function",
                          "function": {"name": str(use.get("name") or ""),
                                       "arguments": orjson.dumps(use.get("input") or {}
                                                                 ).decode()}})
    text = "".join(texts)
    counted = text + "".join(c["function"]["arguments"] for c in calls)
    usage = usage_of(data.get("usage")) or estimated_usage(endpoint, body, counted)
    finish = finish_reason(data.get("stopReason"))
    if endpoint == "chat":
        reply: Json = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            reply["tool_calls"] = calls
        choice: Json = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    return Completion({"id": new_id(endpoint), "object": "chat.completion"
                       if endpoint == "chat" else "text_completion",
                       "created": int(time.time()), "model": dep.model, "choices": [choice],
                       "usage": usage.as_openai()}, usage)


class BedrockTranslator(StreamTranslator):
    """ConverseStream events (decoded event-stream messages) -> OpenAI chunks."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)
        self.tool_index: dict[int, int] = {}   # contentBlockIndex -> OpenAI tool index

    def out(self, delta: Json, finish: str | None = None) -> list[Json]:
        if self.endpoint == "chat":
            return [self.chat_chunk(delta, finish)]
        text = delta.get("content")
        return [self.text_chunk(text or "", finish)] if text or finish else []

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        try:
            message = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(message, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        if event is not None and event.startswith("exception:"):
            raise BadUpstreamResponse(f"upstream reported {event[len('exception:'):]} "
                                      f"mid-stream: {message.get('message') or 'unknown'}")
        if event == "messageStart":
            return self.out({"role": "assistant", "content": ""}) \
                if self.endpoint == "chat" else []
        if event == "contentBlockStart":
            start = message.get("start")
            use = start.get("toolUse") if isinstance(start, Mapping) else None
            index = message.get("contentBlockIndex")
            if not isinstance(use, Mapping) or self.endpoint != "chat" \
                    or not isinstance(index, int):
                return []
            position = self.tool_index.setdefault(index, len(self.tool_index))
            return self.out({"tool_calls": [{
                "index": position, "id": str(use.get("toolUseId") or ""), "type": "function",
                "function": {"name": str(use.get("name") or ""), "arguments": ""}}]})
        if event == "contentBlockDelta":
            return self.on_delta(message)
        if event == "messageStop":
            self.done = True
            return self.out({}, finish_reason(message.get("stopReason")))
        if event == "metadata":
            self.reported = usage_of(message.get("usage")) or self.reported
        return []   # contentBlockStop, unknown events

    def on_delta(self, message: Json) -> list[Json]:
        delta = message.get("delta")
        if not isinstance(delta, Mapping):
            raise BadUpstreamResponse("upstream sent a contentBlockDelta without a delta")
        if isinstance(delta.get("text"), str) and delta["text"]:
            self.text_parts.append(delta["text"])
            return self.out({"content": delta["text"]})
        use = delta.get("toolUse")
        index = message.get("contentBlockIndex")
        if isinstance(use, Mapping) and isinstance(use.get("input"), str) and use["input"] \
                and isinstance(index, int) and index in self.tool_index:
            self.text_parts.append(use["input"])
            return self.out({"tool_calls": [{"index": self.tool_index[index],
                                             "function": {"arguments": use["input"]}}]})
        return []   # reasoning deltas have no OpenAI equivalent

    def finish(self) -> list[Json]:
        return [self.usage_chunk()] if self.client_wants_usage else []


class BedrockProvider(Provider):
    name = "bedrock"

    def __init__(self) -> None:
        self._credentials: IdentityMemo[Deployment, aws_auth.AWSCredentials] = IdentityMemo()

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in ("chat", "completions")

    def model_id(self, dep: Deployment) -> str:
        model = dep.model
        return model[len("converse/"):] if model.startswith("converse/") else model

    def endpoint(self, dep: Deployment, region: str) -> str:
        override = dep.api_base or dep.extra.get("aws_bedrock_runtime_endpoint")
        if isinstance(override, str) and override:
            return override.rstrip("/")
        return f"https://bedrock-runtime.{region}.amazonaws.com"

    def credentials(self, dep: Deployment) -> aws_auth.AWSCredentials:
        creds = self._credentials.get(dep)
        if creds is None:
            creds = self._credentials.put(dep, aws_auth.credentials_of(dep.extra))
        return creds

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        if not self.supports(endpoint):
            raise InvalidRequest("bedrock/ models do not support embeddings")
        region = aws_auth.region_of(dep.extra)
        action = "converse-stream" if stream else "converse"
        url = f"{self.endpoint(dep, region)}/model/{quote(self.model_id(dep), safe='')}/{action}"
        payload = dumps(converse_body(endpoint, body))
        headers = {"Content-Type": "application/json",
                   "Accept": "application/vnd.amazon.eventstream" if stream
                   else "application/json"}
        try:
            signed = aws_auth.sign(self.credentials(dep), region, "bedrock", "POST", url,
                                   headers, payload)
        except aws_auth.AWSAuthError as exc:
            raise UpstreamError(f"deployment {dep.id}: {exc}",
                                code="upstream_auth_error") from None
        return UpstreamRequest(url, signed, payload,
                               "aws-eventstream" if stream else "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        return parse_converse(dep, endpoint, body, loads_object(payload))

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return BedrockTranslator(endpoint, body, dep.model)

    def error_message(self, status: int, payload: bytes) -> str:
        """Bedrock's errors are ``{"message": ...}`` (``Message`` from some front ends)."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            payload = orjson.dumps({"message": data["Message"]})
        return extract_error_message(status, payload)
