"""Fallbacks: which model groups a call tries, in order, once its own group has failed.

Pure planning, no I/O. At admission :func:`plan` turns the config's rules
(:class:`~gwd.litellm_settings.FallbackRules`) and the request body's
``fallbacks`` into a :class:`FallbackPlan`: for each kind of failure the
fallback groups the caller may use (the key's models rule applies to each: a
group outside it is skipped, as an unknown group is), with the deployments that
serve the endpoint. When the proxy has exhausted a group, :meth:`FallbackPlan.advance`
classifies the error and moves the call to the next untried group of that kind:

- ``generic`` (``fallbacks``, else ``default_fallbacks``; the body's ``fallbacks``
  replace both): connect errors, timeouts, 429 and 5xx after retries, and the
  upstream refusing gwd's credentials — what LiteLLM falls back on;
- ``context_window`` (``context_window_fallbacks``): the upstream said the prompt
  is longer than the model's context window;
- ``content_policy`` (``content_policy_fallbacks``): the upstream refused the
  content.

Any other upstream 4xx is the client's fault and falls back nowhere. Each group
gets its own deployments and retries; the call is billed at the deployment that
answered, under the group that served it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Deployment
from .errors import GatewayError, InvalidRequest, UpstreamClientError
from .litellm_settings import FallbackRules

MAX_REQUEST_FALLBACKS = 16
GENERIC, CONTEXT_WINDOW, CONTENT_POLICY = "generic", "context_window", "content_policy"
_CONTEXT_MARKERS = ("context length", "context_length", "context window", "maximum context",
                    "prompt is too long", "input is too long", "too many tokens",
                    "reduce the length")
_POLICY_MARKERS = ("content_policy", "content policy", "content_filter", "content filter",
                   "safety system", "content management policy", "responsibleaipolicy")
_GENERIC_CODES = ("upstream_error", "upstream_timeout", "upstream_bad_response",
                  "upstream_auth_error", "rate_limited", "rate_limit_exceeded")


def classify(error: BaseException) -> str | None:
    """The kind of fallback an error calls for, or None (the client's fault, or gw's own)."""
    if isinstance(error, UpstreamClientError):
        text = error.message.lower()
        if any(m in text for m in _CONTEXT_MARKERS):
            return CONTEXT_WINDOW
        if any(m in text for m in _POLICY_MARKERS):
            return CONTENT_POLICY
        return None
    if isinstance(error, GatewayError) and (error.status in (429, 502, 503, 504)
                                            or error.code in _GENERIC_CODES):
        return GENERIC
    return None


def request_fallbacks(value: Any) -> tuple[str, ...] | None:
    """The body's ``fallbacks`` (LiteLLM's request-level list of model names), validated."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_REQUEST_FALLBACKS:
        raise InvalidRequest(f"'fallbacks' must be a list of at most {MAX_REQUEST_FALLBACKS} "
                             "model names", param="fallbacks")
    for item in value:
        if isinstance(item, dict):
            raise InvalidRequest("'fallbacks' entries with their own parameters (objects) are "
                                 "not supported by gw; list model names", param="fallbacks")
        if not isinstance(item, str) or not item or len(item) > 256:
            raise InvalidRequest("'fallbacks' must be a list of model names", param="fallbacks")
    return tuple(value)


@dataclass(slots=True)
class FallbackPlan:
    """The fallback groups of one call, by kind, and how far the call has got."""

    groups: Mapping[str, tuple[tuple[str, tuple[Deployment, ...]], ...]]
    tried: set[str] = field(default_factory=set)
    attempted: int = 0            # fallback groups tried so far (x-litellm-attempted-fallbacks)

    def advance(self, call: Any, error: BaseException) -> bool:
        """Point ``call`` at its next fallback group for ``error``; False when there is none."""
        kind = classify(error)
        if kind is None:
            return False
        for group, deps in self.groups.get(kind, ()):
            if group not in self.tried:
                self.tried.add(group)
                self.attempted += 1
                call.group, call.deployments = group, deps
                return True
        return False

    def deployments(self) -> list[Deployment]:
        """Every deployment the call might reach (its budget reservation covers them all)."""
        return [d for entries in self.groups.values() for _, deps in entries for d in deps]


def plan(rules: FallbackRules, group: str, requested: tuple[str, ...] | None,
         resolve: Callable[[str], tuple[str, tuple[Deployment, ...]] | None]) -> FallbackPlan | None:
    """The call's plan, or None when no fallback applies (the plain path stays plain).

    ``resolve(name)`` gives the model group and its deployments for the endpoint, or None
    when the name is unknown, outside the key's models or cannot serve the endpoint.
    """
    generic = requested if requested is not None else (
        rules.generic.get(group) or rules.default)
    by_kind = {GENERIC: generic, CONTEXT_WINDOW: rules.context_window.get(group, ()),
               CONTENT_POLICY: rules.content_policy.get(group, ())}
    if not any(by_kind.values()):
        return None
    out: dict[str, tuple[tuple[str, tuple[Deployment, ...]], ...]] = {}
    for kind, names in by_kind.items():
        entries = []
        for name in names:
            found = resolve(name)
            if found is not None and found[0] != group and found[1]:
                entries.append(found)
        if entries:
            out[kind] = tuple(entries)
    return FallbackPlan(out, {group})
