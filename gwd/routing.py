"""Choosing deployments: pure ordering of a model group, plus per-deployment health.

``order()`` is a pure function of the deployments, their :class:`Health`, an
injected ``random.Random`` and the time: it returns the deployments to try, best
first. Healthy deployments come first, ordered by the strategy:

* ``simple-shuffle`` — weighted random order (weight, else rpm, else tpm; a
  deployment without the chosen field counts as the mean of those that have it);
* ``least-busy`` — fewest calls in flight first, ties shuffled;
* ``latency-based`` — lowest smoothed latency first, unmeasured ones first of
  all (so each gets measured), ties shuffled.

Cooling-down deployments follow, soonest recovery first: when every deployment
of a group is cooling down, gwd still tries them rather than failing outright.

:class:`Router` holds the mutable health (in-flight counts, latency, failures)
and applies the cooldown rule: more than ``allowed_fails`` failures within a
minute (a connect error, timeout, 429 or 5xx each count one) cools the
deployment down for ``cooldown_time`` seconds, or for the upstream's
``Retry-After`` (capped at 5 minutes) when it is longer. Each cooldown's start is
logged as it happens and its end when the deployment is next considered
(:mod:`gwd.events`).
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .config import Deployment, RouterSettings
from .events import emit

FAIL_WINDOW = 60.0
MAX_RETRY_AFTER = 300.0
LATENCY_SMOOTHING = 0.3


@dataclass(slots=True)
class Health:
    in_flight: int = 0
    latency: float | None = None          # smoothed seconds
    cooldown_until: float = 0.0
    failures: deque[float] = field(default_factory=deque)
    successes: int = 0
    errors: int = 0
    cooling: bool = False                 # a cooldown began and its end is not logged yet


def _weights(deps: Sequence[Deployment]) -> list[float]:
    for attr in ("weight", "rpm", "tpm"):
        values = [getattr(d, attr) for d in deps]
        given = [float(v) for v in values if v is not None]
        if given:
            mean = sum(given) / len(given)
            return [float(v) if v is not None else mean for v in values]
    return [1.0] * len(deps)


def weighted_shuffle(deps: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    """Random order where each position is drawn in proportion to the weights."""
    keyed = []
    for dep, weight in zip(deps, _weights(deps), strict=True):
        u = rng.random() or 1e-12
        keyed.append((u ** (1.0 / weight) if weight > 0 else 0.0, dep))
    keyed.sort(key=lambda pair: pair[0], reverse=True)
    return [dep for _, dep in keyed]


def order(strategy: str, deps: Sequence[Deployment], health: dict[str, Health],
          rng: random.Random, now: float) -> list[Deployment]:
    """Deployments to try, best first (pure; see the module docstring)."""
    ready = [d for d in deps if health[d.id].cooldown_until <= now]
    cooling = sorted((d for d in deps if health[d.id].cooldown_until > now),
                     key=lambda d: health[d.id].cooldown_until)
    if strategy == "least-busy":
        shuffled = rng.sample(ready, len(ready))
        ready = sorted(shuffled, key=lambda d: health[d.id].in_flight)
    elif strategy == "latency-based":
        shuffled = rng.sample(ready, len(ready))
        ready = sorted(shuffled, key=lambda d: (health[d.id].latency is not None,
                                                health[d.id].latency or 0.0))
    else:
        ready = weighted_shuffle(ready, rng)
    return ready + cooling


class Router:
    """Per-process deployment health and the routing strategy."""

    def __init__(self, settings: RouterSettings, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.clock = clock
        self.health: dict[str, Health] = {}

    def _h(self, dep: Deployment) -> Health:
        h = self.health.get(dep.id)
        if h is None:
            h = self.health[dep.id] = Health()
        return h

    def plan(self, deps: Sequence[Deployment]) -> list[Deployment]:
        """The deployments one call may try, in order (at most 1 + num_retries)."""
        if len(deps) == 1:  # nothing to choose (and no failover either)
            if self._h(deps[0]).cooling:
                self._cooled(deps[0])
            return [deps[0]]
        for dep in deps:
            if self._h(dep).cooling:
                self._cooled(dep)
        ordered = order(self.settings.routing_strategy, deps, self.health, self.rng,
                        self.clock())
        return ordered[: 1 + self.settings.num_retries]

    def started(self, dep: Deployment) -> None:
        self._h(dep).in_flight += 1

    def finished(self, dep: Deployment, seconds: float | None) -> None:
        """The call left this deployment; ``seconds`` is its latency if it succeeded."""
        h = self._h(dep)
        h.in_flight = max(0, h.in_flight - 1)
        if seconds is not None:
            h.successes += 1
            h.latency = seconds if h.latency is None else (
                LATENCY_SMOOTHING * seconds + (1 - LATENCY_SMOOTHING) * h.latency)

    def failed(self, dep: Deployment, retry_after: float | None = None) -> None:
        """Count a failure; cool the deployment down when the rule says so."""
        h = self._h(dep)
        now = self.clock()
        h.errors += 1
        h.failures.append(now)
        while h.failures and h.failures[0] < now - FAIL_WINDOW:
            h.failures.popleft()
        if len(h.failures) > self.settings.allowed_fails:
            span = self.settings.cooldown_time
            if retry_after is not None:
                span = max(span, min(retry_after, MAX_RETRY_AFTER))
            if h.cooldown_until <= now:
                h.cooling = True
                emit(logging.WARNING, "deployment_cooldown_start", deployment=dep.id,
                     model_group=dep.model_name, seconds=round(span, 3),
                     failures_last_minute=len(h.failures), retry_after=retry_after)
            h.cooldown_until = max(h.cooldown_until, now + span)

    def _cooled(self, dep: Deployment) -> None:
        """Log the end of a cooldown, once, when the deployment is next considered."""
        h = self._h(dep)
        if h.cooldown_until <= self.clock():
            h.cooling = False
            emit(logging.INFO, "deployment_cooldown_end", deployment=dep.id,
                 model_group=dep.model_name)

    def cooling(self, dep: Deployment) -> bool:
        return self._h(dep).cooldown_until > self.clock()
