"""Who is calling: bearer credential -> SHA-256 -> master key or a virtual key record.

The credential comes from ``Authorization: Bearer <key>``, ``api-key: <key>`` or
(Anthropic's SDK) ``x-api-key: <key>``, in that order (never from the query string).
The master key is compared in constant time.
Virtual keys are looked up by the full SHA-256 of the credential in
:class:`KeyCache` (short TTL, single flight per key, invalidated on change), so
the hot path does not touch the database. An unknown key is remembered for a
second (with whether it was deleted, so the 401 can say which). Every failure is an
:class:`AuthenticationError` (401) or, when the store cannot be reached,
:class:`ServiceUnavailable` (503) — there is no path that yields an empty identity;
an unexpected error while looking a key up is a 503 too. A request with two
``Authorization`` (or two ``api-key``) headers is refused: which one counts would
be up to whoever reads it. Error messages never echo the credential.

While the database is down (fail closed, the default): a key already in the
cache keeps working until its entry is ``key_cache_ttl`` old (5 s by default),
which carries the proxy through a short blip; after that, and for every key not
in the cache, the answer is 503 ``database_unavailable`` — never 401, never an
empty identity. ``allow_requests_on_db_unavailable`` (opt-in, like LiteLLM's
setting of that name) lets cached keys serve on past their TTL until the
database is back; unknown keys still get 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import AuthenticationError, ServiceUnavailable
from .memo import IdentityMemo
from .store.base import KeyRecord, Store, StoreUnavailable

log = logging.getLogger("gwd.auth")
MAX_CREDENTIAL_LEN = 512
NEGATIVE_TTL = 1.0
CACHE_SIZE = 100_000


def key_digest(raw: str) -> bytes:
    """SHA-256 of a presented key's UTF-8 text."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()


def hash_key(raw: str) -> str:
    """The only form in which gw keeps a virtual key: SHA-256 hex of the UTF-8 text."""
    return key_digest(raw).hex()


@dataclass(frozen=True, slots=True)
class DeletedKey:
    """Cache entry for a key that existed and was deleted (so the 401 can say so)."""

    deleted_at: datetime


