"""Prometheus metrics: a tiny registry, gwd's counters, and the ``/metrics`` exposition.

Who may scrape: ``GET /metrics`` needs the master key by default (Prometheus
sends it with ``authorization: {credentials: <master key>}`` in the scrape
config). The metrics name every model group and deployment, and a
deployment's id names its upstream host, which B19 keeps from unauthenticated
callers. ``general_settings.metrics_auth: false`` opens the route to anyone
who can reach gwd (as the LiteLLM proxy does), for scrapers on a trusted
network. The setting is re-read on ``/config/reload``.

Why hand-written and not prometheus-client: an observation here is one dict
update on a tuple of label values (~0.3 µs; the whole hook of a billed call,
five observations, ~2.4 µs), where prometheus-client's ``labels(...).inc()``
takes a lock and costs ~2.5 µs each. Everything runs on the event loop's
thread, so no locks are needed. Spend is summed exactly as
:class:`~decimal.Decimal` (costs have 12 decimal places; 28 significant digits
keep sums exact below 10^16 USD) and written as decimal text: it is never
added up in floats.

Label values come only from the config (model groups, deployment ids) and
from gwd's own constants (endpoints, statuses, outcomes, error codes), never
from what a client sends: an unknown model name is a 400, and no label.

Counted as things happen (one hook each):

* ``Biller.bill`` (every admitted call, once): ``gw_requests_total``,
  ``gw_request_duration_seconds``, ``gw_tokens_total``, ``gw_spend_usd_total``,
  ``gw_unknown_price_calls_total``, ``gw_usage_over_reported_total``.
* The proxy (every upstream attempt, once): ``gw_upstream_attempts_total``; and
  ``gw_upstream_tls_errors_total`` (deployment, reason) when the attempt failed in TLS.
  ``outcome`` is ``ok``, ``timeout``, ``connect``, ``reset`` (the upstream
  dropped the connection), ``5xx``, ``429``, ``4xx``, ``bad_response``, or
  ``aborted`` (gwd stopped waiting, e.g. at shutdown). A ``mock/`` deployment answers
  locally; each answer counts as one ``ok`` attempt (as in ``/health``).
* The error middleware (every error response): ``gw_http_errors_total``.

Read from the runtime at scrape time, costing nothing per request (see
:func:`scrape`): cooldown and in-flight gauges per deployment, calls in
flight, spend buffer rows and flush failures, key cache entries, and asyncio
tasks alive (``gw_asyncio_tasks``: a leak shows as a count that never comes back
down; ``bench/soak.py`` watches it).

With ``gwd --workers N`` each worker process counts its own calls, and a scrape
reaching any of them answers for all (:mod:`gwd.metrics_workers`). LiteLLM's
metric names are exposed beside gw's (:mod:`gwd.metrics_litellm`).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import __version__
from .metrics_litellm import CallTally
from .metrics_litellm import families as litellm_families
from .store.base import LedgerRow

if TYPE_CHECKING:
    from .runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0, 300.0)
CODE_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
GROUP_DEPLOYMENT = ("model_group", "deployment")

Key = tuple[str, ...]
Number = Any  # int, float or Decimal (one kind per metric; Decimal for money)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: Key, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: Number) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value) if isinstance(value, int) else repr(value)


class Metric:
    """A counter or a gauge: one number per label set (an int, a float, or a Decimal)."""

    __slots__ = ("help", "kind", "labels", "name", "values")

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = (),
                 kind: str = "counter") -> None:
        self.name, self.help, self.labels, self.kind = name, help, labels, kind
        self.values: dict[Key, Number] = {}

    def inc(self, key: Key = (), amount: Number = 1) -> None:
        values = self.values
        values[key] = values.get(key, 0) + amount

    def set(self, key: Key, value: Number) -> None:
        self.values[key] = value

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}")
        out.append(f"# TYPE {self.name} {self.kind}")
        for key, value in self.values.items():
            out.append(f"{self.name}{_labels(self.labels, key)} {_number(value)}")


class Histogram:
    """Observations counted into fixed buckets per label set (plus their sum)."""

    __slots__ = ("bounds", "help", "labels", "name", "values")

    def __init__(self, name: str, help: str, labels: tuple[str, ...],
                 buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.labels = name, help, labels
        self.bounds = tuple(sorted(buckets))
        # per label set: a count per bucket (not cumulative), the +Inf bucket, then the sum
        self.values: dict[Key, list[float]] = {}

    def observe(self, key: Key, value: float) -> None:
        series = self.values.get(key)
        if series is None:
            series = self.values[key] = [0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}")
        out.append(f"# TYPE {self.name} histogram")
        bounds = [*(repr(b) for b in self.bounds), "+Inf"]
        for key, series in self.values.items():
            total = 0
            for bound, count in zip(bounds, series, strict=False):
                total += int(count)
                labels = _labels(self.labels, key, f'le="{bound}"')
                out.append(f"{self.name}_bucket{labels} {total}")
            labels = _labels(self.labels, key)
            out.append(f"{self.name}_sum{labels} {_number(series[-1])}")
            out.append(f"{self.name}_count{labels} {total}")


class Metrics:
    """gwd's own metrics (one instance per runtime); the hooks call the methods below."""

    def __init__(self) -> None:
        self.requests = Metric(
            "gw_requests_total", "Proxy calls by model group, deployment, endpoint, outcome "
            "(success, error, client_closed) and HTTP status class.",
            (*GROUP_DEPLOYMENT, "endpoint", "status", "code_class"))
        self.latency = Histogram(
            "gw_request_duration_seconds", "Time from admitting a proxy call to billing it.",
            GROUP_DEPLOYMENT, LATENCY_BUCKETS)
        self.attempts = Metric(
            "gw_upstream_attempts_total", "Upstream attempts by deployment and outcome.",
            ("deployment", "outcome"))
        self.tokens = Metric(
            "gw_tokens_total", "Tokens billed, by kind (prompt, completion).",
            (*GROUP_DEPLOYMENT, "kind"))
        self.spend = Metric(
            "gw_spend_usd_total", "Spend in USD (exact sum of the billed costs).",
            GROUP_DEPLOYMENT)
        self.unpriced = Metric(
            "gw_unknown_price_calls_total", "Calls with usage but no known price "
            "(recorded with cost null).", GROUP_DEPLOYMENT)
        self.errors = Metric(
            "gw_http_errors_total", "Error responses by HTTP status and error code.",
            ("status", "code"))
        self.tls_errors = Metric(
            "gw_upstream_tls_errors_total", "Upstream TLS failures by deployment and reason "
            "(expired, unknown_ca, hostname_mismatch, client_certificate, ...).",
            ("deployment", "reason"))
        self.over_reported_calls = Metric(
            "gw_usage_over_reported_total", "Calls whose upstream reported more tokens than "
            "the call could produce; billed (budgeted: yes = at the cap, no = as reported).",
            (*GROUP_DEPLOYMENT, "budgeted"))
        self.tally = CallTally()  # LiteLLM's families, made at scrape time
        self.families: tuple[Metric | Histogram, ...] = (
            self.requests, self.latency, self.attempts, self.tokens, self.spend,
            self.unpriced, self.errors, self.tls_errors, self.over_reported_calls)

    def call(self, row: LedgerRow, seconds: float, http_status: int,
             key_id: str = "master") -> None:
        """A call was billed (``row`` is its ledger row; ``key_id`` its caller's)."""
        where = (row.model_group, row.deployment)
        self.tally.add((key_id, row.key_alias or "", row.requested_model, row.model_group,
                        row.deployment, row.provider, http_status),
                       row.prompt_tokens, row.completion_tokens, row.cost)
        self.requests.inc((*where, row.endpoint, row.status, CODE_CLASSES[http_status // 100]))
        self.latency.observe(where, seconds)
        if row.prompt_tokens:
            self.tokens.inc((*where, "prompt"), row.prompt_tokens)
        if row.completion_tokens:
            self.tokens.inc((*where, "completion"), row.completion_tokens)
        if row.cost is None:
            self.unpriced.inc(where)
        elif row.cost:
            self.spend.inc(where, row.cost)

    def over_reported(self, group: str, deployment: str, budgeted: bool) -> None:
        self.over_reported_calls.inc((group, deployment, "yes" if budgeted else "no"))

    def attempt(self, deployment: str, outcome: str) -> None:
        self.attempts.inc((deployment, outcome))

    def tls_error(self, deployment: str, reason: str) -> None:
        self.tls_errors.inc((deployment, reason))

    def error(self, status: int, code: str) -> None:
        self.errors.inc((str(status), code))

    def render(self, extra: Iterable[Metric | Histogram] = ()) -> bytes:
        out: list[str] = []
        for family in (*self.families, *extra):
            family.render(out)
        out.append("")
        return "\n".join(out).encode()


def _one(name: str, help: str, value: float, kind: str = "gauge",
         labels: tuple[str, ...] = (), key: Key = ()) -> Metric:
    metric = Metric(name, help, labels, kind)
    metric.set(key, value)
    return metric


def collect(runtime: Runtime) -> list[Metric | Histogram]:
    """Every family of this process: the counters, gauges read from the runtime now,
    and LiteLLM's families (:mod:`gwd.metrics_litellm`)."""
    cooling = Metric("gw_deployment_cooling_down", "1 while the deployment is cooling "
                     "down after failures.", GROUP_DEPLOYMENT, "gauge")
    busy = Metric("gw_deployment_in_flight", "Upstream attempts in flight.",
                  GROUP_DEPLOYMENT, "gauge")
    router = runtime.router
    deployments = {}
    for group, deps in runtime.groups.items():
        for dep in deps:
            deployments[dep.id] = dep
            health = router.health.get(dep.id)
            cooling.set((group, dep.id), int(router.cooling(dep)))
            busy.set((group, dep.id), health.in_flight if health else 0)
    recorder = runtime.recorder
    return [
        *runtime.metrics.families, cooling, busy,
        _one("gw_in_flight_requests", "Proxy calls being served.", runtime.in_flight),
        _one("gw_spend_buffer_rows", "Ledger rows waiting to be written.", recorder.pending),
        _one("gw_spend_flush_failures_total", "Spend flushes that failed (rows kept, retried).",
             recorder.failures, "counter"),
        _one("gw_key_cache_entries", "Keys held in the key cache.", len(runtime.cache)),
        _one("gw_asyncio_tasks", "asyncio tasks alive in this process (leak watch).",
             len(asyncio.all_tasks())),
        _one("gw_build_info", "gwd's version.", 1, labels=("version",), key=(__version__,)),
        *litellm_families(runtime.metrics.tally, deployments, router),
    ]


def render(families: Iterable[Metric | Histogram]) -> bytes:
    out: list[str] = []
    for family in families:
        family.render(out)
    out.append("")
    return "\n".join(out).encode()


def scrape(runtime: Runtime) -> bytes:
    """The exposition text of this process, or of every worker under ``--workers``
    (:mod:`gwd.metrics_workers`)."""
    families = collect(runtime)
    share = runtime.metrics_share
    if share is not None:
        from .metrics_workers import merge

        families = merge(families, share.others())
    return render(families)
