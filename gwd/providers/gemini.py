"""``gemini/``: OpenAI chat, completions and embeddings <-> Google AI Studio's native API.

Calls go to ``{api_base}/v1beta/models/{model}:generateContent`` (streamed:
``:streamGenerateContent?alt=sse``, SSE with one ``GenerateContentResponse`` per event
and no end marker: the event with a ``finishReason`` ends the answer) and embeddings to
``:batchEmbedContents``; the key goes in ``x-goog-api-key`` (never in the URL, so it
cannot reach a log line). ``vertex_ai/`` (``vertex.py``) reuses everything here but the
URL and the credentials.

The translation, both ways:

* system/developer messages -> ``systemInstruction``; ``assistant`` -> role ``model``;
  consecutive messages of one role are merged; assistant ``tool_calls`` ->
  ``functionCall`` parts; ``tool`` messages -> ``functionResponse`` parts, named after
  the call they answer (Gemini wants the name, OpenAI gives the id); ``image_url`` parts
  -> ``inlineData`` (``data:`` URLs) or ``fileData`` (other URLs; gw fetches nothing).
* ``max_completion_tokens``/``max_tokens`` -> ``maxOutputTokens``; ``temperature``,
  ``top_p``, ``n``, ``stop``, ``seed``, penalties -> ``generationConfig``;
  ``response_format`` json_object/json_schema -> ``responseMimeType`` (+
  ``responseJsonSchema``); ``tools`` -> ``functionDeclarations``; ``tool_choice`` ->
  ``functionCallingConfig`` (auto/none/required -> AUTO/NONE/ANY, a named function ->
  ANY limited to it).
* Answers: text parts -> ``content`` (``thought`` parts dropped), ``functionCall`` ->
  ``tool_calls`` (arguments re-encoded as JSON text); ``finishReason`` STOP -> stop,
  MAX_TOKENS -> length, safety/recitation/blocklist kinds -> content_filter, and
  tool_calls whenever the answer calls a function.
* Usage (``usageMetadata``): prompt = ``promptTokenCount`` + ``toolUsePromptTokenCount``;
  completion = ``candidatesTokenCount`` + ``thoughtsTokenCount`` (thinking is billed
  as output). Embeddings report no usage: it is estimated.
"""

from __future__ import annotations

import base64
import mimetypes
import struct
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..config import Deployment
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
    estimate_tokens,
    estimated_usage,
    loads_object,
    new_id,
    prompt_text,
    random_hex,
)
from .openai import wants_usage

DEFAULT_BASE = "https://generativelanguage.googleapis.com"
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
          "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
          "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter", "LANGUAGE": "content_filter"}
_SCHEMA_DROP = frozenset({"$schema", "additionalProperties", "strict", "$id"})


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def finish_reason(reason: Any, called: bool) -> str:
    if called:
        return "tool_calls"
    return FINISH.get(reason, "stop") if isinstance(reason, str) else "stop"


def usage_of(meta: Any) -> Usage | None:
    """``usageMetadata`` -> Usage (None when it carries no prompt count)."""
    if not isinstance(meta, Mapping) or not isinstance(meta.get("promptTokenCount"), int):
        return None
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    output = _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount"))
    return Usage(prompt, output)


# ------------------------------------------------------------------ request building

def clean_schema(schema: Any) -> Any:
    """A JSON schema without the keywords Gemini's ``parameters`` refuses."""
    if isinstance(schema, Mapping):
        return {k: clean_schema(v) for k, v in schema.items() if k not in _SCHEMA_DROP}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def image_part(url: str) -> Json | None:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            return None
        return {"inlineData": {"mimeType": mime or "image/png", "data": data}}
    if "://" in url:
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    return None


def content_parts(content: Any) -> list[Json]:
    parts: list[Json] = []
    for kind, value in content_items(content):
        if kind == "text":
            parts.append({"text": value})
        elif (converted := image_part(value) if isinstance(value, str) else None) is not None:
            parts.append(converted)
    return parts


def _arguments(raw: Any) -> Json:
    try:
        value = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        value = {}
    return value if isinstance(value, dict) else {}


