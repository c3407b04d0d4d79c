"""Request ids on every response, and the structured JSON access log (opt-in).

:func:`access_middleware` is the outermost middleware. Every response carries
``x-request-id``: a proxy call's id (the ``request_id`` of its ledger row, so
an access line, a spend log row and a client's report can be matched), or a
fresh one for any other request, errors included.

With ``general_settings.access_log: true`` (re-read on reload) it also writes
one JSON line per request to the ``gwd.access`` logger, which prints bare
lines on stderr (whatever ``--log-level`` says)::

    {"time": "2026-01-02T03:04:05.678+00:00", "request_id": "req_…", "method": "POST",
     "path": "/v1/chat/completions", "status": 200, "latency_ms": 12.345,
     "key_id": "key-0123456789abcdef", "key_alias": "ci", "model_group": "gpt-4o",
     "deployment": "openai/gpt-4o@api.openai.com", "call_status": "success",
     "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.000075}

Every non-2xx line also has ``reason``: the error message the client got (and its
``error_code``), or what the status means (499: the client hung up).
``path`` never has the query string (``/key/info?key=sk-…`` carries a key).
The caller is named by its public ``key_id`` (``"master"`` for the master
key) and ``key_alias``: never the key, never its hash. A client that hung up (on a
stream, or before a call's answer) is logged with status 499. With the log off,
nothing is formatted per request.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from .call import new_request_id
from .middleware import CALL, ERROR, IDENTITY, Handler
from .money import to_json
from .runtime import RUNTIME

log = logging.getLogger("gwd.access")
CLIENT_CLOSED = 499  # nginx's status for a client that went away before the answer ended
MAX_PATH = 512
MAX_REASON = 300
REASONS = {CLIENT_CLOSED: "the client closed the connection before the answer ended"}


class _Stderr(logging.Handler):
    """Bare lines on whatever ``sys.stderr`` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(record.getMessage() + "\n")
        except Exception:
            self.handleError(record)


def _logger() -> logging.Logger:
    if not log.handlers:  # first line: print bare JSON, not the operator log's format
        log.addHandler(_Stderr())
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def _reason(status: int) -> str:
    if status in REASONS:
        return REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def entry(request: web.Request, status: int, latency: float, request_id: str) -> dict[str, Any]:
    """The access log fields of one finished request."""
    out: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id, "method": request.method, "path": request.path[:MAX_PATH],
        "status": status, "latency_ms": round(latency * 1000, 3)}
    ident = request.get(IDENTITY)
    if ident is not None:
        out["key_id"] = ident.key.key_id if ident.key is not None else "master"
        out["key_alias"] = ident.alias
    if not 200 <= status < 300:
        error = request.get(ERROR)
        if error is not None:
            out["error_code"] = error[0]
            out["reason"] = error[1][:MAX_REASON]
        else:
            out["reason"] = _reason(status)
    call = request.get(CALL)
    if call is not None:
        out["model_group"] = call.group
        row = call.row
        if row is not None:
            out.update(deployment=row.deployment, call_status=row.status,
                       prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
                       cost=to_json(row.cost))
    return out


def _write(request: web.Request, status: int, started: float, request_id: str) -> None:
    line = entry(request, status, time.perf_counter() - started, request_id)
    _logger().info(orjson.dumps(line).decode())


def _request_id(request: web.Request) -> str:
    call = request.get(CALL)
    return call.request_id if call is not None else new_request_id()


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    logging_on = request.app[RUNTIME].config.general.access_log
    try:
        response = await handler(request)
    except BaseException as exc:  # the client went away (or a non-error HTTPException)
        if logging_on:
            status = exc.status if isinstance(exc, web.HTTPException) else CLIENT_CLOSED
            _write(request, status, started, _request_id(request))
        raise
    request_id = response.headers.get("x-request-id")  # a proxy call's, set by the proxy
    if request_id is None:
        request_id = _request_id(request)
        if not response.prepared:
            response.headers["x-request-id"] = request_id
    if logging_on:
        call = request.get(CALL)
        gone = call is not None and call.row is not None and call.row.status == "client_closed"
        _write(request, CLIENT_CLOSED if gone else response.status, started, request_id)
    return response
