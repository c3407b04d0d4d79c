"""Tenancy: the organisational levels a call belongs to, and whether each lets it through.

A call belongs to its key, to the key's team and that team's organisation, to the
key's internal user, and to its end-user (the body's ``user``: a customer). Each
level is a :class:`~gwd.store.tenants.Tenant` read from the :class:`TenantCache`
(no database round trip on a hit). One pass over the levels, the same for each:

- a blocked level refuses the call (403 ``<kind>_blocked``);
- a level with a ``models`` list must contain the call's model group (403
  ``model_not_allowed``) — checked on the group *after* every alias, so neither a
  key's aliases nor a team's ``model_aliases`` can reach a group outside any list;
- a key that names a team or user that no longer exists is refused (403).

An end-user with no customer record is no level at all (LiteLLM tracks any ``user``
string); its spend is still recorded under its id in the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import PermissionDenied
from .store.base import KeyRecord
from .store.tenants import Tenant
from .tenant_cache import TenantCache

KIND_NAMES = {"team": "team", "user": "user", "org": "organization", "customer": "end-user"}
MAX_END_USER = 256


@dataclass(slots=True)
class Levels:
    """The tenants one call belongs to (key excluded), outermost last."""

    team: Tenant | None = None
    user: Tenant | None = None
    org: Tenant | None = None
    customer: Tenant | None = None

    def all(self) -> list[Tenant]:
        return [t for t in (self.team, self.user, self.org, self.customer) if t is not None]

    def budgeted(self) -> list[tuple[str, str]]:
        """The (kind, id) of every level with a budget (the store checks each's stored
        budget; the cached one only says whether to ask)."""
        return [(t.kind, t.id) for t in self.all() if t.max_budget is not None]

    def owners(self, key: KeyRecord | None, end_user: object
               ) -> tuple[str | None, str | None, str | None, str | None]:
        """The ledger's team, user, organisation and end-user of a call at these levels
        (an end-user is recorded by its id whether or not it has a customer record)."""
        return (None if key is None else key.team_id, None if key is None else key.user_id,
                None if self.org is None else self.org.id,
                end_user if isinstance(end_user, str) and 0 < len(end_user) <= MAX_END_USER
                else None)


NONE = Levels()


async def load(cache: TenantCache, team_id: str | None, user_id: str | None,
               end_user: str | None) -> Levels:
    """Every level of a call; refuses a key whose team or user is gone."""
    if team_id is None and user_id is None and end_user is None:
        return NONE
    levels = Levels()
    if team_id is not None:
        levels.team = await cache.get("team", team_id)
        if levels.team is None:
            raise PermissionDenied("This key's team no longer exists.", code="team_not_found")
        if levels.team.org_id is not None:
            levels.org = await cache.get("org", levels.team.org_id)
    if user_id is not None:
        levels.user = await cache.get("user", user_id)
        if levels.user is None:
            raise PermissionDenied("This key's user no longer exists.", code="user_not_found")
    if end_user is not None and 0 < len(end_user) <= MAX_END_USER:
        levels.customer = await cache.get("customer", end_user)
    return levels


def team_alias(levels: Levels, requested: str) -> str | None:
    """The team's ``model_aliases`` target for a requested name, if it has one."""
    if levels.team is None:
        return None
    aliases: Mapping[str, str] = levels.team.extra.get("model_aliases") or {}
    target = aliases.get(requested)
    return target if isinstance(target, str) else None


def check(levels: Levels, group: str, requested: str) -> None:
    """Refuse the call if any level is blocked or excludes the model group."""
    for tenant in levels.all():
        name = KIND_NAMES[tenant.kind]
        if tenant.blocked:
            raise PermissionDenied(f"This {name} is blocked.",
                                   code=f"{tenant.kind if tenant.kind != 'org' else 'organization'}"
                                        "_blocked")
        if tenant.models and group not in tenant.models:
            raise PermissionDenied(f"This {name} may not use the model '{requested[:100]}'.",
                                   code="model_not_allowed")