def convert_messages(messages: Any) -> tuple[list[str], list[Json]]:
    """OpenAI messages -> (system texts, Gemini ``contents``)."""
    system: list[str] = []
    contents: list[Json] = []
    names: dict[str, str] = {}   # tool call id -> function name
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = content_text(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            name = names.get(call_id) or str(message.get("name") or call_id)
            role, parts = "user", [{"functionResponse": {
                "name": name, "response": {"content": content_text(message.get("content"))}}}]
        elif role == "assistant":
            role, parts = "model", content_parts(message.get("content"))
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(function, Mapping):
                    continue
                name = str(function.get("name") or "")
                names[str(call.get("id") or "")] = name
                parts.append({"functionCall": {"name": name,
                                               "args": _arguments(function.get("arguments"))}})
        else:
            role, parts = "user", content_parts(message.get("content"))
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def convert_tools(tools: Any) -> list[Json]:
    declarations: list[Json] = []
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        entry: Json = {"name": function["name"]}
        if function.get("description"):
            entry["description"] = function["description"]
        if isinstance(function.get("parameters"), Mapping) and function["parameters"]:
            entry["parameters"] = clean_schema(function["parameters"])
        declarations.append(entry)
    return [{"functionDeclarations": declarations}] if declarations else []


def convert_tool_choice(choice: Any) -> Json | None:
    if choice in ("auto", "none", "required"):
        return {"functionCallingConfig": {"mode": {"auto": "AUTO", "none": "NONE",
                                                   "required": "ANY"}[choice]}}
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and function.get("name"):
            return {"functionCallingConfig": {"mode": "ANY",
                                              "allowedFunctionNames": [function["name"]]}}
    return None


def generation_config(body: Mapping[str, Any]) -> Json:
    config: Json = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if _count(limit):
        config["maxOutputTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"),
                         ("presence_penalty", "presencePenalty"),
                         ("frequency_penalty", "frequencyPenalty")):
        if isinstance(body.get(ours), (int, float)) and not isinstance(body[ours], bool):
            config[theirs] = body[ours]
    if _count(body.get("seed")) or body.get("seed") == 0:
        config["seed"] = body["seed"]
    if _count(body.get("n")) > 1:
        config["candidateCount"] = body["n"]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        config["stopSequences"] = stops
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = fmt.get("json_schema")
        if isinstance(schema, Mapping) and isinstance(schema.get("schema"), Mapping):
            config["responseJsonSchema"] = schema["schema"]
    return config


def generate_body(endpoint: Endpoint, body: Mapping[str, Any]) -> Json:
    if endpoint == "chat":
        system, contents = convert_messages(body.get("messages"))
    else:
        system, contents = [], [{"role": "user",
                                 "parts": [{"text": prompt_text(endpoint, body)}]}]
    out: Json = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = generation_config(body)
    if config:
        out["generationConfig"] = config
    if endpoint == "chat":
        tools = convert_tools(body.get("tools"))
        if tools:
            out["tools"] = tools
            choice = convert_tool_choice(body.get("tool_choice"))
            if choice is not None:
                out["toolConfig"] = choice
    return out


def embed_body(model_path: str, body: Mapping[str, Any]) -> Json:
    value = body.get("input")
    inputs = value if isinstance(value, list) else [value]
    dims = body.get("dimensions")
    requests = []
    for text in inputs:
        request: Json = {"model": model_path, "content": {"parts": [{"text": str(text)}]}}
        if _count(dims):
            request["outputDimensionality"] = dims
        requests.append(request)
    return {"requests": requests}


# ------------------------------------------------------------------ answers

