"""The metrics registry: exposition format, exact spend, histogram buckets, escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from gwd.metrics import Histogram, Metric, Metrics
from gwd.store.base import LedgerRow


def row(cost: Decimal | None, status: str = "success", prompt: int = 10,
        completion: int = 5) -> LedgerRow:
    return LedgerRow(request_id="req_1", time=datetime.now(UTC), key_hash=None, key_alias=None,
                     endpoint="chat", requested_model="alias", model_group="g",
                     deployment="d1", provider="openai", prompt_tokens=prompt,
                     completion_tokens=completion, cost=cost, latency_ms=12, status=status,
                     stream=False, usage_estimated=False)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_spend_is_summed_exactly_and_written_as_decimal_text() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.call(row(Decimal("0.1")), 0.01, 200)
    metrics.call(row(Decimal("0.000000000001")), 0.01, 200)
    text = metrics.render().decode()
    assert 'gw_spend_usd_total{model_group="g",deployment="d1"} 0.300000000001\n' in text


def test_a_billed_call_counts_requests_tokens_latency_and_unknown_prices() -> None:
    metrics = Metrics()
    metrics.call(row(Decimal("0.5")), 0.2, 200)
    metrics.call(row(None), 0.03, 200)
    metrics.call(row(Decimal(0), "error", 0, 0), 7.0, 502)
    got = samples(metrics.render().decode())
    where = {("model_group", "g"), ("deployment", "d1")}

    def labels(**extra: str) -> frozenset[tuple[str, str]]:
        return frozenset(where | set(extra.items()))

    assert got["gw_requests_total", labels(endpoint="chat", status="success",
                                          code_class="2xx")] == 2
    assert got["gw_requests_total", labels(endpoint="chat", status="error",
                                          code_class="5xx")] == 1
    assert got["gw_tokens_total", labels(kind="prompt")] == 20
    assert got["gw_tokens_total", labels(kind="completion")] == 10
    assert got["gw_unknown_price_calls_total", labels()] == 1
    assert got["gw_request_duration_seconds_count", labels()] == 3
    assert got["gw_request_duration_seconds_bucket", labels(le="0.025")] == 0
    assert got["gw_request_duration_seconds_bucket", labels(le="0.05")] == 1
    assert got["gw_request_duration_seconds_bucket", labels(le="0.25")] == 2
    assert got["gw_request_duration_seconds_bucket", labels(le="5.0")] == 2
    assert got["gw_request_duration_seconds_bucket", labels(le="10.0")] == 3
    assert got["gw_request_duration_seconds_bucket", labels(le="+Inf")] == 3
    assert abs(got["gw_request_duration_seconds_sum", labels()] - 7.23) < 1e-9


def test_a_bucket_bound_is_inclusive_and_large_values_land_in_inf() -> None:
    h = Histogram("h", "help", ("x",), (1.0, 2.0))
    for value in (1.0, 2.0, 2.5, 1e9):
        h.observe(("a",), value)
    out: list[str] = []
    h.render(out)
    assert 'h_bucket{x="a",le="1.0"} 1' in out
    assert 'h_bucket{x="a",le="2.0"} 2' in out
    assert 'h_bucket{x="a",le="+Inf"} 4' in out
    assert 'h_count{x="a"} 4' in out


def test_label_values_are_escaped() -> None:
    m = Metric("m_total", "help", ("group",))
    m.inc(('a "quoted"\\ group\nname',))
    out: list[str] = []
    m.render(out)
    assert out[-1] == 'm_total{group="a \\"quoted\\"\\\\ group\\nname"} 1'
    parsed = samples("\n".join(out) + "\n")
    assert parsed["m_total", frozenset({("group", 'a "quoted"\\ group\nname')})] == 1


def test_attempts_and_errors_are_counted_by_their_labels() -> None:
    metrics = Metrics()
    metrics.attempt("d1", "ok")
    metrics.attempt("d1", "ok")
    metrics.attempt("d1", "5xx")
    metrics.error(401, "invalid_api_key")
    got = samples(metrics.render().decode())
    assert got["gw_upstream_attempts_total", frozenset({("deployment", "d1"),
                                                        ("outcome", "ok")})] == 2
    assert got["gw_upstream_attempts_total", frozenset({("deployment", "d1"),
                                                        ("outcome", "5xx")})] == 1
    assert got["gw_http_errors_total", frozenset({("status", "401"),
                                                  ("code", "invalid_api_key")})] == 1
