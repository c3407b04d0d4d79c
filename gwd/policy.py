"""May this caller make this call? Alias resolution, the models check, budget reservation.

Order matters and is fixed: the key's alias for the requested name is applied
first (one level: an alias names a model group, never another alias), then the
*resolved* group must be configured (else 400 ``model_not_found``) and be in
the key's ``models`` when that list is non-empty (else 403
``model_not_allowed``) — so an alias can never reach a group outside the list.

Budgets (SPEC §5): a key with ``max_budget`` reserves the call's worst-case
cost before it goes upstream — prompt bound x the group's highest input price
plus ``max_tokens`` x its highest output price — and is refused (400
``budget_exceeded``, no upstream call) when that does not fit in what remains.
Calls without ``max_tokens`` reserve an output allowance, or whatever remains
if that is less. The store makes the reservation atomic across replicas.

No call is admitted that could not be billed: while the spend recorder's
buffer is full (the database and the spend journal both refusing rows), every
call gets 503 ``spend_backlog_full``; a failed reservation is 503 too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from decimal import Decimal

from . import call_options, tenancy
from .auth import Identity
from .call import Call
from .config import Deployment
from .errors import (
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from .fallbacks import plan as plan_fallbacks
from .litellm_settings import FallbackRules
from .model_info import serves
from .money import to_json
from .pricing import PriceTable
from .providers import get_provider
from .providers.base import Endpoint
from .rates import bound_cost
from .schema import CallRequest
from .spend import SpendRecorder
from .store.base import KeyRecord, Store, StoreUnavailable
from .store.tenants import LevelRefusal
from .tenant_cache import TenantCache
from .wildcards import ModelNames

ENDPOINT_NAMES = {"chat": "chat completions", "completions": "text completions",
                  "embeddings": "embeddings"}


def resolve_model(key: KeyRecord | None, requested: str,
                  groups: Mapping[str, tuple[Deployment, ...]],
                  levels: tenancy.Levels = tenancy.NONE) -> str:
    """The model group a call goes to, or the error that refuses it. A key's alias wins
    over its team's; either way the group must be in every list that applies."""
    group = requested
    if key is not None:
        group = key.aliases.get(requested, requested)
    if group == requested:
        group = tenancy.team_alias(levels, requested) or group
    if group not in groups or "*" in group:  # a wildcard group is reached by matching
        shown = requested[:100]
        raise ModelNotFound(f"The model '{shown}' does not exist or is not served here.",
                            param="model")
    if key is not None and key.models and group not in key.models:
        raise PermissionDenied(f"This key may not use the model '{requested[:100]}'.",
                               code="model_not_allowed")
    tenancy.check(levels, group, requested)
    return group


def allowed_models(key: KeyRecord | None, groups: Mapping[str, object],
                   extra: Iterable[str] = ()) -> list[str]:
    """What ``/models`` lists for a caller: reachable groups and their aliases, plus
    ``extra`` (model_group_alias names and wildcard expansions, already checked)."""
    if key is None:
        return sorted({g for g in groups if "*" not in g} | set(extra))
    names = [g for g in groups if "*" not in g and (not key.models or g in key.models)]
    for alias, target in key.aliases.items():
        if target in groups and (not key.models or target in key.models):
            names.append(alias)
    return sorted({*names, *extra})


def budget_exceeded_message(spend: Decimal, budget: Decimal) -> str:
    """LiteLLM's words (clients match on them), with the key's spend and budget."""
    return (f"Budget has been exceeded! ExceededTokenBudget: Current spend for token: "
            f"{to_json(spend)}; Max Budget for Token: {to_json(budget)}")


