"""Organisational records: teams, internal users, end-users (customers) and organisations.

Each is a :class:`Tenant` of one ``kind``, named by ``(kind, id)``; all four share one
table so that admission treats every level a call belongs to the same way (models,
blocked, budget, spend), whatever the level. Team membership is a separate relation
(``team_id``, ``user_id``, ``role``). A tenant's spend is not kept here: it is the sum
of the ledger rows of its calls (the ledger carries each call's team, user,
organisation and end-user), read when asked for.

:class:`TenantStore` is the interface; ``tenants_sqlite.py`` and ``tenants_pg.py``
implement it on the connection of their backend's :class:`~gwd.store.base.Store`
(``store.tenants``). Every write tells the other processes, as a key change does
(PostgreSQL: NOTIFY ``tenant:<kind>:<id>``; SQLite: the key epoch), so a blocked or
deleted team is refused everywhere within the key-change delay.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import _common as c

KINDS = ("team", "user", "customer", "org")
ROLES = ("admin", "user")
#: the prefix of a change notice about a tenant (a key change notice is a bare hash)
NOTICE_PREFIX = "tenant:"
#: fields ``update`` may change
TENANT_UPDATABLE = ("alias", "models", "max_budget", "soft_budget", "budget_duration",
                    "metadata", "blocked", "org_id", "extra")


class TenantExists(ValueError):
    """``insert`` was given a (kind, id) that is already stored."""


@dataclass(frozen=True, slots=True)
class Tenant:
    kind: str                              # team | user | customer | org
    id: str
    created_at: datetime
    alias: str | None = None
    models: tuple[str, ...] = ()           # () = no restriction at this level
    max_budget: Decimal | None = None
    soft_budget: Decimal | None = None
    budget_duration: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    blocked: bool = False
    org_id: str | None = None              # a team's organisation
    extra: Mapping[str, Any] = field(default_factory=dict)  # kind-specific LiteLLM fields
    updated_at: datetime | None = None

    @property
    def ref(self) -> str:
        return notice(self.kind, self.id)


@dataclass(frozen=True, slots=True)
class Member:
    team_id: str
    user_id: str
    role: str = "user"


@dataclass(frozen=True, slots=True)
class LevelRefusal:
    """Why :meth:`TenantStore.reserve` refused: the first level the call did not fit in."""

    kind: str
    id: str
    budget: Decimal
    spend: Decimal
    reserved: Decimal


def fit(levels: Sequence[tuple[str, str, Decimal | None, Decimal, Decimal]], amount: Decimal,
        partial: bool) -> Decimal | LevelRefusal | None:
    """The amount to reserve at every level given each ``(kind, id, budget, spend,
    reserved)``: ``amount`` if it fits in what remains at each, else (``partial``) what
    remains at the tightest while anything does; a refusal otherwise. None: no budget."""
    grant = amount
    budgeted = False
    for kind, tenant_id, budget, spend, reserved in levels:
        if budget is None:
            continue
        budgeted = True
        remaining = budget - spend - reserved
        if remaining >= grant:
            continue
        if partial and remaining > 0:
            grant = remaining
            continue
        return LevelRefusal(kind, tenant_id, budget, spend, reserved)
    return grant if budgeted else None


def notice(kind: str, tenant_id: str) -> str:
    """The change notice (and cache key) of one tenant."""
    return f"{NOTICE_PREFIX}{kind}:{tenant_id}"


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown tenant kind {kind!r}")
    return kind


def normalise(tenant: Tenant) -> Tenant:
    """Refuse what no backend may store; quantise money."""
    check_kind(tenant.kind)
    if not tenant.id:
        raise ValueError("a tenant needs a non-empty id")
    c.aware(tenant.created_at, "created_at")
    c.optional_aware(tenant.updated_at, "updated_at")
    for name in ("metadata", "extra"):
        c.dumps(getattr(tenant, name))  # JSON or ValueError
    return replace(tenant, max_budget=c.budget(tenant.max_budget),
                   soft_budget=c.budget(tenant.soft_budget), models=tuple(tenant.models),
                   metadata=dict(tenant.metadata), extra=dict(tenant.extra))


def merge(current: Tenant, changes: Mapping[str, Any], now: datetime) -> Tenant:
    unknown = set(changes) - set(TENANT_UPDATABLE)
    if unknown:
        raise ValueError(f"these fields are fixed: {sorted(unknown)}")
    return normalise(replace(current, **dict(changes), updated_at=now))


class TenantStore(ABC):
    """Teams, users, customers and organisations (see the module docstring)."""

    @abstractmethod
    async def insert(self, tenant: Tenant) -> None:
        """Store a new tenant; TenantExists if its (kind, id) is taken."""

    @abstractmethod
    async def get(self, kind: str, tenant_id: str) -> Tenant | None: ...

    @abstractmethod
    async def get_many(self, refs: Sequence[tuple[str, str]]) -> list[Tenant]:
        """The tenants that exist among ``(kind, id)`` pairs, in no particular order."""

    @abstractmethod
    async def update(self, kind: str, tenant_id: str,
                     changes: Mapping[str, Any]) -> Tenant | None:
        """Change TENANT_UPDATABLE fields; the new record, or None if there is none.
        Notifies other processes in the same transaction."""

    @abstractmethod
    async def delete(self, kind: str, tenant_ids: Sequence[str]) -> list[str]:
        """Delete tenants (ledger rows stay; a team's memberships go with it); returns
        the ids that existed. Notifies other processes."""

    @abstractmethod
    async def list(self, kind: str, limit: int = 100, offset: int = 0,
                   org_id: str | None = None) -> list[Tenant]:
        """Tenants of a kind, oldest first (only an organisation's teams with org_id)."""

    @abstractmethod
    async def add_members(self, team_id: str, members: Sequence[Member]) -> None:
        """Add (or change the role of) members of a team."""

    @abstractmethod
    async def remove_members(self, team_id: str, user_ids: Sequence[str]) -> int:
        """Remove members; returns how many were members."""

    @abstractmethod
    async def members(self, team_id: str) -> list[Member]: ...

    @abstractmethod
    async def teams_of(self, user_id: str) -> list[Member]:
        """Every membership of a user."""

    @abstractmethod
    async def reserve(self, request_id: str, levels: Sequence[tuple[str, str]],
                      amount: Decimal, partial: bool) -> Decimal | LevelRefusal | None:
        """Reserve a call's worst case at every level with a budget, in ONE transaction
        (atomic across replicas): see :func:`fit`. Returns the amount reserved at each, a
        refusal, or None when no level has a budget (nothing reserved). The ledger row of
        the call closes these reservations (a trigger, in the row's transaction)."""

    @abstractmethod
    async def release(self, request_ids: Sequence[str]) -> None:
        """Close level reservations of calls that will write no ledger row."""

    @abstractmethod
    async def expire_reservations(self, older_than: datetime) -> int:
        """Drop level reservations made before ``older_than`` (a crashed process's);
        returns how many level rows (one per level of each call)."""

    @abstractmethod
    async def key_hashes(self, kind: str, tenant_id: str) -> list[str]:
        """The token_hash of every key of a team or user, oldest first."""

    @abstractmethod
    async def spend(self, kind: str, tenant_id: str) -> tuple[Decimal, int]:
        """The tenant's spend and number of calls: sums over the ledger rows naming it
        (a row with no known cost counts as a call costing 0)."""
