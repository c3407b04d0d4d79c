"""Requested names that are not model groups: ``model_group_alias`` and wildcard groups.

Consulted only when a name (after the key's own alias) is not a configured group,
so the plain path never comes here.

- ``model_group_alias`` (router_settings or litellm_settings): ``{"gpt-4": "gpt-4o"}``
  sends ``gpt-4`` to the group ``gpt-4o``. The key's models rule holds: the key must
  list the alias or its target (or list nothing).
- Wildcard groups: a ``model_name`` with ``*`` (``"*"``, ``"openai/*"``,
  ``"anthropic/claude-*"``) serves every matching name. Its deployments are derived
  for the name: each ``*`` of the deployment's ``model`` takes the text the
  ``model_name``'s ``*`` matched (``"*"`` + ``openai/*`` + ``gpt-4o`` ->
  ``openai/gpt-4o``), so the call goes upstream with that model name and is priced
  from the table for that concrete model. The call's group is the wildcard's
  ``model_name`` — so spend reports and metrics stay bounded whatever names clients
  send — and the key must list the requested name or the wildcard (or nothing). The
  most specific pattern wins (the longest literal text, then config order).

Derived deployments keep their wildcard deployment's ``id`` (one health record and
one metrics series per configured deployment) and are memoised per name (bounded).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from .config import Deployment, split_model
from .errors import ModelNotFound, PermissionDenied
from .store.base import KeyRecord

MEMO_LIMIT = 4096
Serving = Callable[[tuple[Deployment, ...]], tuple[Deployment, ...]]


@dataclass(frozen=True, slots=True)
class Wildcard:
    group: str                       # the config's model_name, e.g. "openai/*"
    pattern: re.Pattern[str]
    deployments: tuple[Deployment, ...]

    @property
    def literal(self) -> int:
        return len(self.group.replace("*", ""))


def is_wildcard(name: str) -> bool:
    return "*" in name


def compile_pattern(name: str) -> re.Pattern[str]:
    return re.compile("".join("(.+)" if part == "*" else re.escape(part)
                              for part in re.split(r"(\*)", name) if part) + r"\Z")


def derive(dep: Deployment, parts: tuple[str, ...]) -> Deployment | None:
    """The wildcard deployment ``dep`` made concrete for the matched ``parts``."""
    pieces = dep.litellm_model.split("*")
    if len(pieces) == 1:
        return dep  # a fixed model behind a wildcard name
    fill = list(parts) + [parts[-1]] * (len(pieces) - 1 - len(parts))
    model = pieces[0] + "".join(f + p for f, p in zip(fill, pieces[1:], strict=False))
    split = split_model(model)
    if split is None or split[0] != dep.provider:
        return None
    return replace(dep, model=split[1], litellm_model=model)


def _allowed(key: KeyRecord | None, *names: str) -> bool:
    return key is None or not key.models or any(n in key.models for n in names)


class ModelNames:
    """Aliases and wildcard groups of one config (rebuilt on reload)."""

    def __init__(self, groups: Mapping[str, tuple[Deployment, ...]],
                 aliases: Mapping[str, str], hidden: Iterable[str] = ()) -> None:
        self.aliases = dict(aliases)
        self.hidden = frozenset(hidden)
        self.wildcards = sorted(
            (Wildcard(name, compile_pattern(name), deps)
             for name, deps in groups.items() if is_wildcard(name)),
            key=lambda w: -w.literal)
        self._memo: dict[str, tuple[str, tuple[Deployment, ...]] | None] = {}

    def __bool__(self) -> bool:
        return bool(self.aliases or self.wildcards)

    def match(self, name: str) -> tuple[str, tuple[Deployment, ...]] | None:
        """The wildcard group serving ``name`` and its deployments made concrete."""
        if name in self._memo:
            return self._memo[name]
        found: tuple[str, tuple[Deployment, ...]] | None = None
        for wild in self.wildcards:
            m = wild.pattern.match(name)
            if m is None:
                continue
            deps = tuple(d for d in (derive(dep, m.groups()) for dep in wild.deployments)
                         if d is not None)
            if deps:
                found = (wild.group, deps)
                break
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[name] = found
        return found

    def resolve(self, key: KeyRecord | None, name: str,
                groups: Mapping[str, tuple[Deployment, ...]],
                serving: Callable[[str], tuple[Deployment, ...]],
                supported: Serving) -> tuple[str, tuple[Deployment, ...]]:
        """(group, deployments for the endpoint) for a name that is not a group itself;
        raises 400 ``model_not_found`` or 403 ``model_not_allowed`` like the plain path."""
        shown = name[:100]
        target = self.aliases.get(name)
        if target is not None and target in groups:
            if not _allowed(key, name, target):
                raise PermissionDenied(f"This key may not use the model '{shown}'.",
                                       code="model_not_allowed")
            return target, serving(target)
        found = self.match(name)
        if found is None:
            raise ModelNotFound(f"The model '{shown}' does not exist or is not served here.",
                                param="model")
        group, deps = found
        if not _allowed(key, name, group):
            raise PermissionDenied(f"This key may not use the model '{shown}'.",
                                   code="model_not_allowed")
        return group, supported(deps)

    def listed(self, key: KeyRecord | None, groups: Mapping[str, object],
               table_names: Callable[[str], list[str]]) -> list[str]:
        """Names ``/models`` shows beyond plain groups: visible aliases, and for each
        wildcard group the price table's models it serves (the pattern itself when the
        table knows none)."""
        out = [a for a, t in self.aliases.items()
               if a not in self.hidden and t in groups and _allowed(key, a, t)]
        for wild in self.wildcards:
            names: list[str] = []
            for dep in wild.deployments:
                for model in table_names(dep.provider):
                    for candidate in (model, f"{dep.provider}/{model}"):
                        found = self.match(candidate) if wild.pattern.match(candidate) else None
                        if found and found[0] == wild.group and candidate not in names and \
                                any(d.model == model for d in found[1]):
                            names.append(candidate)
            if not names:
                names = [wild.group]
            out += [n for n in names if _allowed(key, n, wild.group)]
        return out
