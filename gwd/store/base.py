"""The store contract: what gwd keeps on disk, behind one interface with two backends.

Records are frozen dataclasses; money is :class:`~decimal.Decimal` (12 places);
times are timezone-aware UTC datetimes. Keys are identified by the SHA-256 hex
of the raw key (``token_hash``) — the raw key never reaches a store — and also
carry a public ``key_id`` (e.g. ``key-`` + 16 hex digits) that names a key
without its secret or its hash. A deleted key leaves a tombstone (its hash and
the time it was deleted), so gwd can say "this key was deleted".

Backends (``sqlite.py``, ``postgres.py``) each own their SQL, always with bound
parameters, and an ordered list of named migrations applied by ``open()``.
Every method is a coroutine; backends raise :class:`StoreUnavailable` when the
database cannot be reached, so gwd can answer 503 (fail closed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tenants import TenantStore

KeyChangeCallback = Callable[[str], Awaitable[None] | None]


#: the value ``listen`` callbacks receive when notifications may have been missed
#: (the listening connection dropped and came back): drop the whole key cache.
DROP_ALL = "*"


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation for a transient reason."""


class KeyExists(ValueError):
    """``insert_key`` was given a ``token_hash`` or a ``key_id`` that is already stored."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One virtual key, as stored (never the raw key).

    ``key_id`` is public and unique; it defaults to "" only so that keyword
    construction without it keeps working: ``insert_key`` refuses an empty one.
    Every record a store returns has it set."""

    token_hash: str
    key_name: str                         # "sk-...abcd": safe to display
    created_at: datetime
    expires: datetime | None = None       # None = never
    models: tuple[str, ...] = ()          # () = every model group
    aliases: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    key_alias: str | None = None
    max_budget: Decimal | None = None
    spend: Decimal = Decimal(0)
    requests: int = 0
    reserved: Decimal = Decimal(0)        # sum of open budget reservations
    updated_at: datetime | None = None
    key_id: str = ""                      # "key-0123456789abcdef": public, unique
    team_id: str | None = None            # the team the key belongs to (store.tenants)
    user_id: str | None = None            # the internal user the key belongs to
    blocked: bool = False                 # refused (401) until unblocked


#: fields of a KeyRecord that ``update_key`` may change
UPDATABLE = ("expires", "models", "aliases", "config", "metadata", "key_alias", "max_budget",
             "team_id", "user_id", "blocked")


@dataclass(slots=True)  # not frozen: built on every call, and frozen costs ~1 µs
class LedgerRow:
    """One request in the spend ledger. ``request_id`` is unique: a replay is a no-op."""

    request_id: str
    time: datetime
    key_hash: str | None           # None for calls made with the master key
    key_alias: str | None
    endpoint: str                  # chat | completions | embeddings
    requested_model: str           # what the client asked for (before aliases)
    model_group: str
    deployment: str                # Deployment.id ("" if none was reached)
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal | None           # None = no known price (tokens still recorded)
    latency_ms: int
    status: str                    # success | error | client_closed
    stream: bool = False
    usage_estimated: bool = False
    # the billed parts of the tokens (providers.base.Usage.detail(): cached_tokens,
    # cache_write_tokens, reasoning_tokens, ...), so the bill can be re-derived
    usage_detail: dict[str, int] | None = None
    # the upstream reported more usage than the call could have produced (billed at the cap
    # when the call was budgeted)
    usage_over_reported: bool = False
    team_id: str | None = None     # the levels the call belonged to (tenancy.Levels)
    user_id: str | None = None     # the key's internal user
    org_id: str | None = None      # the team's organisation
    end_user: str | None = None    # the call's end-user (the body's "user")
    # the id of the answer the client got (chatcmpl-..., cmpl-..., msg_..., resp_...)
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class KeySpend:
    token_hash: str
    key_name: str
    key_alias: str | None
    spend: Decimal
    requests: int
    max_budget: Decimal | None
    expires: datetime | None
    key_id: str = ""


@dataclass(frozen=True, slots=True)
class ModelSpend:
    model_group: str
    deployment: str
    provider: str
    spend: Decimal
    requests: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class DaySpend:
    day: str                       # YYYY-MM-DD (UTC)
    spend: Decimal
    requests: int
    prompt_tokens: int
    completion_tokens: int