CachedKey = KeyRecord | DeletedKey | None


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: the master key, or one virtual key."""

    master: bool
    key: KeyRecord | None = None

    @property
    def token_hash(self) -> str | None:
        return None if self.key is None else self.key.token_hash

    @property
    def alias(self) -> str | None:
        return None if self.key is None else self.key.key_alias


MASTER = Identity(master=True)


def credential(headers: Mapping[str, str]) -> str | None:
    """The presented key, from ``Authorization: Bearer`` or ``api-key``; None if absent."""
    auth = headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None
    value = headers.get("api-key")
    if value is None:
        value = headers.get("x-api-key")
    return value.strip() if value and value.strip() else None


def ambiguous(headers: Mapping[str, str]) -> bool:
    """Whether more than one credential header of a kind was sent."""
    getall = getattr(headers, "getall", None)
    return getall is not None and (len(getall("Authorization", ())) > 1
                                   or len(getall("api-key", ())) > 1
                                   or len(getall("x-api-key", ())) > 1)


class KeyCache:
    """Key records by hash, trusted for ``ttl`` seconds; absent keys for 1 s.

    With ``stale_if_error``, a key record past its TTL is still returned while the
    store is unavailable (fail open for known keys; see the module docstring)."""

    def __init__(self, store: Store, ttl: float,
                 clock: Callable[[], float] = time.monotonic, *,
                 stale_if_error: bool = False) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.stale_if_error = stale_if_error
        self._entries: OrderedDict[str, tuple[CachedKey, float]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[CachedKey]] = {}
        self._generation = 0

    async def get(self, token_hash: str) -> CachedKey:
        entry = self._entries.get(token_hash)
        if entry is not None:  # checked here, not in _load_once: a hit costs no coroutine
            record, fetched = entry
            if self.clock() - fetched < (self.ttl if isinstance(record, KeyRecord)
                                         else NEGATIVE_TTL):
                return record
        try:
            return await self._load_once(token_hash)
        except StoreUnavailable:
            entry = self._entries.get(token_hash)
            if self.stale_if_error and entry is not None and isinstance(entry[0], KeyRecord):
                return entry[0]
            raise

    async def _load_once(self, token_hash: str) -> CachedKey:
        """Load a key missing from the cache (or stale); concurrent callers share one load."""
        pending = self._loading.get(token_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedKey] = asyncio.get_running_loop().create_future()
        self._loading[token_hash] = future
        generation = self._generation
        try:
            record = await self._load(token_hash)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(token_hash, None)
        if generation == self._generation:
            self.put(token_hash, record)
        future.set_result(record)
        return record

    async def _load(self, token_hash: str) -> CachedKey:
        record = await self.store.get_key(token_hash)
        if record is not None:
            return record
        deleted = await self.store.deleted_at(token_hash)
        return DeletedKey(deleted) if deleted is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, token_hash: str, record: CachedKey) -> None:
        self._entries[token_hash] = (record, self.clock())
        self._entries.move_to_end(token_hash)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)

    def invalidate(self, token_hash: str) -> None:
        """Forget one key (``"*"``: forget every key), including loads in flight."""
        self._generation += 1
        if token_hash == "*":
            self._entries.clear()
        else:
            self._entries.pop(token_hash, None)


class Authenticator:
    """Turns request headers into an :class:`Identity` or raises."""

    def __init__(self, master_key: str | None, cache: KeyCache) -> None:
        self.open = master_key is None
        self._master_digest = key_digest(master_key) if master_key else b""
        self.cache = cache
        # a record's Identity and expiry (POSIX time): made once per record, not per call
        self._known: IdentityMemo[KeyRecord, tuple[Identity, float]] = IdentityMemo()

    def is_master(self, raw: str) -> bool:
        return self.is_master_digest(key_digest(raw))

    def is_master_digest(self, digest: bytes) -> bool:
        """Whether ``digest`` (:func:`key_digest`) is the master key's: constant time."""
        return bool(self._master_digest) and hmac.compare_digest(digest, self._master_digest)

    async def identify(self, headers: Mapping[str, str]) -> Identity:
        if not self.open and ambiguous(headers):
            raise AuthenticationError("Send one API key: this request has more than one "
                                      "Authorization (or api-key) header.")
        raw = credential(headers)
        if raw is None:
            if self.open:
                return MASTER
            raise AuthenticationError(
                "No API key provided. Send 'Authorization: Bearer <key>'.",
                code="missing_api_key")
        if len(raw) > MAX_CREDENTIAL_LEN:
            raise AuthenticationError("Invalid API key.")
        digest = key_digest(raw)  # one hash per call: the master check and the cache key
        if self.is_master_digest(digest):
            return MASTER
        try:
            record = await self.cache.get(digest.hex())
        except StoreUnavailable:
            raise ServiceUnavailable("The key database is unavailable; try again shortly.",
                                     code="database_unavailable") from None
        except Exception:  # fail closed: never 500 (or worse) for a key we could not check
            log.exception("key lookup failed")
            raise ServiceUnavailable("The key database is unavailable; try again shortly.",
                                     code="database_unavailable") from None
        if not isinstance(record, KeyRecord):
            if self.open:
                return MASTER
            if isinstance(record, DeletedKey):
                raise AuthenticationError("This API key was deleted.", code="deleted_key")
            raise AuthenticationError("Invalid API key.")
        if record.blocked:  # LiteLLM's words; the master key unblocks (/key/unblock)
            raise AuthenticationError("Key is blocked. Update via /key/unblock if you're an "
                                      "admin.", code="blocked_key")
        known = self._known.get(record)
        if known is None:
            known = self._known.put(record, (
                Identity(master=False, key=record),
                math.inf if record.expires is None else record.expires.timestamp()))
        if time.time() >= known[1]:
            assert record.expires is not None
            raise AuthenticationError(
                f"This API key expired at {record.expires.isoformat()}.", code="expired_key")
        return known[0]
