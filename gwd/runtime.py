"""The running gateway: every long-lived part, built from a Config, started and stopped once.

:class:`Runtime` owns the store, the key cache and authenticator, the router,
the upstream session, the spend recorder, the policy, the proxy and the metrics. Handlers
reach it through ``request.app[RUNTIME]``. ``reload()`` swaps in a new config
without touching calls in flight (each call holds its own deployment tuple).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from aiohttp import web

from . import metrics
from .admission import Slots
from .auth import Authenticator, KeyCache
from .call import Biller
from .confdiff import changes
from .config import Config, ConfigError, load_config
from .dbwatch import DatabaseWatch
from .events import emit
from .journal import SpendJournal, database_name
from .litellm_settings import FallbackRules
from .metrics import Metrics
from .metrics_workers import WorkerShare
from .policy import Policy
from .pricing import PriceTable
from .providers import get_provider
from .proxy import Proxy
from .routing import Router
from .spend import SpendRecorder
from .store import open_store
from .store.base import Store
from .tenant_cache import TenantCache
from .tracing import Tracer
from .upstream import Upstream
from .wildcards import ModelNames

log = logging.getLogger("gwd")

RESERVATION_MAX_AGE = timedelta(hours=1)
HOUSEKEEPING_INTERVAL = 60.0


class Runtime:
    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        g = config.general
        self.store = store or open_store(config.database_url,
                                         pool_size=g.database_connection_pool_limit,
                                         timeout=g.database_connection_timeout)
        self.max_body_bytes = int(g.max_request_body_mb * 1024 * 1024)
        self.cache = KeyCache(self.store, g.key_cache_ttl,
                              stale_if_error=g.allow_requests_on_db_unavailable)
        self.auth = Authenticator(g.master_key, self.cache)
        self.tenants = TenantCache(self.store, g.key_cache_ttl)
        self.prices = PriceTable.packaged()
        self.router = Router(config.router)
        self.upstream = Upstream(config)   # raises ConfigError (a bad CA bundle, proxy URL)
        self.journal = SpendJournal(config.spend_journal_path, database_name(config.database_url),
                                    int(g.spend_journal_max_mb * 1024 * 1024))
        self.recorder = SpendRecorder(self.store, g.spend_flush_interval, self.journal)
        self.metrics = Metrics()
        self.biller = Biller(self.prices, self.recorder, self.metrics)
        self.policy = Policy(config.groups, self.prices, self.store, g.budget_output_allowance,
                             self.recorder, self.tenants)
        self.policy.fallback_rules = _fallback_rules(config)
        self.policy.names = _model_names(config)
        self.proxy = Proxy(self.router, self.upstream, self.biller, config.router, self.metrics)
        _load_providers(config)
        self.draining = False
        self.slots = Slots()
        self.dbwatch = DatabaseWatch(self.store)
        self.metrics_share: WorkerShare | None = None  # under --workers (metrics_workers)
        self.tracer = self.biller.tracer = Tracer.from_config(config)  # None: traces off
        self.started_at = datetime.now(UTC)
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Proxy calls being served now (see :mod:`gwd.admission`)."""
        return self.slots.in_flight

    @property
    def groups(self) -> dict[str, tuple]:  # type: ignore[type-arg]
        return self.policy.groups  # type: ignore[return-value]

    async def start(self) -> None:
        await self.store.open()
        await self.store.listen(self._key_changed)
        await self.upstream.start()
        self._check_db_fault_settings()
        await self.recorder.start()  # replays what an earlier run left in the journal
        self._housekeeping = asyncio.create_task(self._housekeep(), name="gwd-housekeeping")
        self.metrics_share = WorkerShare.from_env(lambda: metrics.collect(self))
        if self.metrics_share is not None:
            self.metrics_share.start()

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.dbwatch.close()
        if self.metrics_share is not None:
            await self.metrics_share.close()
        if self.tracer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.tracer.shutdown)
        await self.recorder.close()
        await self.upstream.close()
        await self.store.close()

    def _check_db_fault_settings(self) -> None:
        problem = self.journal.writable()
        if problem:
            log.warning("spend journal %s: %s; while the database is down, spend rows will be "
                        "kept in memory only (set general_settings.spend_journal to a writable "
                        "path)", self.journal.path, problem)
        if self.config.general.allow_requests_on_db_unavailable:
            log.warning("allow_requests_on_db_unavailable is on: while the database is down, "
                        "keys already in the cache keep serving past key_cache_ttl (fail open)")

    def _key_changed(self, token_hash: str) -> None:
        self.cache.invalidate(token_hash)
        self.tenants.invalidate(token_hash)

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                cutoff = datetime.now(UTC) - RESERVATION_MAX_AGE
                await self.store.expire_reservations(cutoff)
                await self.store.tenants.expire_reservations(cutoff)
            except Exception:
                log.warning("housekeeping: could not expire old budget reservations")

    def reload(self, trigger: str = "http") -> Config:
        """Re-read the config file; raises ConfigError and keeps the old config if bad.
        Either way one ``config_reloaded`` / ``config_reload_failed`` event is logged,
        naming what changed (:mod:`gwd.confdiff`) or why not, and the ``trigger``."""
        old = self.config
        try:
            new = self._reload()
        except ConfigError as exc:
            emit(logging.ERROR, "config_reload_failed", trigger=trigger, path=old.path,
                 error=exc, result="config not reloaded, the old one keeps serving")
            raise
        changed = changes(old, new)
        emit(logging.INFO, "config_reloaded", trigger=trigger, path=new.path,
             model_groups=len(new.groups), deployments=len(new.deployments),
             changed=",".join(changed) or "nothing")
        return new

    def _reload(self) -> Config:
        new = load_config(self.config.path)
        if new.database_url != self.config.database_url:
            raise ConfigError(new.path, "general_settings.database_url",
                              "cannot change while gwd runs; restart gwd to move databases")
        _load_providers(new)
        self.upstream.configure(new)
        self.config = new
        self.auth = Authenticator(new.general.master_key, self.cache)
        self.cache.stale_if_error = new.general.allow_requests_on_db_unavailable
        self.router.settings = new.router
        self.proxy.settings = new.router
        self.policy.groups = new.groups
        self.policy.fallback_rules = _fallback_rules(new)
        self.policy.names = _model_names(new)
        self.policy.output_allowance = new.general.budget_output_allowance
        for warning in new.warnings:
            log.warning("config: %s", warning)
        return new


def _fallback_rules(config: Config) -> FallbackRules | None:
    rules = config.litellm.fallbacks
    return rules if rules.groups() else None


def _model_names(config: Config) -> ModelNames | None:
    names = ModelNames(config.groups, config.litellm.model_group_alias,
                       config.litellm.hidden_aliases)
    return names if names else None


def _load_providers(config: Config) -> None:
    """Import the translators the config uses now, not on a first call."""
    for deployments in config.groups.values():
        for dep in deployments:
            get_provider(dep.provider)


RUNTIME = web.AppKey("gw.runtime", Runtime)