def candidate_output(candidate: Mapping[str, Any]) -> tuple[str, list[Json]]:
    """(text, function calls) of one candidate; thought parts are dropped."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    texts: list[str] = []
    calls: list[Json] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Mapping) or part.get("thought") is True:
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            calls.append({"id": str(call.get("id") or "call_" + random_hex(24)),
                          "type": "function",
                          "function": {"name": str(call.get("name") or ""),
                                       "arguments": orjson.dumps(call.get("args") or {}
                                                                 ).decode()}})
    return "".join(texts), calls


def parse_generate(dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                   data: Json) -> Completion:
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        feedback = data.get("promptFeedback")
        if isinstance(feedback, Mapping) and feedback.get("blockReason"):
            candidates = [{"finishReason": "SAFETY"}]   # the prompt itself was blocked
        else:
            raise BadUpstreamResponse("upstream answer has no candidates")
    choices: list[Json] = []
    counted = ""
    for position, candidate in enumerate(candidates):
        if not isinstance(candidate, Mapping):
            continue
        text, calls = candidate_output(candidate)
        counted += text + "".join(c["function"]["arguments"] for c in calls)
        finish = finish_reason(candidate.get("finishReason"), bool(calls))
        index = candidate.get("index") if isinstance(candidate.get("index"), int) else position
        if endpoint == "chat":
            reply: Json = {"role": "assistant", "content": text if text or not calls else None}
            if calls:
                reply["tool_calls"] = calls
            choices.append({"index": index, "message": reply, "logprobs": None,
                            "finish_reason": finish})
        else:
            choices.append({"index": index, "text": text, "logprobs": None,
                            "finish_reason": finish})
    usage = usage_of(data.get("usageMetadata")) or estimated_usage(endpoint, body, counted)
    model = data.get("modelVersion") if isinstance(data.get("modelVersion"), str) else dep.model
    ident = str(data.get("responseId") or "")
    ident = (("chatcmpl-" if endpoint == "chat" else "cmpl-") + ident) if ident \
        else new_id(endpoint)
    return Completion({"id": ident, "object": "chat.completion" if endpoint == "chat"
                       else "text_completion", "created": int(time.time()), "model": model,
                       "choices": choices, "usage": usage.as_openai()}, usage)


def parse_embeddings(dep: Deployment, body: Mapping[str, Any], data: Json) -> Completion:
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        raise BadUpstreamResponse("upstream embeddings answer has no embeddings list")
    items: list[Json] = []
    for index, item in enumerate(embeddings):
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(values, list):
            raise BadUpstreamResponse("upstream embedding has no values")
        vector: Any = values
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
        items.append({"object": "embedding", "index": index, "embedding": vector})
    usage = estimated_usage("embeddings", body)
    return Completion({"object": "list", "data": items, "model": dep.model,
                       "usage": {"prompt_tokens": usage.prompt_tokens,
                                 "total_tokens": usage.prompt_tokens}}, usage)


class GeminiTranslator(StreamTranslator):
    """``streamGenerateContent?alt=sse`` events -> OpenAI chunks."""

    def __init__(self, endpoint: Endpoint, body: Mapping[str, Any], model: str) -> None:
        super().__init__(endpoint, body, model)
        self.client_wants_usage = wants_usage(body)
        self.started = False
        self.tools = 0
        self.latest: Usage | None = None   # usageMetadata so far (output counted at the end)

    def feed(self, data: bytes, event: str | None = None) -> list[Json]:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse("upstream sent a stream event that is not JSON") from None
        if not isinstance(message, dict):
            raise BadUpstreamResponse("upstream sent a stream event that is not an object")
        if isinstance(message.get("error"), Mapping):
            text = message["error"].get("message")
            raise BadUpstreamResponse(f"upstream reported an error mid-stream: "
                                      f"{text or 'unknown'}")
        meta = message.get("usageMetadata")
        usage = usage_of(meta)
        if usage is not None:
            self.latest = usage
            if isinstance(meta, Mapping) and ("candidatesTokenCount" in meta
                                              or "thoughtsTokenCount" in meta):
                self.reported = usage
        chunks: list[Json] = []
        candidates = message.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, Mapping):
            feedback = message.get("promptFeedback")
            if isinstance(feedback, Mapping) and feedback.get("blockReason"):
                candidate = {"finishReason": "SAFETY"}
            else:
                return chunks
        text, calls = candidate_output(candidate)
        if self.endpoint == "chat" and not self.started:
            self.started = True
            chunks.append(self.chat_chunk({"role": "assistant", "content": ""}))
        if text:
            self.text_parts.append(text)
            chunks.append(self.chat_chunk({"content": text}) if self.endpoint == "chat"
                          else self.text_chunk(text))
        if calls and self.endpoint == "chat":
            for call in calls:
                self.text_parts.append(call["function"]["arguments"])
                chunks.append(self.chat_chunk({"tool_calls": [{"index": self.tools, **call}]}))
                self.tools += 1
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason and reason != "FINISH_REASON_UNSPECIFIED":
            finish = finish_reason(reason, self.tools > 0)
            chunks.append(self.chat_chunk({}, finish) if self.endpoint == "chat"
                          else self.text_chunk("", finish))
            self.done = True
            if self.latest is not None:
                self.reported = self.latest   # the final count, even with no output tokens
        return chunks

    def finish(self) -> list[Json]:
        return [self.usage_chunk()] if self.client_wants_usage else []

    def usage(self) -> Usage:
        if self.reported is None and self.latest is not None:   # cut short: estimate output
            return Usage(self.latest.prompt_tokens, estimate_tokens("".join(self.text_parts)),
                         estimated=True)
        return super().usage()


class GeminiProvider(Provider):
    name = "gemini"

    def base(self, dep: Deployment) -> str:
        base = (dep.api_base or DEFAULT_BASE).rstrip("/")
        return base if base.endswith(("/v1beta", "/v1")) else base + "/v1beta"

    def model_path(self, dep: Deployment) -> str:
        return dep.model if dep.model.startswith("models/") else f"models/{dep.model}"

    def url(self, dep: Deployment, endpoint: Endpoint, stream: bool) -> str:
        method = ("batchEmbedContents" if endpoint == "embeddings"
                  else "streamGenerateContent?alt=sse" if stream else "generateContent")
        return f"{self.base(dep)}/{self.model_path(dep)}:{method}"

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if dep.api_key:
            headers["x-goog-api-key"] = dep.api_key
        return headers

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> UpstreamRequest:
        payload = (embed_body(self.model_path(dep), body) if endpoint == "embeddings"
                   else generate_body(endpoint, body))
        return UpstreamRequest(self.url(dep, endpoint, stream), self.headers(dep),
                               dumps(payload), "sse")

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> Completion:
        data = loads_object(payload)
        if endpoint == "embeddings":
            return parse_embeddings(dep, body, data)
        return parse_generate(dep, endpoint, body, data)

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> StreamTranslator:
        return GeminiTranslator(endpoint, body, dep.model)
