"""Forwarding one admitted call: try the group's deployments in order, with failover.

For each deployment the router offers (at most ``1 + num_retries``), the call is
translated by the deployment's provider and sent through :mod:`gwd.upstream`.
Connect errors, timeouts, resets, bad answers, 429 and 5xx move on to the next
deployment and count toward its cooldown; any other upstream 4xx is the
client's fault and is returned at once. A streamed call can fail over until its
first chunk reaches the client; after that a failure ends the stream with an
error event. Every call is billed exactly once (see :mod:`gwd.call`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from .call import Biller, Call
from .config import Deployment, RouterSettings
from .doors.base import OPENAI_SINK, Sink
from .errors import GatewayError, RateLimited, UpstreamClientError, UpstreamError, UpstreamTimeout
from . import tracing
from .events import caller, emit, upstream_log
from .memo import IdentityMemo
from .metrics import Metrics
from .providers import get_provider
from .providers.base import (
    BadUpstreamResponse,
    Completion,
    Json,
    Provider,
    StreamTranslator,
    Usage,
)
from .providers.mock import MockProvider
from .routing import Router
from .upstream import MAX_ERROR_BYTES, Timeouts, Upstream, UpstreamFailure, UpstreamResponse

PASSED_THROUGH_STATUSES = (400, 404, 409, 413, 422)
CLIENT_CLOSED = 499  # a stream whose client hung up before its headers went out
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}


class _Retry(Exception):
    """This deployment failed in a way another deployment may not."""

    def __init__(self, error: GatewayError, outcome: str,
                 retry_after: float | None = None) -> None:
        self.error = error
        self.outcome = outcome  # the attempt's outcome in gw_upstream_attempts_total
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _status_error(provider: Provider, dep: Deployment, status: int, payload: bytes,
                  headers: Any) -> Exception:
    """Map an upstream non-2xx answer to a retry or a client-facing error."""
    if status == 429:
        return _Retry(RateLimited(f"deployment {dep.id} is rate limited by its upstream"),
                      "429", _retry_after(headers))
    if status >= 500 or status < 400:
        return _Retry(UpstreamError(f"deployment {dep.id} failed with HTTP {status}"),
                      "5xx" if status >= 500 else "bad_response")
    if status in (401, 403):
        return UpstreamError(f"the upstream of deployment {dep.id} refused gwd's credentials "
                             f"(HTTP {status}); the operator must check its api_key",
                             code="upstream_auth_error")
    message = provider.error_message(status, payload)
    out = status if status in PASSED_THROUGH_STATUSES else 400
    return UpstreamClientError(out, f"{provider.name} error: {message}")


def _failure_error(dep: Deployment, failure: UpstreamFailure) -> _Retry:
    if failure.is_timeout:
        return _Retry(UpstreamTimeout(f"deployment {dep.id}: {failure.message}"), "timeout")
    code = "upstream_bad_response" if failure.kind == "bad_response" else "upstream_error"
    return _Retry(UpstreamError(f"deployment {dep.id}: {failure.message}", code=code),
                  failure.kind)


def _http_status(exc: BaseException) -> int:
    """The HTTP status a client gets for a call that failed with ``exc``."""
    return exc.status if isinstance(exc, GatewayError) else 500


def _final_error(errors: list[_Retry]) -> GatewayError:
    if not errors:
        return UpstreamError("no deployment could be tried")
    if all(isinstance(e.error, RateLimited) for e in errors):
        after = max((e.retry_after or 0 for e in errors), default=0)
        return RateLimited("every deployment of this model is rate limited; retry later",
                           headers={"Retry-After": str(max(1, math.ceil(after)))})
    last = errors[-1].error
    tried = len(errors)
    if isinstance(last, UpstreamTimeout):
        return UpstreamTimeout(f"upstream timed out ({tried} attempt(s)); last: {last.message}")
    return UpstreamError(f"upstream failed after {tried} attempt(s); last: {last.message}",
                         code=last.code)


class Proxy:
    """Sends admitted calls upstream and relays the answers."""

    def __init__(self, router: Router, upstream: Upstream, biller: Biller,
                 settings: RouterSettings, metrics: Metrics) -> None:
        self.router = router
        self.upstream = upstream
        self.biller = biller
        self.settings = settings
        self.metrics = metrics

    @property
    def settings(self) -> RouterSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: RouterSettings) -> None:
        self._settings = settings
        self._timeouts: IdentityMemo[Deployment, Timeouts] = IdentityMemo()

    def timeouts(self, dep: Deployment, stream: bool) -> Timeouts:
        """The deployment's timeouts under the router settings (memoised until those
        change: a config reload makes new settings and new deployments)."""
        found = self._timeouts.get(dep, stream)
        if found is not None:
            return found
        s = self._settings
        total = (dep.stream_timeout if stream and dep.stream_timeout else dep.timeout) or s.timeout
        return self._timeouts.put(dep, Timeouts(connect=min(s.connect_timeout, total),
                                                first_byte=min(s.first_byte_timeout, total),
                                                idle=min(s.stream_idle_timeout, total),
                                                total=total), stream)

    def _plan(self, call: Call) -> list[Deployment]:
        plan = self.router.plan(call.deployments)
        return plan if call.max_attempts is None else plan[:call.max_attempts]

    def _timeouts_of(self, call: Call, dep: Deployment, stream: bool) -> Timeouts:
        """The deployment's timeouts, or the request's own ``timeout`` bounding them all."""
        found = self.timeouts(dep, stream)
        limit = call.timeout
        if limit is None:
            return found
        return Timeouts(connect=min(found.connect, limit), first_byte=min(found.first_byte,
                        limit), idle=min(found.idle, limit), total=limit)

    def headers(self, call: Call, cost: Decimal | None = None) -> dict[str, str]:
        headers = {"x-request-id": call.request_id}
        if call.fallbacks is not None:  # which group served it (gwd/fallbacks.py)
            headers["x-litellm-attempted-fallbacks"] = str(call.fallbacks.attempted)
            headers["x-gw-model-group"] = call.group
        if cost is not None:
            text = format(cost.normalize(), "f")
            headers["x-gw-response-cost"] = headers["x-litellm-response-cost"] = text
        return headers

    # ------------------------------------------------------------------ non-stream
    async def complete(self, call: Call, request: web.Request | None = None) -> web.Response:
        """A non-streamed call. A client that hung up while the upstream worked is still
        billed for the answer the upstream gave (status ``client_closed``): gwd is charged
        for it, and the row must not be lost (catalogue C23)."""
        tried: list[Deployment] = []
        try:
            while True:
                try:
                    return await self._complete_group(call, request, tried)
                except GatewayError as exc:
                    if call.fallbacks is None or not call.fallbacks.advance(call, exc):
                        raise
        except BaseException as exc:
            self.biller.bill(call, tried[-1] if tried else None, None, "error",
                             _http_status(exc))
            raise

    async def _complete_group(self, call: Call, request: web.Request | None,
                              tried: list[Deployment]) -> web.Response:
        errors: list[_Retry] = []
        for dep in self._plan(call):
            tried.append(dep)
            try:
                completion = await self._attempt(call, dep)
            except _Retry as retry:
                errors.append(retry)
                self.router.failed(dep, retry.retry_after)
                continue
            gone = request is not None and request.transport is None
            if call.attempts is not None:
                call.output = completion  # for the trace, with content capture on
            door = call.request.door
            if door is not None:
                body = door.render(dep, completion)
                call.response_id = answer_id(body)
            elif completion.raw is not None:
                body = completion.raw
                call.response_id = answer_id(body)
            else:
                body = encode_json(completion.body)
                found = completion.body.get("id")
                call.response_id = found if isinstance(found, str) and found else None
            cost = self.biller.bill(call, dep, completion.usage,
                                    "client_closed" if gone else "success")
            if call.reserved is not None:
                await self.biller.settle(call)
            return web.Response(body=body, content_type="application/json",
                                headers=self.headers(call, cost))
        raise _final_error(errors)

    @staticmethod
    def _provider(call: Call, dep: Deployment) -> Provider:
        door = call.request.door
        return get_provider(dep.provider) if door is None else door.provider(dep)

    @staticmethod
    def _sink(call: Call, dep: Deployment) -> Sink:
        door = call.request.door
        return OPENAI_SINK if door is None else door.sink(dep)

    async def _attempt(self, call: Call, dep: Deployment) -> Completion:
        provider = self._provider(call, dep)
        req = call.request
        if isinstance(provider, MockProvider):  # answered here; counted like any attempt
            started = time.perf_counter()
            self.router.started(dep)
            if call.attempts is not None:
                tracing.begin(call, dep)
            completion = provider.answer(dep, req.endpoint, req.body)
            self.router.finished(dep, time.perf_counter() - started)
            if call.attempts is not None:
                tracing.end(call, "ok")
            self.metrics.attempt(dep.id, "ok")
            return completion
        if provider.prepares:   # e.g. a token refresh (vertex_ai/); no-op for the rest
            await provider.prepare(dep)
        upstream_req = provider.build_request(dep, req.endpoint, req.body, stream=False)
        started = time.perf_counter()
        self.router.started(dep)
        if call.attempts is not None:
            tracing.begin(call, dep)
        try:
            resp = await self.upstream.open(upstream_req, self._timeouts_of(call, dep, False), dep)
            if not 200 <= resp.status < 300:
                payload = await resp.read(MAX_ERROR_BYTES)
                raise _status_error(provider, dep, resp.status, payload, resp.headers)
            payload = await resp.read()
            completion = provider.parse_response(dep, req.endpoint, req.body, payload)
        except BaseException as exc:
            raise self._attempt_failed(dep, exc, call) from None
        self.router.finished(dep, time.perf_counter() - started)
        self.metrics.attempt(dep.id, "ok")
        if call.attempts is not None:
            tracing.end(call, "ok")
        return completion

    def _attempt_failed(self, dep: Deployment, exc: BaseException,
                        call: Call) -> BaseException:
        """Account for (and log) an attempt that ended with ``exc``; returns the exception
        to raise (a :class:`_Retry` when another deployment may do better)."""
        self.router.finished(dep, None)
        tls_reason = None
        if isinstance(exc, UpstreamFailure):
            if exc.kind == "tls":  # gw_upstream_tls_errors_total; the event names the reason
                tls_reason = exc.reason
                self.metrics.tls_error(dep.id, tls_reason)
            exc = _failure_error(dep, exc)
        elif isinstance(exc, BadUpstreamResponse):
            exc = _Retry(UpstreamError(f"deployment {dep.id}: {exc}",
                                       code="upstream_bad_response"), "bad_response")
        outcome = exc.outcome if isinstance(exc, _Retry) \
            else "4xx" if isinstance(exc, GatewayError) else "aborted"
        self.metrics.attempt(dep.id, outcome)
        if call.attempts is not None:
            tracing.end(call, outcome)
        if outcome != "aborted":  # gwd stopped waiting (client gone, shutdown): no fault
            _log_failure(call, dep, outcome, exc.error if isinstance(exc, _Retry) else exc,
                         tls_reason)
        return exc

    # ------------------------------------------------------------------ stream
    async def stream(self, call: Call, request: web.Request) -> web.StreamResponse:
        tried: list[Deployment] = []
        try:
            while True:
                try:
                    return await self._stream_group(call, request, tried)
                except GatewayError as exc:
                    if call.fallbacks is None or not call.fallbacks.advance(call, exc):
                        raise
        except BaseException as exc:
            self.biller.bill(call, tried[-1] if tried else None, None, "error",
                             _http_status(exc))
            raise

    async def _stream_group(self, call: Call, request: web.Request,
                            tried: list[Deployment]) -> web.StreamResponse:
        """Open a stream on one of the group's deployments (failover until the first chunk;
        a GatewayError out of here means the group is exhausted and nothing was sent)."""
        errors: list[_Retry] = []
        for dep in self._plan(call):
            tried.append(dep)
            provider = self._provider(call, dep)
            if isinstance(provider, MockProvider):
                return await self._relay_local(call, dep, provider, request)
            try:
                opened = await self._open_stream(call, dep, provider)
            except _Retry as retry:
                errors.append(retry)
                self.router.failed(dep, retry.retry_after)
                continue
            return await self._relay(call, dep, request, *opened)
        raise _final_error(errors)

    async def _open_stream(self, call: Call, dep: Deployment, provider: Provider
                           ) -> tuple[UpstreamResponse, StreamTranslator, list[Json], float]:
        """Open the upstream stream and read until its first chunk (failover is still
        possible until then)."""
        req = call.request
        if provider.prepares:   # e.g. a token refresh (vertex_ai/); no-op for the rest
            await provider.prepare(dep)
        upstream_req = provider.build_request(dep, req.endpoint, req.body, stream=True)
        started = time.perf_counter()
        self.router.started(dep)
        if call.attempts is not None:
            tracing.begin(call, dep)
        resp: UpstreamResponse | None = None
        try:
            resp = await self.upstream.open(upstream_req, self._timeouts_of(call, dep, True), dep)
            if not 200 <= resp.status < 300:
                payload = await resp.read(MAX_ERROR_BYTES)
                raise _status_error(provider, dep, resp.status, payload, resp.headers)
            translator = provider.stream_translator(dep, req.endpoint, req.body)
            first: list[Json] = []
            async for event, data in resp.events():
                first = translator.feed(data, event)
                if first or translator.done:
                    break
            if not first and not translator.done:
                raise _Retry(UpstreamError(f"deployment {dep.id}: stream ended before any "
                                           "answer", code="upstream_bad_response"),
                             "bad_response")
        except BaseException as exc:
            if resp is not None:
                resp.close()
            raise self._attempt_failed(dep, exc, call) from None
        self.metrics.attempt(dep.id, "ok")
        return resp, translator, first, started

    async def _start_response(self, call: Call, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={**SSE_HEADERS, **self.headers(call)})
        await response.prepare(request)
        return response

    async def _relay(self, call: Call, dep: Deployment, request: web.Request,
                     resp: UpstreamResponse, translator: StreamTranslator, first: list[Json],
                     started: float) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        status = "error"
        sink = self._sink(call, dep)
        try:
            response = await self._start_response(call, request)
            await _write_chunks(response, first, sink)
            call.response_id = _first_id(sink, first)
            failure: Exception | None = None
            try:
                # read to the end even after the upstream said "done": a usage event may follow
                async for event, data in resp.events():
                    await _write_chunks(response, translator.feed(data, event), sink)
            except (UpstreamFailure, BadUpstreamResponse) as exc:
                failure = exc
            if translator.done:
                await _write_chunks(response, translator.finish(), sink)
                status = "success"
                usage = translator.usage()
                self.biller.bill(call, dep, usage, status)
                if call.reserved is not None:
                    await self.biller.settle(call)
                await response.write(sink.end(usage))
            else:
                self.biller.bill(call, dep, translator.usage(), "error")
                error = _stream_error(failure)
                _log_failure(call, dep, "stream_cut", error)
                await response.write(sink.error(error.body()))
            return response
        except ConnectionError:   # the client hung up: bill its part; nothing left to answer
            self.biller.bill(call, dep, translator.usage(), "client_closed")
            return response or web.StreamResponse(status=CLIENT_CLOSED)
        except asyncio.CancelledError:
            self.biller.bill(call, dep, translator.usage(), "client_closed")
            raise
        finally:
            resp.close()
            self.router.finished(dep, time.perf_counter() - started
                                 if status == "success" else None)

    async def _relay_local(self, call: Call, dep: Deployment, provider: MockProvider,
                           request: web.Request) -> web.StreamResponse:
        req = call.request
        wants_usage = _wants_usage(req.body)
        translator = provider.stream_translator(dep, req.endpoint, req.body)
        sink = self._sink(call, dep)
        response: web.StreamResponse | None = None
        started = time.perf_counter()
        self.router.started(dep)
        if call.attempts is not None:
            tracing.begin(call, dep)
        self.metrics.attempt(dep.id, "ok")
        try:
            response = await self._start_response(call, request)
            for chunk in provider.stream_chunks(dep, req.endpoint, req.body):
                if not chunk.get("choices") and "usage" in chunk:
                    usage = chunk["usage"]
                    translator.reported = Usage(usage["prompt_tokens"],
                                                usage["completion_tokens"])
                    if not wants_usage:
                        continue
                await response.write(sink.chunk(chunk))
                if call.response_id is None:
                    call.response_id = sink.answer_id(chunk)
            usage = translator.usage()
            self.biller.bill(call, dep, usage, "success")
            if call.reserved is not None:
                await self.biller.settle(call)
            await response.write(sink.end(usage))
        except ConnectionError:   # the client hung up: bill its part; nothing left to answer
            self.biller.bill(call, dep, translator.usage(), "client_closed")
            return response or web.StreamResponse(status=CLIENT_CLOSED)
        except asyncio.CancelledError:
            self.biller.bill(call, dep, translator.usage(), "client_closed")
            raise
        finally:
            self.router.finished(dep, time.perf_counter() - started)
        return response


def _stream_error(failure: Exception | None) -> GatewayError:
    """The error event that ends a stream the upstream did not finish."""
    if isinstance(failure, UpstreamFailure) and failure.is_timeout:
        return UpstreamTimeout(f"upstream stream failed: {failure}")
    if failure is not None:
        return UpstreamError(f"upstream stream failed: {failure}")
    return UpstreamError("the upstream stream ended before it was complete",
                         code="upstream_stream_truncated")


def _log_failure(call: Call, dep: Deployment, reason: str, error: BaseException,
                 tls_reason: str | None = None) -> None:
    if call.attempts is not None:
        tracing.end(call, reason)
    emit(logging.WARNING, "upstream_failure", upstream_log, deployment=dep.id,
         model_group=call.group, reason=reason, tls_reason=tls_reason,
         detail=getattr(error, "message", error),
         key_id=caller(call.identity), request_id=call.request_id)


_ID_WINDOW = 1024  # how far into an answer forwarded as bytes its "id" is looked for
_ID_KEY = re.compile(rb'"id"\s*:\s*"([^"\\]{1,255})"')


def answer_id(body: bytes) -> str | None:
    """The id of an answer forwarded as bytes (``chatcmpl-...``, ``msg_...``,
    ``resp_...``): the first ``"id"`` in its first KB, where every such answer puts its
    own (no JSON parse of the whole body). None when there is none."""
    found = _ID_KEY.search(body, 0, _ID_WINDOW)
    return found.group(1).decode("utf-8", "replace") if found else None


def _first_id(sink: Sink, chunks: list[Json]) -> str | None:
    """The answer's id, from the first chunks of a stream (after the sink wrote them)."""
    for chunk in chunks:
        found = sink.answer_id(chunk)
        if found:
            return found
    return None


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _write_chunks(response: web.StreamResponse, chunks: Iterable[Json],
                        sink: Sink = OPENAI_SINK) -> None:
    for chunk in chunks:
        await response.write(sink.chunk(chunk))


def encode_json(obj: object) -> bytes:
    return orjson.dumps(obj)
