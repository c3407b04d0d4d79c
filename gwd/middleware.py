"""The HTTP edge: error rendering, authentication per route, JSON body reading.

Every route handler is declared with an auth level (:func:`route_auth`):
``public`` (health), ``proxy`` (master or virtual key), ``admin`` (master key
only, or the console's session cookie with its CSRF token, :mod:`gwd.console.session`;
a virtual key gets 403), ``metrics`` (admin, or public when
``general_settings.metrics_auth`` is false; see :mod:`gwd.metrics`). The auth
middleware reads the level from the *matched route's* handler — never from the
path text — and a handler without a level is refused (fail closed). The error
middleware renders every error, ours or aiohttp's, in OpenAI's envelope and
never lets a traceback or a secret reach the client; it counts each error it
renders (``gw_http_errors_total``).

Compressed request bodies (``Content-Encoding``) are refused with 415 before
anything else, and gwd's server never inflates them (``SERVER_OPTIONS``): a
body refused unread is drained by aiohttp, and inflating a 1 MB gzip bomb while
draining it cost seconds of CPU, even for a caller with no key.
:class:`RedactParseErrors` keeps aiohttp's log line for a request it could not
parse but drops the bytes it quotes (an ``Authorization`` header included).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .auth import Identity
from .call import Call
from .console.session import COOKIE
from .console.session import identify as console_identity
from .errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from .runtime import RUNTIME

log = logging.getLogger("gwd.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC, PROXY, ADMIN, METRICS = "public", "proxy", "admin", "metrics"
IDENTITY = web.RequestKey("gw.identity", Identity)
CALL = web.RequestKey("gw.call", Call)  # set by the proxy handlers once a call is admitted
# (code, message) of the error a request was answered with, for the access log; not the
# error itself, whose traceback would keep the request's frames (and a refused body)
# alive in a reference cycle until the next full garbage collection
ERROR = web.RequestKey("gw.error", tuple)
JSON_TYPES = ("application/json", "application/x-www-form-urlencoded", "")
IDENTITY_ENCODINGS = ("", "identity")
#: aiohttp server settings gwd runs with (``gwd`` itself and the in-process tests)
SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False}
CLIENT_CLOSED = 499  # nginx's status for a client that went away before the answer


class RedactParseErrors(logging.Filter):
    """aiohttp logs a request it cannot parse with the parser's message, which quotes
    the offending line of the request (a header with a stray control character after
    the master key, say). Keep the line; drop the quoted bytes and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = (f"{record.getMessage()}: unparseable HTTP request refused with "
                          f"{exc.code} ({type(exc).__name__})")
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def redact_parse_errors() -> None:
    """Install :class:`RedactParseErrors` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, RedactParseErrors) for f in logger.filters):
        logger.addFilter(RedactParseErrors())


def route_auth(level: str) -> Callable[[Handler], Handler]:
    """Declare who may call a handler (see the module docstring)."""
    def mark(handler: Handler) -> Handler:
        handler.__gw_auth__ = level  # type: ignore[attr-defined]
        return handler
    return mark


def identity(request: web.Request) -> Identity:
    return request[IDENTITY]


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
                        status=status, content_type="application/json", headers=headers)


def error_response(error: GatewayError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers or None)


def _render(request: web.Request, error: GatewayError) -> web.Response:
    runtime = request.app[RUNTIME]
    runtime.metrics.error(error.status, error.code)
    if error.code == "database_unavailable":
        runtime.dbwatch.fault(f"{request.method} {request.path}")
    request[ERROR] = (error.code, error.message)
    if error.status == 429 and "Retry-After" not in error.headers:  # every 429 says when
        error.headers = {**error.headers, "Retry-After": "1"}
    return error_response(error)


_HTTP_ERRORS: dict[int, Callable[[], GatewayError]] = {
    404: lambda: NotFound("Unknown route. See /openapi.json for the routes gwd serves."),
    405: lambda: MethodNotAllowed("This route does not accept that HTTP method."),
    413: lambda: PayloadTooLarge("The request body is too large."),
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as error:
        return _render(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        make = _HTTP_ERRORS.get(exc.status)
        mapped = make() if make else InvalidRequest(exc.reason or "Bad request.")
        if exc.status not in _HTTP_ERRORS:
            mapped.status = exc.status
        if "Allow" in exc.headers:  # a 405 says which methods the route takes (RFC 9110)
            mapped.headers = {"Allow": exc.headers["Allow"]}
        return _render(request, mapped)
    except ClientGone:  # nothing to answer and nothing wrong in gwd: one debug line
        log.debug("client hung up while sending %s %s", request.method, request.path[:200])
        return web.Response(status=CLIENT_CLOSED)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.match_info.route.name
                      or request.match_info.route.resource)
        return _render(request, GatewayError("Internal error in gwd; the operator's log has "
                                             "the details."))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in IDENTITY_ENCODINGS and request.body_exists:
        raise UnsupportedMediaType("gwd does not accept compressed request bodies; send the "
                                   "JSON uncompressed.", code="unsupported_content_encoding")
    match = request.match_info
    if match.http_exception is not None:
        raise match.http_exception
    level = getattr(match.handler, "__gw_auth__", None)
    runtime = request.app[RUNTIME]
    if level == METRICS:
        level = ADMIN if runtime.config.general.metrics_auth else PUBLIC
    if level == PUBLIC:
        return await handler(request)
    if runtime.draining:
        raise ServiceUnavailable("gwd is shutting down.", code="shutting_down")
    if level not in (PROXY, ADMIN):
        raise AuthenticationError("This route is not open.")
    master_key = runtime.config.general.master_key
    if level == ADMIN and master_key and COOKIE in request.cookies:  # the console (/ui)
        console = console_identity(master_key, request.cookies, request.headers)
        if console is not None:
            request[IDENTITY] = console
            return await handler(request)
    ident = await runtime.auth.identify(request.headers)
    if level == ADMIN and not ident.master:
        raise PermissionDenied("This route needs the master key.", code="admin_only")
    request[IDENTITY] = ident
    return await handler(request)


class ClientGone(Exception):
    """The client hung up while gwd was still reading its request."""


async def _read_body(request: web.Request, limit: int, deadline: float) -> bytes | bytearray:
    """The body, refused with 413 past ``limit`` bytes (at once when Content-Length says
    so) and with 408 when it has not all arrived ``deadline`` seconds from now (a caller
    trickling a body must not hold a connection for ever). Read here rather than by
    ``request.read()``, which raises aiohttp's buffer to the limit and copies the body
    twice: peak memory stays near one body, not five. A body already in the buffer (the
    usual case) is taken without arming a timer."""
    length = request.content_length
    arrived = b""
    try:
        if length is not None and 0 < length <= limit:
            arrived = request.content.read_nowait(length)
            if len(arrived) == length:
                return arrived
        async with asyncio.timeout(deadline):
            return await _read_rest(request, limit, length, arrived)
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {deadline:g} "
                             "seconds.") from None
    except ConnectionError:
        raise ClientGone from None


async def _read_rest(request: web.Request, limit: int, length: int | None,
                     arrived: bytes) -> bytes | bytearray:
    if length is not None and 0 < length <= limit:
        try:
            return arrived + await request.content.readexactly(length - len(arrived))
        except asyncio.IncompleteReadError as exc:  # the client sent less than it said
            return arrived + exc.partial
    body = bytearray()
    if (length or 0) <= limit:
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > limit:
                break
    if len(body) > limit or (request.content_length or 0) > limit:
        # (raised here, not kept in a local: a traceback -> frame -> error cycle would
        # keep the body alive until the next full garbage collection)
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return body


async def read_json(request: web.Request) -> tuple[Any, int]:
    """The parsed JSON body and its size; 415 for non-JSON types, 400 for bad JSON."""
    header = request.headers.get("Content-Type")
    # the exact usual value skips aiohttp's header parsing; anything else is parsed
    ctype = "application/json" if header == "application/json" else (
        request.content_type if header else "")
    if ctype not in JSON_TYPES and not (ctype.startswith("application/")
                                        and ctype.endswith("+json")):
        raise UnsupportedMediaType("Send the request body as JSON "
                                   "(Content-Type: application/json).")
    runtime = request.app[RUNTIME]
    raw = await _read_body(request, runtime.max_body_bytes,
                           runtime.config.general.request_body_timeout)
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw), len(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request: it must be "
                             "valid UTF-8 JSON (no NaN or Infinity).") from None
