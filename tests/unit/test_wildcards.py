"""Wildcard groups and model_group_alias (pure)."""

from __future__ import annotations

import pytest

from gwd.config import Deployment
from gwd.errors import ModelNotFound, PermissionDenied
from gwd.wildcards import ModelNames, compile_pattern, derive


def dep(name: str, model: str) -> Deployment:
    provider, _, rest = model.partition("/")
    return Deployment(id=f"{model}@x", model_name=name, provider=provider, model=rest,
                      litellm_model=model, api_base="http://x")


@pytest.mark.parametrize("name, model, requested, expected", [
    ("*", "openai/*", "gpt-4o", "openai/gpt-4o"),
    ("openai/*", "openai/*", "openai/gpt-4o", "openai/gpt-4o"),
    ("anthropic/claude-*", "anthropic/claude-*", "anthropic/claude-3-haiku",
     "anthropic/claude-3-haiku"),
    ("my-*", "openai/gpt-4o", "my-anything", "openai/gpt-4o"),
])
def test_derive(name: str, model: str, requested: str, expected: str) -> None:
    m = compile_pattern(name).match(requested)
    assert m is not None
    made = derive(dep(name, model), m.groups())
    assert made is not None and made.litellm_model == expected
    assert made.id == f"{model}@x"  # one health record per configured deployment


def test_patterns_are_anchored_and_literal() -> None:
    assert compile_pattern("openai/*").match("xopenai/gpt") is None
    assert compile_pattern("a.b*").match("axb1") is None


GROUPS = {"*": (dep("*", "openai/*"),), "anthropic/*": (dep("anthropic/*", "anthropic/*"),),
          "gpt-4o": (dep("gpt-4o", "openai/gpt-4o"),)}


def test_resolve_prefers_aliases_then_the_most_specific_wildcard() -> None:
    names = ModelNames(GROUPS, {"gpt-4": "gpt-4o"})
    same = lambda g: GROUPS[g]  # noqa: E731
    keep = lambda deps: deps  # noqa: E731
    assert names.resolve(None, "gpt-4", GROUPS, same, keep)[0] == "gpt-4o"
    group, deps = names.resolve(None, "anthropic/claude-3", GROUPS, same, keep)
    assert group == "anthropic/*" and deps[0].model == "claude-3"
    group, deps = names.resolve(None, "o1", GROUPS, same, keep)
    assert group == "*" and deps[0].model == "o1"


def test_resolve_errors() -> None:
    names = ModelNames({"gpt-4o": GROUPS["gpt-4o"]}, {"gpt-4": "gpt-4o"})
    with pytest.raises(ModelNotFound):
        names.resolve(None, "nope", GROUPS, lambda g: (), lambda d: d)

    class Key:
        models = ["other"]
    with pytest.raises(PermissionDenied):
        names.resolve(Key(), "gpt-4", GROUPS, lambda g: (), lambda d: d)  # type: ignore[arg-type]


def test_empty_names_are_falsy() -> None:
    assert not ModelNames({"a": GROUPS["gpt-4o"]}, {})
    assert ModelNames(GROUPS, {})
