"""The parts of a LiteLLM config beyond model_list that gw honours, parsed and validated.

Owns ``environment_variables:``, ``litellm_settings:`` and the router settings
that name model groups (``fallbacks``, ``default_fallbacks``,
``context_window_fallbacks``, ``content_policy_fallbacks``,
``model_group_alias``), which LiteLLM accepts in ``router_settings`` and in
``litellm_settings`` alike (``router_settings`` wins where both set one).
The result is one frozen :class:`LiteLLMSettings`; every key it does not honour
is reported to the reader, which names it in the start-up warning with what gw
does instead (:mod:`gwd.litellm_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ROUTING_KEYS = ("fallbacks", "default_fallbacks", "context_window_fallbacks",
                "content_policy_fallbacks", "model_group_alias")
# litellm_settings keys that gw maps onto router_settings when the latter leave them unset
ROUTER_FROM_LITELLM = {"num_retries": "num_retries", "request_timeout": "timeout"}


class Reader(Protocol):
    env: Mapping[str, str]

    def fail(self, where: str, problem: str) -> Exception: ...
    def resolve(self, where: str, value: Any) -> Any: ...
    def ignore(self, section: str, name: str, where: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class FallbackRules:
    """Model group -> the groups to try next, by the kind of failure."""

    generic: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context_window: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default: tuple[str, ...] = ()

    def groups(self) -> set[str]:
        named = set(self.default)
        for rules in (self.generic, self.context_window, self.content_policy):
            for source, targets in rules.items():
                named.update(targets)
                if source != "*":
                    named.add(source)
        return named


@dataclass(frozen=True, slots=True)
class LiteLLMSettings:
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    fallbacks: FallbackRules = field(default_factory=FallbackRules)
    model_group_alias: Mapping[str, str] = field(default_factory=dict)
    hidden_aliases: frozenset[str] = frozenset()


def environment(r: Reader, raw: Any, errors: list[Any]) -> dict[str, str]:
    """``environment_variables:`` as strings (values may be os.environ/NAME too)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(r.fail("environment_variables", "must be a mapping of NAME: value"))
        return {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        where = f"environment_variables.{name}"
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            errors.append(r.fail("environment_variables", f"bad variable name {name!r}"))
            continue
        try:
            value = r.resolve(where, value)
        except Exception as exc:
            errors.append(exc)
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            errors.append(r.fail(where, "must be a string or a number"))
            continue
        out[name] = str(value)
    return out


def _guard(errors: list[Any], fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # a ConfigError from the reader
        errors.append(exc)
        return None


def _names(r: Reader, where: str, value: Any) -> tuple[str, ...]:
    value = r.resolve(where, value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise r.fail(where, "must be a list of model group names")
    return tuple(value)


def _rules(r: Reader, where: str, value: Any) -> dict[str, tuple[str, ...]]:
    """LiteLLM's ``[{"group": ["fallback", ...]}, ...]`` (a plain mapping is accepted too)."""
    value = r.resolve(where, value)
    if value is None:
        return {}
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise r.fail(where, 'must be a list like [{"my-group": ["fallback-group"]}]')
    out: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise r.fail(f"{where}[{i}]", 'must be a mapping like {"my-group": ["fallback"]}')
        for source, targets in item.items():
            if not isinstance(source, str) or not source:
                raise r.fail(f"{where}[{i}]", "a model group name must be a non-empty string")
            out[source] = out.get(source, ()) + _names(r, f"{where}[{i}].{source}", targets)
    return out


def _aliases(r: Reader, where: str, value: Any) -> tuple[dict[str, str], set[str]]:
    value = r.resolve(where, value)
    if value is None:
        return {}, set()
    if not isinstance(value, dict):
        raise r.fail(where, 'must be a mapping like {"gpt-4": "my-gpt-4o-group"}')
    out: dict[str, str] = {}
    hidden: set[str] = set()
    for alias, target in value.items():
        at = f"{where}.{alias}"
        if isinstance(target, dict):  # LiteLLM's {"model": ..., "hidden": true}
            if target.get("hidden") is True:
                hidden.add(str(alias))
            target = target.get("model")
        target = r.resolve(at, target)
        if not isinstance(alias, str) or not alias or not isinstance(target, str) or not target:
            raise r.fail(at, "must map a name to a model group name")
        out[alias] = target
    return out, hidden


def parse(r: Reader, litellm: Mapping[str, Any], router: dict[str, Any],
          env: Mapping[str, str], errors: list[Any]) -> LiteLLMSettings:
    """Read ``litellm_settings`` and take the routing keys out of ``router`` (in place)."""
    merged: dict[str, tuple[str, Any]] = {}
    for key in ROUTING_KEYS:
        if key in litellm:
            merged[key] = (f"litellm_settings.{key}", litellm[key])
        if key in router:
            merged[key] = (f"router_settings.{key}", router.pop(key))
    for key, value in litellm.items():
        if key in ROUTING_KEYS:
            continue
        if key in ROUTER_FROM_LITELLM:  # validated with router_settings, which wins
            if value is not None:
                router.setdefault(ROUTER_FROM_LITELLM[key], value)
            continue
        r.ignore("litellm_settings", key)

    def rules(key: str) -> dict[str, tuple[str, ...]]:
        if key not in merged:
            return {}
        return _guard(errors, lambda: _rules(r, *merged[key])) or {}

    default: tuple[str, ...] = ()
    if "default_fallbacks" in merged:
        default = _guard(errors, lambda: _names(r, *merged["default_fallbacks"])) or ()
    generic = rules("fallbacks")
    if "*" in generic:  # LiteLLM's catch-all entry: the same as default_fallbacks
        default = default or generic.pop("*")
    aliases: tuple[dict[str, str], set[str]] = ({}, set())
    if "model_group_alias" in merged:
        aliases = _guard(errors, lambda: _aliases(r, *merged["model_group_alias"])) or aliases
    return LiteLLMSettings(
        environment=dict(env),
        fallbacks=FallbackRules(generic=generic, context_window=rules("context_window_fallbacks"),
                                content_policy=rules("content_policy_fallbacks"),
                                default=default),
        model_group_alias=aliases[0], hidden_aliases=frozenset(aliases[1]))


def check_groups(settings: LiteLLMSettings, groups: Mapping[str, object],
                 warn: Callable[[str], None]) -> None:
    """Warn about fallbacks and aliases naming a model group the config does not serve."""
    named = settings.fallbacks.groups()
    missing = sorted(g for g in named if g not in groups and not _wild(g, groups))
    if missing:
        warn("fallbacks name model group(s) not in model_list, skipped when reached: "
             + ", ".join(missing))
    for alias, target in settings.model_group_alias.items():
        if target not in groups:
            warn(f"model_group_alias {alias!r} -> {target!r}: no such model group in model_list")


def _wild(name: str, groups: Mapping[str, object]) -> bool:
    return any("*" in g for g in groups)
