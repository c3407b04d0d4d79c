"""One admitted client call, and how it ends up in the ledger.

A :class:`Call` is made by the policy once the caller may make it (model
resolved, budget reserved). Whatever happens next, ``Call.bill`` is called
exactly once — success, upstream failure or client gone — and turns the
outcome into one :class:`~gwd.store.base.LedgerRow` for the spend recorder.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .auth import Identity
from .config import Deployment
from .metrics import Metrics
from .pricing import PriceTable
from .providers.base import Usage
from .rates import capped, usage_cost
from .schema import CallRequest
from .spend import SpendRecorder
from .store.base import LedgerRow

if TYPE_CHECKING:
    from .fallbacks import FallbackPlan
    from .tracing import Tracer

log = logging.getLogger("gwd.spend")
OVER_REPORT_LOG_EVERY = 60.0   # seconds between two over-report log lines per deployment
_random_bits = random.getrandbits  # not a secret: see providers.base.random_hex


def usage_caps(req: CallRequest) -> tuple[int, int | None]:
    """The most prompt and completion tokens a call can produce: its prompt bound, and
    ``max_tokens`` x ``n`` (x ``best_of`` when larger; plus the prompt when ``echo``
    repeats it), None when the client set no ``max_tokens``; embeddings produce none."""
    if req.endpoint == "embeddings":
        return req.prompt_bound, 0
    cap = req.max_tokens
    if cap is not None and req.endpoint == "completions":
        body = req.body
        n, best_of = body.get("n") or 1, body.get("best_of") or 1
        if best_of > n:
            cap = cap // n * best_of
        if body.get("echo") is True:
            cap += req.prompt_bound
    return req.prompt_bound, cap


def new_request_id() -> str:
    """``req_`` + 32 hex digits: the time in ms (12 digits), then 80 random bits.

    Ordered by time, like a UUIDv7, so the ledger's request_id index grows at its
    right edge: a batch of rows dirties a few index pages, not one page per row (with
    random ids, SQLite wrote ~4 KB of WAL per row and spent ~35 µs/request committing).
    """
    return f"req_{(time.time_ns() // 1_000_000) << 80 | _random_bits(80):032x}"


@dataclass(slots=True)
class Call:
    request: CallRequest
    identity: Identity
    group: str
    deployments: tuple[Deployment, ...]
    reserved: Decimal | None = None
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    billed: bool = False
    cost: Decimal | None = None
    row: LedgerRow | None = None          # its ledger row, once billed (for the access log)
    fallbacks: FallbackPlan | None = None  # where to go once the group fails (fallbacks.py)
    max_attempts: int | None = None       # the request's num_retries + 1 (call_options.py)
    timeout: float | None = None          # the request's timeout, seconds
    attempts: list[Any] | None = None     # tracing.Attempt per upstream try, when traced
    output: Any = None                    # the answer, when traced with content capture
    # team, user, organisation, end-user (admission.Levels ids; None when not in one)
    owners: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)
    response_id: str | None = None  # the answer's id (chatcmpl-..., msg_..., resp_...)


class Biller:
    """Prices a finished call and hands its ledger row to the spend recorder."""

    def __init__(self, prices: PriceTable, recorder: SpendRecorder, metrics: Metrics) -> None:
        self.prices = prices
        self.tracer: Tracer | None = None  # set by the runtime when traces are on
        self.recorder = recorder
        self.metrics = metrics
        self._warned: set[str] = set()
        self._over_logged: dict[str, float] = {}

    def bill(self, call: Call, dep: Deployment | None, usage: Usage | None,
             status: str, http_status: int = 200) -> Decimal | None:
        """Record the call once; returns its cost (None when the model has no price).
        ``http_status`` is what the client got (a stream that began is a 200)."""
        if call.billed:
            return call.cost
        call.billed = True
        cost: Decimal | None = Decimal(0)
        prompt = completion = 0
        over = False
        if usage is not None and dep is not None:
            prompt_cap, completion_cap = usage_caps(call.request)
            if not usage.estimated and (usage.prompt_tokens > prompt_cap or (
                    completion_cap is not None and usage.completion_tokens > completion_cap)):
                over = True
                usage = self._over_reported(call, dep, usage, prompt_cap, completion_cap)
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            price = self.prices.price_for(dep)
            if price is None:
                cost = None
                if dep.id not in self._warned:
                    self._warned.add(dep.id)
                    log.warning("no price known for deployment %s (%s): its calls are recorded "
                                "with tokens and cost null; set input_cost_per_token and "
                                "output_cost_per_token in its litellm_params", dep.id,
                                dep.litellm_model)
            else:
                cost = usage_cost(price, usage)
        call.cost = cost
        req = call.request
        elapsed = time.perf_counter() - call.started
        # positional: sixteen keyword arguments cost ~0.8 µs more per call (CPython 3.11)
        row = call.row = LedgerRow(
            call.request_id, datetime.now(UTC),                  # request_id, time
            call.identity.token_hash, call.identity.alias,       # key_hash, key_alias
            req.endpoint if req.door is None else req.door.name,  # endpoint
            req.model, call.group,                               # requested_model, model_group
            dep.id if dep else "", dep.provider if dep else "",  # deployment, provider
            prompt, completion, cost,                            # prompt/completion_tokens, cost
            int(elapsed * 1000), status,                         # latency_ms, status
            req.stream, bool(usage and usage.estimated),         # stream, usage_estimated
            usage.detail() if usage is not None else None,       # usage_detail
            over, *call.owners,      # usage_over_reported; team, user, org, end_user
            call.response_id)        # response_id
        self.recorder.add(row, reserved=call.reserved is not None)
        key = call.identity.key
        self.metrics.call(row, elapsed, http_status, key.key_id if key is not None else "master")
        if self.tracer is not None:
            self.tracer.call(call, row, http_status, call.output)
        return cost

    def _over_reported(self, call: Call, dep: Deployment, usage: Usage, prompt_cap: int,
                       completion_cap: int | None) -> Usage:
        """The upstream reported more than the call could produce: counted, logged (once a
        minute per deployment), and for a budgeted call billed at the cap."""
        budgeted = call.reserved is not None
        self.metrics.over_reported(call.group, dep.id, budgeted)
        now = time.monotonic()
        if now - self._over_logged.get(dep.id, -OVER_REPORT_LOG_EVERY) >= OVER_REPORT_LOG_EVERY:
            self._over_logged[dep.id] = now
            log.warning("deployment %s reported usage %d+%d tokens for %s, more than it could "
                        "produce (at most %d prompt, %s completion); %s", dep.id,
                        usage.prompt_tokens, usage.completion_tokens, call.request_id,
                        prompt_cap, "any" if completion_cap is None else completion_cap,
                        "billed at the cap (budgeted key)" if budgeted
                        else "billed as reported (no budget); flagged in the ledger")
        return capped(usage, prompt_cap, completion_cap) if budgeted else usage

    async def settle(self, call: Call) -> None:
        """Close a budgeted call's reservation at its real cost now, before its answer is
        sent (SPEC §5: the next call sees exactly budget minus spend). No-op otherwise."""
        if call.reserved is not None and call.row is not None:
            await self.recorder.settle(call.row)
