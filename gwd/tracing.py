"""OpenTelemetry traces (opt-in): a span per proxy call and one per upstream attempt.

Off by default, and then nothing here is imported and a call pays one ``is None``
check. With ``general_settings.otel: true`` (and the ``otel`` extra installed:
``pip install 'gw[otel]'``) gwd exports over OTLP/HTTP (protobuf) to
``general_settings.otel_endpoint``, else to where the standard
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables
say (``http://localhost:4318/v1/traces`` by default), batched in the SDK's own
thread. Read at start; a reload does not switch tracing on or off.

Spans are made when a call is billed, from times recorded as it ran (so the hot
path records two clock readings per attempt and nothing else):

* the call, ``{operation} {requested model}``, kind SERVER, from admission to
  billing: ``gen_ai.operation.name`` (``chat``, ``text_completion``,
  ``embeddings``), ``gen_ai.request.model``, ``gen_ai.request.max_tokens`` /
  ``temperature`` / ``top_p`` when sent, ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``gen_ai.response.model`` (the deployment's upstream model),
  ``gw.key_id`` (``master`` for the master key; never the key), ``gw.key_alias``,
  ``gw.team_id`` (when the key has one), ``gw.cost_usd`` (exact decimal text),
  ``gw.model_group``, ``gw.request_id``, ``gw.call_status``,
  ``http.response.status_code``; status ERROR unless the call succeeded;
* each upstream attempt, a child, ``{operation} {upstream model}``, kind CLIENT:
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gw.deployment``,
  ``server.address``, ``gw.outcome`` (``ok``, ``5xx``, ``timeout``, ...), and
  ``error.type`` when it failed.

Prompts and answers are recorded only with ``general_settings.otel_capture_content:
true``, as ``gen_ai.input.messages`` (the messages, prompt or input, as JSON) and,
for non-streamed calls, ``gen_ai.output.messages`` (the answer's choices, as JSON).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

if TYPE_CHECKING:
    from .call import Call
    from .config import Config, Deployment
    from .store.base import LedgerRow

OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
INPUT_FIELDS = ("messages", "prompt", "input")
MAX_CONTENT = 64 * 1024
SCHEDULE_DELAY_MS = 1000


class Attempt:
    """One upstream attempt of a traced call: its deployment, times and outcome."""

    __slots__ = ("dep", "end", "outcome", "start")

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.start = time.perf_counter()
        self.end: float | None = None
        self.outcome = "ok"


def begin(call: Call, dep: Deployment) -> None:
    """An attempt starts (only for traced calls: ``call.attempts`` is a list)."""
    if call.attempts is not None:
        call.attempts.append(Attempt(dep))


def end(call: Call, outcome: str) -> None:
    """The latest attempt ended with ``outcome`` (``ok`` or the failure's reason)."""
    if call.attempts:
        last = call.attempts[-1]
        if last.end is None:
            last.end = time.perf_counter()
            last.outcome = outcome


def _content(value: Any) -> str:
    return orjson.dumps(value).decode()[:MAX_CONTENT]


def _answer(completion: Any) -> Any:
    """The choices of a non-streamed answer (a provider Completion), if it has any."""
    if completion is None:
        return None
    body = getattr(completion, "body", None)
    if body is None and getattr(completion, "raw", None) is not None:
        try:
            body = orjson.loads(completion.raw)
        except orjson.JSONDecodeError:
            return None
    return body.get("choices") if isinstance(body, dict) else None


class Tracer:
    """The SDK's tracer provider with an OTLP/HTTP exporter, and the span builder."""

    def __init__(self, endpoint: str | None, capture_content: bool) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode

        from . import __version__

        self._kind, self._status, self._code = SpanKind, Status, StatusCode
        self.capture_content = capture_content
        self.provider = TracerProvider(resource=Resource.create(
            {"service.name": "gwd", "service.version": __version__}))
        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        self.provider.add_span_processor(BatchSpanProcessor(
            exporter, schedule_delay_millis=SCHEDULE_DELAY_MS))
        self.tracer = self.provider.get_tracer("gwd")

    @classmethod
    def from_config(cls, config: Config) -> Tracer | None:
        g = config.general
        if not g.otel:
            return None
        try:
            return cls(g.otel_endpoint, g.otel_capture_content)
        except ImportError:
            raise SystemExit("gwd: general_settings.otel needs OpenTelemetry: "
                             "pip install 'gw[otel]'") from None

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what is still queued

    def call(self, call: Call, row: LedgerRow, http_status: int,
             output: Any = None) -> None:
        """Export the spans of a billed call."""
        from opentelemetry import trace

        offset = time.time_ns() - time.perf_counter_ns()

        def ns(seconds: float) -> int:
            return int(seconds * 1e9) + offset

        req = call.request
        operation = OPERATIONS.get(req.endpoint, req.endpoint)
        key = call.identity.key
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation, "gen_ai.request.model": req.model,
            "gen_ai.usage.input_tokens": row.prompt_tokens,
            "gen_ai.usage.output_tokens": row.completion_tokens,
            "gw.key_id": key.key_id if key is not None else "master",
            "gw.model_group": call.group, "gw.request_id": call.request_id,
            "gw.call_status": row.status, "http.response.status_code": http_status}
        if key is not None and key.key_alias:
            attributes["gw.key_alias"] = key.key_alias
        team = getattr(key, "team_id", None)
        if team:
            attributes["gw.team_id"] = str(team)
        if row.cost is not None:
            attributes["gw.cost_usd"] = format(row.cost.normalize(), "f")
        for name in ("max_tokens", "temperature", "top_p"):
            value = req.body.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[f"gen_ai.request.{name}"] = value
        attempts = call.attempts or []
        if attempts and attempts[-1].outcome == "ok":
            attributes["gen_ai.response.model"] = attempts[-1].dep.model
        if self.capture_content:
            for name in INPUT_FIELDS:
                if name in req.body:
                    attributes["gen_ai.input.messages"] = _content(req.body[name])
                    break
            answer = _answer(output)
            if answer is not None:
                attributes["gen_ai.output.messages"] = _content(answer)
        finished = time.perf_counter()
        span = self.tracer.start_span(f"{operation} {req.model}", kind=self._kind.SERVER,
                                      attributes=attributes, start_time=ns(call.started))
        if row.status != "success":
            span.set_status(self._status(self._code.ERROR, f"{row.status} ({http_status})"))
        context = trace.set_span_in_context(span)
        for attempt in attempts:
            dep = attempt.dep
            child = self.tracer.start_span(
                f"{operation} {dep.model}", context=context, kind=self._kind.CLIENT,
                start_time=ns(attempt.start), attributes={
                    "gen_ai.operation.name": operation, "gen_ai.request.model": dep.model,
                    "gen_ai.provider.name": dep.provider, "gw.deployment": dep.id,
                    "server.address": urlsplit(dep.api_base or "").hostname or "",
                    "gw.outcome": attempt.outcome})
            if attempt.outcome != "ok":
                child.set_attribute("error.type", attempt.outcome)
                child.set_status(self._status(self._code.ERROR, attempt.outcome))
            child.end(end_time=ns(attempt.end if attempt.end is not None else finished))
        span.end(end_time=ns(finished))
