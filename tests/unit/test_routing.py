"""Routing: pure ordering with an injected random source, health and cooldowns."""

from __future__ import annotations

import random
from collections import Counter

from gwd.config import Deployment, RouterSettings
from gwd.routing import Health, Router, order


def dep(name: str, **kw: object) -> Deployment:
    return Deployment(id=name, model_name="g", provider="openai", model="m",
                      litellm_model="openai/m", api_base="http://x", **kw)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_simple_shuffle_spreads_over_the_group() -> None:
    deps = [dep("a"), dep("b"), dep("c")]
    router = Router(RouterSettings(), rng=random.Random(7))
    firsts = Counter(router.plan(deps)[0].id for _ in range(3000))
    assert set(firsts) == {"a", "b", "c"}
    assert all(800 < n < 1200 for n in firsts.values()), firsts


def test_simple_shuffle_follows_weights() -> None:
    deps = [dep("heavy", weight=9), dep("light", weight=1)]
    router = Router(RouterSettings(), rng=random.Random(1))
    firsts = Counter(router.plan(deps)[0].id for _ in range(5000))
    assert 0.86 < firsts["heavy"] / 5000 < 0.94, firsts


def test_rpm_is_the_weight_when_no_weight_is_set() -> None:
    deps = [dep("a", rpm=300), dep("b", rpm=100)]
    router = Router(RouterSettings(), rng=random.Random(2))
    firsts = Counter(router.plan(deps)[0].id for _ in range(4000))
    assert 0.70 < firsts["a"] / 4000 < 0.80, firsts


def test_same_seed_same_order() -> None:
    deps = [dep(str(i)) for i in range(6)]
    h = {d.id: Health() for d in deps}
    one = order("simple-shuffle", deps, h, random.Random(42), 0.0)
    two = order("simple-shuffle", deps, h, random.Random(42), 0.0)
    assert [d.id for d in one] == [d.id for d in two]


def test_plan_is_bounded_by_num_retries() -> None:
    deps = [dep(str(i)) for i in range(6)]
    router = Router(RouterSettings(num_retries=2), rng=random.Random(3))
    assert len(router.plan(deps)) == 3


def test_failure_cools_a_deployment_down_and_it_goes_last() -> None:
    clock = Clock()
    deps = [dep("a"), dep("b")]
    router = Router(RouterSettings(cooldown_time=5), rng=random.Random(0), clock=clock)
    router.plan(deps)
    router.failed(deps[0])
    assert router.cooling(deps[0])
    for _ in range(50):
        assert [d.id for d in router.plan(deps)] == ["b", "a"]
    clock.now += 5.1
    assert not router.cooling(deps[0])
    assert {router.plan(deps)[0].id for _ in range(50)} == {"a", "b"}


def test_allowed_fails_tolerates_that_many_per_minute() -> None:
    clock = Clock()
    d = dep("a")
    router = Router(RouterSettings(allowed_fails=2, cooldown_time=5), clock=clock)
    router.failed(d)
    router.failed(d)
    assert not router.cooling(d)
    clock.now += 61  # old failures leave the window
    router.failed(d)
    assert not router.cooling(d)
    router.failed(d)
    router.failed(d)
    assert router.cooling(d)


def test_retry_after_extends_the_cooldown_but_is_capped() -> None:
    clock = Clock()
    d = dep("a")
    router = Router(RouterSettings(cooldown_time=5), clock=clock)
    router.failed(d, retry_after=30)
    clock.now += 29
    assert router.cooling(d)
    clock.now += 2
    assert not router.cooling(d)
    router.failed(d, retry_after=10_000)
    clock.now += 301
    assert not router.cooling(d)


def test_all_cooling_are_still_offered_soonest_first() -> None:
    clock = Clock()
    deps = [dep("a"), dep("b")]
    router = Router(RouterSettings(cooldown_time=5), clock=clock)
    router.plan(deps)
    router.failed(deps[1])
    clock.now += 1
    router.failed(deps[0])
    assert [d.id for d in router.plan(deps)] == ["b", "a"]


def test_least_busy_prefers_fewest_in_flight() -> None:
    deps = [dep("a"), dep("b"), dep("c")]
    router = Router(RouterSettings(routing_strategy="least-busy"), rng=random.Random(5))
    router.plan(deps)
    router.started(deps[0])
    router.started(deps[0])
    router.started(deps[2])
    assert [d.id for d in router.plan(deps)] == ["b", "c", "a"]
    router.finished(deps[0], 0.1)
    router.finished(deps[0], 0.1)
    assert router.plan(deps)[-1].id == "c"


def test_latency_based_measures_unknown_first_then_fastest() -> None:
    deps = [dep("slow"), dep("fast"), dep("new")]
    router = Router(RouterSettings(routing_strategy="latency-based"), rng=random.Random(9))
    router.plan(deps)
    for d, seconds in ((deps[0], 0.9), (deps[1], 0.1)):
        router.started(d)
        router.finished(d, seconds)
    assert [d.id for d in router.plan(deps)] == ["new", "fast", "slow"]


def test_finished_without_latency_does_not_count_as_success() -> None:
    d = dep("a")
    router = Router(RouterSettings())
    router.started(d)
    router.finished(d, None)
    assert router.health["a"].successes == 0 and router.health["a"].in_flight == 0
