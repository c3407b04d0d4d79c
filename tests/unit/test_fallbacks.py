"""Fallback planning (pure): which error falls back where, and the key's models rule."""

from __future__ import annotations

import pytest

from gwd.config import Deployment
from gwd.errors import (
    BudgetExceeded,
    InvalidRequest,
    RateLimited,
    UpstreamClientError,
    UpstreamError,
    UpstreamTimeout,
)
from gwd.fallbacks import classify, plan, request_fallbacks
from gwd.litellm_settings import FallbackRules


def dep(group: str) -> Deployment:
    return Deployment(id=f"mock/{group}", model_name=group, provider="mock", model=group,
                      litellm_model=f"mock/{group}", api_base=None)


GROUPS = {g: (dep(g),) for g in ("a", "b", "c", "d")}


class FakeCall:
    group = "a"
    deployments = GROUPS["a"]


def resolver(allowed: set[str]):  # type: ignore[no-untyped-def]
    def resolve(name: str) -> tuple[str, tuple[Deployment, ...]] | None:
        return (name, GROUPS[name]) if name in GROUPS and name in allowed else None
    return resolve


@pytest.mark.parametrize("error, kind", [
    (UpstreamError("deployment x failed with HTTP 503"), "generic"),
    (UpstreamTimeout("upstream timed out"), "generic"),
    (RateLimited("every deployment is rate limited"), "generic"),
    (UpstreamError("refused gwd's credentials", code="upstream_auth_error"), "generic"),
    (UpstreamClientError(400, "openai error: This model's maximum context length is 4097"),
     "context_window"),
    (UpstreamClientError(400, "anthropic error: prompt is too long: 250000 tokens"),
     "context_window"),
    (UpstreamClientError(400, "azure error: filtered by content management policy"),
     "content_policy"),
    (UpstreamClientError(400, "openai error: Unrecognized request argument supplied: x"), None),
    (BudgetExceeded("over budget"), None),
    (InvalidRequest("bad body"), None),
])
def test_classify(error: Exception, kind: str | None) -> None:
    assert classify(error) == kind


def test_no_rules_and_no_request_fallbacks_means_no_plan() -> None:
    assert plan(FallbackRules(), "a", None, resolver(set(GROUPS))) is None


def test_plan_skips_unknown_disallowed_and_own_groups_and_advances_in_order() -> None:
    rules = FallbackRules(generic={"a": ("a", "ghost", "b", "c", "d")})
    p = plan(rules, "a", None, resolver({"a", "c", "d"}))
    assert p is not None
    call = FakeCall()
    assert p.advance(call, UpstreamError("x")) and call.group == "c"
    assert p.advance(call, UpstreamError("x")) and call.group == "d"
    assert not p.advance(call, UpstreamError("x"))
    assert p.attempted == 2


def test_request_fallbacks_replace_configured_and_default() -> None:
    rules = FallbackRules(generic={"a": ("b",)}, default=("c",))
    p = plan(rules, "a", ("d",), resolver(set(GROUPS)))
    assert p is not None and [g for g, _ in p.groups["generic"]] == ["d"]
    p = plan(FallbackRules(default=("c",)), "a", None, resolver(set(GROUPS)))
    assert p is not None and [g for g, _ in p.groups["generic"]] == ["c"]


def test_client_errors_do_not_advance_and_kinds_are_separate() -> None:
    rules = FallbackRules(generic={"a": ("b",)}, context_window={"a": ("c",)})
    p = plan(rules, "a", None, resolver(set(GROUPS)))
    assert p is not None
    call = FakeCall()
    assert not p.advance(call, UpstreamClientError(400, "Unrecognized argument"))
    assert p.advance(call, UpstreamClientError(400, "maximum context length is 10"))
    assert call.group == "c"
    assert {d.model for d in p.deployments()} == {"b", "c"}


@pytest.mark.parametrize("value", ["a", [{"model": "a"}], [1], [""], ["x"] * 17])
def test_bad_request_fallbacks(value: object) -> None:
    with pytest.raises(InvalidRequest):
        request_fallbacks(value)


def test_request_fallbacks_null_is_not_set() -> None:
    assert request_fallbacks(None) is None and request_fallbacks(["a", "b"]) == ("a", "b")
