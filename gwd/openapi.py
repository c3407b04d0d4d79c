"""The OpenAPI 3.1 document of gwd's HTTP API, served (public) at ``GET /openapi.json``.

It is data: the schemas below mirror the checks of :mod:`gwd.schema` (proxy
bodies) and :mod:`gwd.keys` (admin bodies) with the same bounds, so a client
generator or a fuzzer (the tests run schemathesis on it) produces bodies gwd
would really accept or refuse. Each operation lists every status it can
answer; every error is OpenAI's envelope (``Error``); every response carries
``x-request-id``. ``document(models)`` adds model groups as examples of
``model``: gwd serves them to the master key only, since the document itself
is public (unauthenticated callers learn nothing of the config). A test checks
that the paths here and the routes of the app are the same set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import __version__
from .handlers.console import ASSETS as CONSOLE_ASSETS
from .handlers.keys import MAX_PAGE
from .keys import MAX_BUDGET, MAX_LIST, MAX_NAME
from .schema import (
    FORBIDDEN,
    MAX_DEPTH,
    MAX_INPUTS,
    MAX_MESSAGES,
    MAX_MODEL_LEN,
    MAX_N,
    MAX_TOKENS_CAP,
    ROLES,
)

Json = dict[str, Any]

# --------------------------------------------------------------------------- helpers


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: Iterable[str] = (), closed: bool = False, /, **properties: Json) -> Json:
    out: Json = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


def array(items: Json, low: int = 0, high: int | None = None) -> Json:
    out: Json = {"type": "array", "items": items}
    if low:
        out["minItems"] = low
    if high is not None:
        out["maxItems"] = high
    return out


def num(low: float, high: float, kind: str = "number") -> Json:
    return {"type": [kind, "null"], "minimum": low, "maximum": high}


def integer(low: int, high: int) -> Json:
    return num(low, high, "integer")


STRING: Json = {"type": "string"}
BOOL: Json = {"type": ["boolean", "null"]}
OBJECT: Json = {"type": "object"}
NAME: Json = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
              "pattern": "^[^\\x00-\\x1f]+$"}
MODEL: Json = {**NAME, "maxLength": MAX_MODEL_LEN, "pattern": "^[^\\x00-\\x1f\\x7f]+$",
               "description": "a model group, or an alias of the calling key"}
KEY_REF: Json = {"type": "string", "minLength": 1, "maxLength": 512,
                 "description": "a key (sk-...) or its public key_id (key-...)"}
KEY_FILTER: Json = {"type": "string", "description": "only this key's calls: a key or a key_id"}
WHEN: Json = {"type": "string", "description": "ISO 8601 date or time (UTC if no zone), "
              "or a span back from now: 30m, 24h, 7d"}
TOKENS: Json = {"anyOf": [STRING, array(STRING, 1, MAX_INPUTS), array({"type": "integer"}, 1,
                MAX_INPUTS), array(array({"type": "integer"}, 1), 1, MAX_INPUTS)]}
NO_ROUTING_FIELDS: Json = {"not": {"enum": sorted(FORBIDDEN)}}
FREE: Json = {"description": f"forwarded as it is: any JSON up to {MAX_DEPTH} levels deep, "
              "without a routing field (api_base, api_key, ...) at any depth"}

# --------------------------------------------------------------------------- proxy bodies

_SAMPLING: Json = {
    "temperature": num(0, 2), "top_p": num(0, 1), "n": integer(1, MAX_N),
    "presence_penalty": num(-2, 2), "frequency_penalty": num(-2, 2),
    "seed": integer(-(2**63), 2**63 - 1), "top_k": integer(0, 1_000_000), "min_p": num(0, 1),
    "repetition_penalty": num(0, 100), "user": {"type": ["string", "null"]},
    "max_tokens": integer(1, MAX_TOKENS_CAP), "logit_bias": nullable(OBJECT),
    "stop": {"anyOf": [{"type": ["string", "null"]}, array(STRING, 0, 16)]},
    "stream": BOOL, "stream_options": nullable(obj(include_usage={"type": "boolean"})),
}
MESSAGE: Json = {
    **obj(["role"], role={"enum": sorted(ROLES)},
          content={"anyOf": [STRING, array(OBJECT), {"type": "null"}]}),
    "propertyNames": NO_ROUTING_FIELDS, "additionalProperties": FREE,
    "anyOf": [{"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}},
              {"properties": {"role": {"enum": ["assistant", "function"]}}},
              {"required": ["tool_calls"]}],
}
CHAT_REQUEST = obj(
    ["model", "messages"], True, model=ref("Model"), messages=array(MESSAGE, 1, MAX_MESSAGES),
    **_SAMPLING, logprobs=BOOL, top_logprobs=integer(0, 20),
    max_completion_tokens=integer(1, MAX_TOKENS_CAP), tools=nullable(array(FREE)),
    tool_choice={"type": ["string", "object", "null"]},
    response_format=nullable(OBJECT), parallel_tool_calls=BOOL,
    **{name: FREE for name in ("functions", "function_call", "service_tier", "store",
                               "metadata", "modalities", "audio", "prediction",
                               "reasoning_effort", "web_search_options", "verbosity",
                               "prompt_cache_key", "safety_identifier")})
COMPLETION_REQUEST = obj(
    ["model", "prompt"], True, model=ref("Model"), prompt=TOKENS, **_SAMPLING,
    logprobs=integer(0, 5), suffix={"type": ["string", "null"]}, echo=BOOL,
    best_of=integer(1, 20))
EMBEDDING_REQUEST = obj(
    ["model", "input"], True, model=ref("Model"), input=TOKENS,
    encoding_format={"enum": ["float", "base64", None]}, dimensions=integer(1, 65536),
    user={"type": ["string", "null"]})

USAGE = obj(["prompt_tokens", "total_tokens"], prompt_tokens={"type": "integer"},
            completion_tokens={"type": "integer"}, total_tokens={"type": "integer"})
CHAT_RESPONSE = obj(["id", "object", "choices"], id=STRING, object={"const": "chat.completion"},
                    created={"type": "integer"}, model=STRING, usage=USAGE,
                    choices=array(obj(["index"], index={"type": "integer"},
                                      message=OBJECT, finish_reason=nullable(STRING))))
COMPLETION_RESPONSE = obj(["id", "object", "choices"], id=STRING,
                          object={"const": "text_completion"}, created={"type": "integer"},
                          model=STRING, usage=USAGE, choices=array(obj(["index", "text"])))
EMBEDDING_RESPONSE = obj(["object", "data"], object={"const": "list"}, model=STRING, usage=USAGE,
                         data=array(obj(["index", "embedding"], index={"type": "integer"},
                                        embedding={"anyOf": [array({"type": "number"}),
                                                             STRING]})))
BLOCK: Json = {**obj(["type"], type=STRING), "propertyNames": NO_ROUTING_FIELDS,
               "additionalProperties": FREE}
ANTHROPIC_CONTENT: Json = {"anyOf": [STRING, array(BLOCK)]}
_ANTHROPIC_FIELDS: Json = {
    "model": ref("Model"), "max_tokens": {"type": "integer", "minimum": 1,
                                          "maximum": MAX_TOKENS_CAP},
    "messages": array(obj(["role", "content"], role={"enum": ["user", "assistant", "system"]},
                          content=ANTHROPIC_CONTENT), 1, MAX_MESSAGES),
    "system": ANTHROPIC_CONTENT, "temperature": num(0, 1), "top_p": num(0, 1),
    "top_k": {"type": ["integer", "null"], "minimum": 0},
    "stop_sequences": nullable(array(STRING)), "stream": {"type": "boolean"},
    "tools": nullable(array(FREE)), "tool_choice": nullable(OBJECT),
    "metadata": nullable(OBJECT), "thinking": nullable(OBJECT)}
MESSAGES_REQUEST: Json = {
    **obj(["model", "max_tokens", "messages"], **_ANTHROPIC_FIELDS),
    "propertyNames": NO_ROUTING_FIELDS, "additionalProperties": FREE,
    "description": "Anthropic's Messages request; fields gw does not know are forwarded to "
                   "anthropic/ deployments and dropped for others"}
COUNT_TOKENS_REQUEST: Json = {**MESSAGES_REQUEST, "required": ["model", "messages"]}
ANTHROPIC_MESSAGE = obj(["id", "type", "role", "content"], id=STRING, type={"const": "message"},
                        role=STRING, model=STRING, content=array(OBJECT),
                        stop_reason=nullable(STRING), usage=OBJECT)
RESPONSES_REQUEST: Json = {
    **obj(["model", "input"], model=ref("Model"),
          input={"anyOf": [STRING, array(OBJECT, 1)]},
          instructions={"type": ["string", "null"]},
          max_output_tokens=integer(1, MAX_TOKENS_CAP), temperature=num(0, 2),
          top_p=num(0, 1), stream={"type": "boolean"}, tools=nullable(array(OBJECT)),
          previous_response_id={"type": ["string", "null"]},
          user={"type": ["string", "null"]}),
    "propertyNames": NO_ROUTING_FIELDS, "additionalProperties": FREE,
    "description": "the Responses API request; forwarded to openai/ and azure/ deployments, "
                   "translated to chat for others where that is faithful"}
RESPONSE = obj(["id", "object", "output"], id=STRING, object={"const": "response"},
               status=STRING, model=STRING, output=array(OBJECT), usage=nullable(OBJECT))
MODEL_LIST = obj(["object", "data"], object={"const": "list"}, data=array(obj(
    ["id", "object"], id=STRING, object={"const": "model"}, created={"type": "integer"},
    owned_by=STRING)))

SSE_EVENT = obj(["data"], data={"type": "string", "description": "a chunk as JSON, an error "
                                "envelope, or [DONE]"}, event=STRING, id=STRING)

# --------------------------------------------------------------------------- admin bodies

KEY_FIELDS: Json = {
    "models": nullable(array(NAME, 0, MAX_LIST)),
    "duration": nullable({"type": "string", "pattern": "^([0-9]{1,12}(s|m|min|h|d|w|mo)|never)$",
                          "examples": ["30m", "7d", "never"]}),
    "aliases": nullable({"type": "object", "maxProperties": MAX_LIST,
                         "propertyNames": NAME, "additionalProperties": NAME}),
    "config": nullable(OBJECT), "metadata": nullable(OBJECT),
    "max_budget": nullable({"type": "number", "minimum": 0, "maximum": int(MAX_BUDGET)}),
    "key_alias": nullable(NAME), "blocked": nullable({"type": "boolean"}),
}
_MONEY = nullable({"type": "number"})
_TIME = nullable(STRING)
KEY_INFO = obj(
    ["key_id", "key_name", "spend", "models", "aliases", "requests"], token=STRING,
    key_id=STRING, key_name=STRING, key_alias=nullable(STRING), spend={"type": "number"},
    max_budget=_MONEY, budget_remaining=_MONEY, expires=_TIME, models=array(STRING),
    aliases=OBJECT, config=OBJECT, metadata=OBJECT, created_at=_TIME, updated_at=_TIME,
    requests={"type": "integer"})
TOTALS = {"total_spend": {"type": "number"}, "total_requests": {"type": "integer"}}
_COUNTS = {"spend": {"type": "number"}, "requests": {"type": "integer"},
           "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}}

SCHEMAS: Json = {
    "Error": obj(["error"], error=obj(["message", "type", "param", "code"], message=STRING,
                                      type=STRING, param=nullable(STRING),
                                      code=nullable(STRING))),
    "Model": MODEL,
    "ChatCompletionRequest": CHAT_REQUEST, "CompletionRequest": COMPLETION_REQUEST,
    "EmbeddingRequest": EMBEDDING_REQUEST, "ChatCompletion": CHAT_RESPONSE,
    "TextCompletion": COMPLETION_RESPONSE, "EmbeddingList": EMBEDDING_RESPONSE,
    "ModelList": MODEL_LIST, "MessagesRequest": MESSAGES_REQUEST,
    "CountTokensRequest": COUNT_TOKENS_REQUEST, "AnthropicMessage": ANTHROPIC_MESSAGE,
    "TokenCount": obj(["input_tokens"], input_tokens={"type": "integer"}),
    "ResponsesRequest": RESPONSES_REQUEST, "Response": RESPONSE,
    "KeyGenerateRequest": obj((), True, **KEY_FIELDS),
    "KeyUpdateRequest": obj(["key"], True, key=KEY_REF, **KEY_FIELDS),
    "KeyDeleteRequest": obj(["keys"], True, keys=array(KEY_REF, 1, 1000)),
    "KeyRegenerateRequest": obj(["key"], True, key=KEY_REF, new_key=nullable(STRING),
                                **KEY_FIELDS),
    "KeyRefRequest": obj(["key"], True, key=KEY_REF),
    "KeyInfo": KEY_INFO,
    "KeyGenerated": obj(["key", "key_id", "expires"], key=STRING, key_id=STRING,
                        expires=_TIME),
    "KeyInfoResponse": obj(["key", "info"], key=nullable(STRING), info=ref("KeyInfo")),
    "KeyDeleted": obj(["deleted_keys", "not_found"], deleted_keys=array(STRING),
                      not_found={"type": "integer"}),
    "KeyList": obj(["keys", "page", "size"], keys=array(ref("KeyInfo")),
                   page={"type": "integer"}, size={"type": "integer"}),
    "SpendByKey": obj(["keys", *TOTALS], **TOTALS, keys=array(obj(
        ["key_id", "spend", "requests"], key_id=STRING, key_name=STRING,
        key_alias=nullable(STRING), spend={"type": "number"}, requests={"type": "integer"},
        max_budget=_MONEY, expires=_TIME))),
    "SpendByModel": obj(["models", *TOTALS], **TOTALS, models=array(obj(
        ["model_group", "deployment", *_COUNTS], model_group=STRING, deployment=STRING,
        provider=STRING, **_COUNTS))),
    "SpendByDay": obj(["days", *TOTALS], **TOTALS, days=array(obj(
        ["day", *_COUNTS], day=STRING, **_COUNTS))),
    "SpendLogs": obj(["logs", "limit", "offset"], limit={"type": "integer"},
                     offset={"type": "integer"}, logs=array(obj(
                         ["request_id", "time", "model_group", "status"], request_id=STRING,
                         time=STRING, model_group=STRING, deployment=STRING, status=STRING,
                         cost=_MONEY))),
    "Status": obj(["status"], status=STRING, db=STRING),
    "Health": obj(["status", "version", "db", "deployments"], status=STRING, version=STRING,
                  db=STRING, store=STRING, in_flight={"type": "integer"},
                  spend_buffered={"type": "integer"}, deployments=array(OBJECT)),
    "Reloaded": obj(["status", "model_groups", "deployments"], status={"const": "reloaded"},
                    model_groups={"type": "integer"}, deployments={"type": "integer"},
                    warnings=array(STRING)),
}

# --------------------------------------------------------------------------- operations

REASONS = {400: "Bad request: body, parameter, model, budget", 401: "No, unknown, expired or "
           "deleted key", 403: "Key valid but not for this model or route", 404: "Not found",
           408: "Body not sent in time", 409: "Conflict (from the upstream)", 413: "Body too large",
           415: "Body is not JSON", 422: "Unprocessable (from the upstream)",
           429: "Rate limited", 502: "Upstream failed after retries",
           503: "Database unavailable or gwd shutting down", 504: "Upstream timed out"}
RID = {"x-request-id": {"$ref": "#/components/headers/RequestId"}}
AUTH = (401, 503)
ADMIN = (*AUTH, 403)
BODY = (400, 408, 413, 415)
CALL = (*BODY, *AUTH, 403, 404, 409, 422, 429, 502, 504)
BEARER: list[Json] = [{"bearer": []}, {"apiKey": []}, {"xApiKey": []}]


def op(summary: str, ok: Json | None, errors: Iterable[int] = (), *, body: str | None = None,
       query: Iterable[tuple[str, Json]] = (), public: bool = False, ok_type: str =
       "application/json", stream: bool = False, tag: str = "ops") -> Json:
    content = {ok_type: {"schema": ok or STRING}}
    if stream:  # the schema of one event (OpenAPI 3.2's reading of a stream)
        content["text/event-stream"] = {"schema": SSE_EVENT}
    responses: Json = {"200": {"description": "OK", "headers": RID, "content": content}}
    for status in sorted(set(errors)):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    out: Json = {"summary": summary, "tags": [tag], "responses": responses,
                 "operationId": summary.lower().replace(" ", "_").replace("'", "")}
    out["security"] = [] if public else BEARER
    if body:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": ref(body)}}}
    if query:
        out["parameters"] = [{"name": name, "in": "query", "required": False, "schema": s}
                             for name, s in query]
    return out


_PAGE = (("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
         ("size", {"type": "integer", "minimum": 1, "maximum": 1000}))
_SPAN = (("since", WHEN), ("until", WHEN))
PROXY_PATHS: Json = {
    "/chat/completions": {"post": op("Chat completion", ref("ChatCompletion"), CALL,
                                     body="ChatCompletionRequest", stream=True, tag="proxy")},
    "/completions": {"post": op("Text completion", ref("TextCompletion"), CALL,
                                body="CompletionRequest", stream=True, tag="proxy")},
    "/embeddings": {"post": op("Embeddings", ref("EmbeddingList"), CALL,
                               body="EmbeddingRequest", tag="proxy")},
    "/models": {"get": op("Models the key may use", ref("ModelList"), AUTH, tag="proxy")},
    "/messages": {"post": op("Anthropic message", ref("AnthropicMessage"), CALL,
                             body="MessagesRequest", stream=True, tag="proxy")},
    "/messages/count_tokens": {"post": op("Anthropic token count", ref("TokenCount"),
                                          (*BODY, *AUTH, 403, 502, 504),
                                          body="CountTokensRequest", tag="proxy")},
}
PATHS: Json = {
    "/key/generate": {"post": op("Generate a key", ref("KeyGenerated"), (*BODY, *ADMIN),
                                 body="KeyGenerateRequest", tag="keys")},
    "/key/info": {"get": op("Key info", ref("KeyInfoResponse"), (400, 404, *ADMIN),
                            query=[("key", KEY_REF)], tag="keys")},
    "/key/update": {"post": op("Update a key", ref("KeyInfoResponse"), (*BODY, 404, *ADMIN),
                               body="KeyUpdateRequest", tag="keys")},
    "/key/delete": {"post": op("Delete keys", ref("KeyDeleted"), (*BODY, 404, *ADMIN),
                               body="KeyDeleteRequest", tag="keys")},
    "/key/list": {"get": op("List keys", ref("KeyList"), (400, *ADMIN), query=_PAGE,
                            tag="keys")},
    "/spend/keys": {"get": op("Spend by key", ref("SpendByKey"), (400, *ADMIN),
                              query=_SPAN, tag="spend")},
    "/spend/models": {"get": op("Spend by model", ref("SpendByModel"), (400, *ADMIN),
                                query=[*_SPAN, ("key", KEY_FILTER)], tag="spend")},
    "/spend/days": {"get": op("Spend by day", ref("SpendByDay"), (400, *ADMIN),
                              query=[*_SPAN, ("key", KEY_FILTER)], tag="spend")},
    "/spend/logs": {"get": op("Spend logs", ref("SpendLogs"), (400, *ADMIN), query=[
        ("key", KEY_FILTER), *_SPAN, ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        ("offset", {"type": "integer", "minimum": 0, "maximum": 10**9})], tag="spend")},
    "/health/liveliness": {"get": op("Liveliness", ref("Status"), public=True)},
    "/health/liveness": {"get": op("Liveness", ref("Status"), public=True)},
    "/health/readiness": {"get": op("Readiness", ref("Status"), (503,), public=True)},
    "/health": {"get": op("Detailed health", ref("Health"), ADMIN)},
    "/config/reload": {"post": op("Reload the config", ref("Reloaded"), (400, *ADMIN))},
    "/metrics": {"get": {**op("Prometheus metrics", None, ADMIN, ok_type="text/plain"),
                         "description": "Needs the master key unless "
                                        "general_settings.metrics_auth is false."}},
    "/openapi.json": {"get": op("This document", OBJECT, public=True)},
}
SCHEMAS["ConsoleLogin"] = obj(["master_key"], True, master_key={"type": "string",
                                                                 "maxLength": 512})
SCHEMAS["ConsoleSession"] = obj(["logged_in", "csrf_token"], logged_in={"type": "boolean"},
                                csrf_token=STRING, open=BOOL,
                                expires={"type": ["integer", "null"]})
PATHS.update({  # the console (docs/console.md): a page, its files, its session
    "/ui": {"get": op("Console page", None, public=True, ok_type="text/html", tag="console")},
    **{f"/ui/{name}": {"get": {**op(f"Console file {name}", None, public=True, ok_type=ctype,
                                    tag="console"),
                               "operationId": "console_file_" + name.replace(".", "_")}}
       for name, ctype in CONSOLE_ASSETS.items()},
    "/ui/login": {"post": op("Console login", ref("ConsoleSession"), (*BODY, 401),
                             body="ConsoleLogin", public=True, tag="console")},
    "/ui/logout": {"post": op("Console logout", ref("Status"), public=True, tag="console")},
    "/ui/session": {"get": op("Console session", ref("ConsoleSession"), public=True,
                              tag="console")},
})
_LITELLM_SPEND_QUERY = (("request_id", STRING), ("api_key", STRING), ("user_id", STRING),
                        ("start_date", WHEN), ("end_date", WHEN))
PATHS["/spend/logs"]["get"]["parameters"] += [
    {"name": name, "in": "query", "required": False, "schema": s}
    for name, s in _LITELLM_SPEND_QUERY]
PATHS["/spend/logs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
    "anyOf": [ref("SpendLogs"), array(OBJECT)],
    "description": "gw's page; a list of LiteLLM rows when a LiteLLM parameter is given"}
_LIMIT = ("limit", {"type": "integer", "minimum": 1, "maximum": 10_000})
_DATES = (("start_date", WHEN), ("end_date", WHEN))
PATHS.update({  # LiteLLM's routes (SPEC §4a)
    "/global/spend/keys": {"get": op("Top keys by spend", array(OBJECT), (400, *ADMIN),
                                     query=[_LIMIT], tag="spend")},
    "/global/spend/models": {"get": op("Top models by spend", array(OBJECT), (400, *ADMIN),
                                       query=[_LIMIT], tag="spend")},
    "/global/spend/report": {"get": op("Spend report per day", array(OBJECT), (400, *ADMIN),
                                       query=[*_DATES, ("group_by", {
                                           "enum": ["team", "customer", "api_key"]})],
                                       tag="spend")},
    "/model/info": {"get": op("Model info", OBJECT, AUTH, query=[
        ("litellm_model_id", STRING)], tag="models")},
    "/v1/model/info": {"get": op("Model info (v1)", OBJECT, AUTH, query=[
        ("litellm_model_id", STRING)], tag="models")},
    "/v2/model/info": {"get": op("Model info, paginated", OBJECT, (400, *AUTH), query=[
        ("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        ("size", {"type": "integer", "minimum": 1, "maximum": 1000})], tag="models")},
    "/model_group/info": {"get": op("Model group info", OBJECT, AUTH, query=[
        ("model_group", STRING)], tag="models")},
    "/health/readiness/details": {"get": op("Readiness details", ref("Status"), ADMIN)},
    "/routes": {"get": op("Routes", OBJECT, public=True)},
    "/key/regenerate": {"post": op("Regenerate a key", OBJECT, (*BODY, 404, *ADMIN),
                                   body="KeyRegenerateRequest", tag="keys")},
    "/key/{key}/regenerate": {"post": {**op(
        "Regenerate a key by path", OBJECT, (*BODY, 404, *ADMIN), tag="keys"),
        "parameters": [{"name": "key", "in": "path", "required": True, "schema": KEY_REF}]}},
    "/key/block": {"post": op("Block a key", OBJECT, (*BODY, 404, *ADMIN),
                              body="KeyRefRequest", tag="keys")},
    "/key/unblock": {"post": op("Unblock a key", OBJECT, (*BODY, 404, *ADMIN),
                                body="KeyRefRequest", tag="keys")},
    "/key/health": {"post": op("Key health", OBJECT, AUTH, tag="keys")},
})
PATHS["/key/list"]["get"]["parameters"] += [
    {"name": name, "in": "query", "required": False, "schema": s}
    for name, s in (("key_alias", STRING), ("key_hash", KEY_REF), ("user_id", STRING),
                    ("team_id", STRING), ("organization_id", STRING))]
PATHS["/health/readiness"]["get"]["responses"]["503"] = {
    "description": "Not ready: database down, or shutting down", "headers": RID,
    "content": {"application/json": {"schema": ref("Status")}}}


RESPONSE_ID: Json = {"name": "response_id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}$"}}
PROXY_PATHS["/responses"] = {"post": op("Create a response", ref("Response"), CALL,
                                        body="ResponsesRequest", stream=True, tag="proxy")}
PROXY_PATHS["/responses/{response_id}"] = {
    method: {**op(f"{verb} a stored response", OBJECT, (*AUTH, 400, 404, 409, 422, 502, 504),
                  tag="proxy"), "parameters": [RESPONSE_ID]}
    for method, verb in (("get", "Retrieve"), ("delete", "Delete"))}
AZURE_GROUP: Json = {"name": "group", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[^/\\x00-\\x1f]{1,256}$"},
                     "description": "a model group (Azure's deployment name)"}
API_VERSION: Json = {"name": "api-version", "in": "query", "required": False,
                     "schema": STRING}
for _path, _summary, _ok, _body, _stream in (
        ("chat/completions", "Azure chat completion", "ChatCompletion",
         "ChatCompletionRequest", True),
        ("completions", "Azure text completion", "TextCompletion", "CompletionRequest", True),
        ("embeddings", "Azure embeddings", "EmbeddingList", "EmbeddingRequest", False)):
    PATHS[f"/openai/deployments/{{group}}/{_path}"] = {"post": {
        **op(_summary, ref(_ok), CALL, body=_body, stream=_stream, tag="azure"),
        "parameters": [AZURE_GROUP, API_VERSION]}}


def _v1(item: Json) -> Json:
    return {method: {**o, "operationId": "v1_" + o["operationId"]} for method, o in item.items()}


def document(models: Iterable[str] = ()) -> Json:
    """The OpenAPI document; ``models`` (the configured groups) become examples."""
    examples = sorted(models)
    model = {**MODEL, "examples": examples} if examples else MODEL
    from .openapi_tenants import operations  # it builds on this module's helpers
    tenant_paths, tenant_schemas = operations()
    paths = {**PROXY_PATHS, **{"/v1" + p: _v1(item) for p, item in PROXY_PATHS.items()},
             **PATHS, **tenant_paths}
    return {
        "openapi": "3.1.0",
        "info": {"title": "gw", "version": __version__, "description": (
            "An OpenAI-compatible LLM gateway: proxy routes (with or without /v1), "
            "virtual keys, spend reports and operations.")},
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **tenant_schemas, "Model": model},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the master key or a virtual key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
                "xApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "headers": {"RequestId": {"required": True, "description": "the request's id; "
                                      "a proxy call's ledger row has the same request_id",
                                      "schema": {"type": "string", "pattern": "^req_[0-9a-f]+$"}}},
            "responses": {f"E{status}": {
                "description": reason, "headers": RID,
                "content": {"application/json": {"schema": ref("Error")}}}
                for status, reason in REASONS.items()},
        },
    }