class Policy:
    def __init__(self, groups: Mapping[str, tuple[Deployment, ...]], prices: PriceTable,
                 store: Store, output_allowance: int,
                 recorder: SpendRecorder | None = None,
                 tenants: TenantCache | None = None) -> None:
        self.groups = groups
        self.tenants = tenants
        self.prices = prices
        self.store = store
        self.output_allowance = output_allowance
        self.recorder = recorder
        self.fallback_rules: FallbackRules | None = None   # None: no fallbacks configured
        self.names: ModelNames | None = None   # model_group_alias, wildcard groups (if any)

    @property
    def groups(self) -> Mapping[str, tuple[Deployment, ...]]:
        return self._groups

    @groups.setter
    def groups(self, groups: Mapping[str, tuple[Deployment, ...]]) -> None:
        self._groups = groups
        self._serving: dict[tuple[str, str], tuple[Deployment, ...]] = {}

    def serving(self, group: str, endpoint: Endpoint) -> tuple[Deployment, ...]:
        """The group's deployments whose provider supports the endpoint (memoised)."""
        deps = self._serving.get((group, endpoint))
        if deps is None:
            deps = self._serving[(group, endpoint)] = tuple(
                d for d in self._groups[group]
                if get_provider(d.provider).supports(endpoint) and serves(d.mode, endpoint))
        return deps

    async def admit(self, identity: Identity, req: CallRequest) -> Call:
        levels = await self.levels(identity, req)
        try:
            group = resolve_model(identity.key, req.model, self.groups, levels)
            deps = self.serving(group, req.endpoint)
        except ModelNotFound:
            if self.names is None:
                raise
            group, deps = self._named(identity.key, req.model, req.endpoint)
            tenancy.check(levels, group, req.model)
        door = req.door
        if door is not None and deps:
            deps = tuple(d for d in deps if door.serves(d))
            if not deps:
                raise InvalidRequest(f"The model '{req.model[:100]}' cannot serve this "
                                     f"request: {door.refusal()}.", param="model",
                                     code="unsupported_endpoint")
        if not deps:
            unserved = sorted({d.provider for d in self._groups.get(group, ())
                               if getattr(get_provider(d.provider), "unsupported", False)})
            if unserved:
                raise InvalidRequest(f"The model '{req.model[:100]}' is served by provider "
                                     f"{', '.join(p + '/' for p in unserved)}, which gw does "
                                     "not support.", param="model",
                                     code="unsupported_provider")
            raise InvalidRequest(f"The model '{req.model[:100]}' does not support "
                                 f"{ENDPOINT_NAMES[req.endpoint]}.", param="model",
                                 code="unsupported_endpoint")
        if self.recorder is not None and not self.recorder.accepting:
            raise ServiceUnavailable("Spend cannot be recorded right now (the database is "
                                     "unavailable); try again shortly.",
                                     code="spend_backlog_full")
        call = Call(req, identity, group, deps)  # request, identity, group, deployments
        opts = call_options.take(req.body) if call_options.present(req.body) else None
        if opts is not None and opts.mock_response is not None:
            deps = call.deployments = (call_options.mock_deployment(group, opts.mock_response),)
        elif self.fallback_rules is not None or (opts is not None and opts.fallbacks):
            self._plan_fallbacks(call, opts.fallbacks if opts is not None else None, levels)
        if opts is not None:
            call.max_attempts = None if opts.num_retries is None else 1 + opts.num_retries
            call.timeout = opts.timeout
        if levels is not tenancy.NONE:
            call.owners = levels.owners(identity.key, req.body.get("user"))
        key = identity.key
        budgeted = levels.budgeted() if levels is not tenancy.NONE else []
        if (key is not None and key.max_budget is not None) or budgeted:
            reach = deps if call.fallbacks is None else (*deps, *call.fallbacks.deployments())
            if key is not None and key.max_budget is not None:
                await self._reserve(call, key, key.max_budget, reach)
            if budgeted:
                await self._reserve_levels(call, budgeted, reach)
        return call

    async def _reserve_levels(self, call: Call, budgeted: list[tuple[str, str]],
                              deps: tuple[Deployment, ...]) -> None:
        """Reserve the call's worst case at every level with a budget, in one step (after
        the key's, so a key refusal costs the levels nothing); a refusal releases the key's
        reservation. ``call.reserved`` becomes the tighter of the two."""
        amount, partial = self.worst_case(call.request, deps)
        if call.reserved is not None:
            amount = min(amount, call.reserved)
        try:
            grant = await self.store.tenants.reserve(call.request_id, budgeted, amount, partial)
        except StoreUnavailable:
            raise ServiceUnavailable("The spend database is unavailable; try again shortly.",
                                     code="database_unavailable") from None
        if isinstance(grant, LevelRefusal):
            if call.reserved is not None:
                with contextlib.suppress(StoreUnavailable):  # else: expires with its age
                    await self.store.release([call.request_id])
            name = tenancy.KIND_NAMES[grant.kind].capitalize()
            raise BudgetExceeded(
                f"Budget has been exceeded! {name}={grant.id} Current cost: {grant.spend}, "
                f"Max budget: {grant.budget}. This call could cost up to ${amount}, more "
                f"than remains (reserved by calls in flight: ${grant.reserved}).")
        if grant is not None:
            call.reserved = grant

    def _plan_fallbacks(self, call: Call, requested: tuple[str, ...] | None,
                        levels: tenancy.Levels) -> None:
        """The call's fallback groups (gwd/fallbacks.py); ``requested``: the body's."""
        req = call.request
        key = call.identity.key

        def resolve(name: str) -> tuple[str, tuple[Deployment, ...]] | None:
            try:
                try:
                    group = resolve_model(key, name, self.groups, levels)
                except ModelNotFound:
                    if self.names is None:
                        raise
                    named = self._named(key, name, req.endpoint)
                    tenancy.check(levels, named[0], name)
                    return named
            except GatewayError:
                return None  # unknown, or outside the key's models: skipped
            deps = self.serving(group, req.endpoint)
            if req.door is not None:   # a front door: only the deployments it can use
                deps = tuple(d for d in deps if req.door.serves(d))
            return group, deps

        call.fallbacks = plan_fallbacks(self.fallback_rules or FallbackRules(), call.group,
                                        requested, resolve)

    async def levels(self, identity: Identity, req: CallRequest) -> tenancy.Levels:
        """The team, user, organisation and end-user of a call (none for most calls: then
        no lookup at all)."""
        key = identity.key
        team_id = None if key is None else key.team_id
        user_id = None if key is None else key.user_id
        end_user = req.body.get("user")
        if self.tenants is None or (team_id is None and user_id is None and not end_user):
            return tenancy.NONE
        try:
            return await tenancy.load(self.tenants, team_id, user_id,
                                        end_user if isinstance(end_user, str) else None)
        except StoreUnavailable:
            raise ServiceUnavailable("The database is unavailable; try again shortly.",
                                     code="database_unavailable") from None

    async def _current_spend(self, key: KeyRecord) -> Decimal | None:
        """The key's spend as stored (read only on a refusal, for its message)."""
        try:
            current = await self.store.get_key(key.token_hash)
        except StoreUnavailable:
            return None
        return None if current is None else current.spend

    def worst_case(self, req: CallRequest, deps: tuple[Deployment, ...]) -> tuple[Decimal, bool]:
        """The call's worst-case cost over the group's deployments, and whether a partial
        reservation is acceptable (calls without max_tokens)."""
        prices = [self.prices.price_for(d) for d in deps]
        if any(p is None for p in prices):
            raise InvalidRequest(
                "This call has a budget, but the model has no known price, so the budget "
                "could not be enforced; the operator must set its prices.",
                param="model", code="price_unknown")
        if req.endpoint == "embeddings":
            output, partial = 0, False
        elif req.max_tokens is not None:
            output, partial = req.max_tokens, False
        else:
            output, partial = self.output_allowance, True
        worst = max(bound_cost(p, req.prompt_bound, output) for p in prices if p is not None)
        return worst, partial

    def _named(self, key: KeyRecord | None, requested: str,
               endpoint: Endpoint) -> tuple[str, tuple[Deployment, ...]]:
        """A name that is no group: model_group_alias or a wildcard group (wildcards.py)."""
        assert self.names is not None
        name = key.aliases.get(requested, requested) if key is not None else requested
        return self.names.resolve(
            key, name, self.groups, lambda g: self.serving(g, endpoint),
            lambda deps: tuple(d for d in deps if get_provider(d.provider).supports(endpoint)
                               and serves(d.mode, endpoint)))

    async def _reserve(self, call: Call, key: KeyRecord, budget: Decimal,
                       deps: tuple[Deployment, ...]) -> None:
        if key.spend >= budget:
            raise BudgetExceeded(budget_exceeded_message(key.spend, budget))
        amount, partial = self.worst_case(call.request, deps)
        try:
            reserved = await self.store.reserve(key.token_hash, call.request_id, amount,
                                                budget, partial)
        except StoreUnavailable:
            raise ServiceUnavailable("The spend database is unavailable; try again shortly.",
                                     code="database_unavailable") from None
        if reserved is None:
            spend = await self._current_spend(key)
            if spend is not None and spend >= budget:
                raise BudgetExceeded(budget_exceeded_message(spend, budget))
            raise BudgetExceeded(
                f"This call could cost up to ${amount}, more than remains of this key's "
                f"budget of ${budget}. Lower max_tokens or raise the budget. "
                + budget_exceeded_message(spend if spend is not None else key.spend, budget))
        call.reserved = reserved