class Store(ABC):
    """The interface both backends implement (see tests/store for the contract suite)."""

    backend: str = ""
    #: teams, users, end-users and organisations (``tenants.py``), on this store's database
    tenants: TenantStore

    # lifecycle ---------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent, safe with replicas racing)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Return if the database answers; raise StoreUnavailable otherwise."""

    # keys --------------------------------------------------------------------
    @abstractmethod
    async def insert_key(self, record: KeyRecord) -> None:
        """Store a new key (spend/requests/reserved start at zero).

        ``record.key_id`` must be a non-empty string chosen by the caller (e.g.
        ``"key-" + secrets.token_hex(8)``). Raises :class:`KeyExists` if the hash
        or the key_id is already stored and ``ValueError`` for an empty key_id, a
        naive datetime, a negative budget or a field that is not JSON."""

    @abstractmethod
    async def get_key(self, token_hash: str) -> KeyRecord | None: ...

    @abstractmethod
    async def get_key_by_id(self, key_id: str) -> KeyRecord | None:
        """The key whose public ``key_id`` this is; None if there is none (or it was
        deleted)."""

    @abstractmethod
    async def update_key(self, token_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        """Change the UPDATABLE fields given; returns the new record, None if no such key.

        Notifies other replicas (PostgreSQL NOTIFY; SQLite: the key epoch) in the same
        transaction.
        Raises ``ValueError`` for a field outside UPDATABLE or a bad value."""

    @abstractmethod
    async def rekey(self, token_hash: str, new_hash: str, key_name: str) -> KeyRecord | None:
        """Give a key a new secret: the record (key_id, spend, open reservations, ledger
        rows) moves to ``new_hash`` and ``key_name``, in one transaction that notifies
        other replicas that ``token_hash`` changed. None if there is no such key;
        :class:`KeyExists` if ``new_hash`` is taken."""

    @abstractmethod
    async def delete_keys(self, token_hashes: Sequence[str]) -> list[str]:
        """Delete keys (their ledger rows stay); returns the hashes that existed.

        In the same transaction each deleted key leaves a tombstone (token_hash,
        key_id, deletion time) read by :meth:`deleted_at`; a hash that already has
        one keeps the first. Notifies other replicas."""

    @abstractmethod
    async def deleted_at(self, token_hash: str) -> datetime | None:
        """When the key with this hash was deleted (aware UTC; the first deletion if it
        was deleted more than once), or None if it never was. Only meaningful once
        ``get_key`` has found no live key: a hash re-inserted after its deletion keeps
        its tombstone."""

    @abstractmethod
    async def list_keys(self, limit: int = 100, offset: int = 0,
                        key_alias: str | None = None) -> list[KeyRecord]:
        """Keys newest first (only those with this ``key_alias`` if given)."""

    @abstractmethod
    async def count_keys(self, key_alias: str | None = None) -> int:
        """How many keys there are (with this ``key_alias`` if given)."""

    # spend -------------------------------------------------------------------
    @abstractmethod
    async def record(self, rows: Sequence[LedgerRow],
                     settle: Mapping[str, str] | None = None) -> int:
        """Append ledger rows and add their cost/count to their keys, in ONE transaction.

        A row whose ``request_id`` is already in the ledger is skipped (and does not
        count twice). ``settle`` maps request_id -> key_hash of budget reservations
        to close in the same transaction (a reservation with no ledger row — a
        refused or failed call — is closed too). Returns the number of rows added.
        """

    @abstractmethod
    async def reserve(self, token_hash: str, request_id: str, amount: Decimal,
                      budget: Decimal, partial: bool = False) -> Decimal | None:
        """Reserve ``amount`` of the key's budget atomically (across replicas).

        Admitted if ``spend + open reservations + amount <= budget``. With
        ``partial=True`` (calls without max_tokens) reserve ``min(amount,
        remaining)`` while anything remains. Returns the amount reserved, or None
        when refused (also for an unknown key). Calling again with the same
        ``request_id`` returns the open reservation's amount without reserving
        twice. Reservations older than ``expire_reservations``'s age are dropped
        (a crashed replica's)."""

    @abstractmethod
    async def release(self, request_ids: Sequence[str]) -> None:
        """Close reservations whose calls never reached a ledger row."""

    @abstractmethod
    async def expire_reservations(self, older_than: datetime) -> int:
        """Drop reservations created before ``older_than``; returns how many."""

    # reports -----------------------------------------------------------------
    @abstractmethod
    async def spend_by_key(self, since: datetime | None = None,
                           until: datetime | None = None) -> list[KeySpend]:
        """Every key (also those with no spend), highest spend first, then by token_hash.

        Without ``since``/``until``: each key's counters (``spend``, ``requests``
        since it was created). With either bound: summed from the ledger rows with
        ``since <= time < until`` (a key with none has spend 0 and requests 0; a
        row with no known cost counts as a request costing 0). Deleted keys are
        never listed; ``max_budget``, ``expires``, names and key_id are the key's."""

    @abstractmethod
    async def spend_by_model(self, since: datetime | None = None,
                             until: datetime | None = None,
                             token_hash: str | None = None) -> list[ModelSpend]:
        """Per (model_group, deployment, provider), from the ledger rows with
        ``since <= time < until`` (only the key ``token_hash``'s if given), highest
        spend first."""

    @abstractmethod
    async def spend_by_day(self, since: datetime | None = None, until: datetime | None = None,
                           token_hash: str | None = None) -> list[DaySpend]:
        """Per UTC day from the ledger, oldest first."""

    @abstractmethod
    async def spend_logs(self, token_hash: str | None = None, since: datetime | None = None,
                         until: datetime | None = None, limit: int = 100,
                         offset: int = 0) -> list[LedgerRow]:
        """Ledger rows, newest first, ``since <= time < until``."""

    @abstractmethod
    async def spend_log(self, request_id: str) -> LedgerRow | None:
        """The ledger row with this ``request_id``, or None."""

    @abstractmethod
    async def spend_logs_by_response_id(self, response_id: str,
                                        limit: int = 100) -> list[LedgerRow]:
        """The ledger rows whose answer had this id (``LedgerRow.response_id``), newest
        first: an upstream may give several answers one id."""

    # replicas ----------------------------------------------------------------
    async def listen(self, callback: KeyChangeCallback) -> None:  # noqa: B027 (optional)
        """Call ``callback(token_hash)`` whenever another process changes or deletes a
        key. PostgreSQL: LISTEN/NOTIFY. SQLite (processes sharing one file): a poll
        of a key-write counter that calls ``callback(DROP_ALL)`` after any change.
        Default: nothing (single process).

        The callback may be a plain function or a coroutine function, and may also
        be called for changes this process made itself (harmless: the entry is just
        dropped). ``callback(DROP_ALL)`` (``"*"``) means notifications may have been
        missed — the listening connection dropped and has just come back — so the
        whole key cache must be dropped. While the connection is down ``listening``
        is False and the backend reconnects in the background with backoff.
        ``listen`` returns after the first connection attempt, whatever its outcome;
        it is called at most once per store."""

    @property
    def listening(self) -> bool:
        """True while change notifications are known to arrive (caches may trust longer)."""
        return False
