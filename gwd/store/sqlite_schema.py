"""The SQLite schema: an ordered list of named migrations and the code that applies them.

Types, chosen so that SQL compares and sums correctly:

- money is INTEGER pico-dollars (``gwd.money.to_units``); a CHECK on ``typeof``
  makes an int64 overflow (SQLite would silently turn it into a REAL) fail loudly
  instead. ``max_budget`` is decimal TEXT: it is only ever compared in Python, so
  any budget fits.
- times are INTEGER microseconds since the Unix epoch (UTC), so ``<``/``>=`` on
  them are instant comparisons and ``date(us / 1000000, 'unixepoch')`` is the UTC day.
- models / aliases / config / metadata are JSON text.
- ``key_id`` is TEXT under a UNIQUE index; ``gw_deleted_keys`` holds one
  tombstone per deleted token_hash.
- ``gw_key_epoch`` is one row counting key writes (bumped by triggers), polled
  by ``sqlite_watch`` to tell other processes that keys changed.
- ``gw_keys.reserved`` is the sum of the key's open ``gw_reservations`` rows
  (INTEGER pico-dollars), kept so by triggers.

Migrations run in one ``BEGIN IMMEDIATE`` transaction (SQLite DDL is
transactional), so two processes opening the same file apply each one once.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from .tenants_sql import SQLITE_KEY_OWNERS as KEY_OWNERS_MIGRATION
from .tenants_sql import SQLITE_LEDGER_LEVELS as LEDGER_LEVELS_MIGRATION
from .tenants_sql import SQLITE_LEVEL_BUDGETS as LEVEL_BUDGETS_MIGRATION
from .tenants_sql import SQLITE_MIGRATION as TENANTS_MIGRATION


class Migration(NamedTuple):
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_keys", (
        """CREATE TABLE gw_keys (
            token_hash  TEXT PRIMARY KEY,
            key_name    TEXT NOT NULL,
            key_alias   TEXT,
            models      TEXT NOT NULL DEFAULT '[]',
            aliases     TEXT NOT NULL DEFAULT '{}',
            config      TEXT NOT NULL DEFAULT '{}',
            metadata    TEXT NOT NULL DEFAULT '{}',
            max_budget  TEXT,
            spend       INTEGER NOT NULL DEFAULT 0 CHECK (typeof(spend) = 'integer'),
            requests    INTEGER NOT NULL DEFAULT 0 CHECK (typeof(requests) = 'integer'),
            expires     INTEGER,
            created_at  INTEGER NOT NULL,
            updated_at  INTEGER
        )""",
        "CREATE INDEX gw_keys_created ON gw_keys (created_at)",
    )),
    Migration("0002_spend_log", (
        """CREATE TABLE gw_spend_log (
            request_id        TEXT PRIMARY KEY,
            time              INTEGER NOT NULL,
            key_hash          TEXT,
            key_alias         TEXT,
            endpoint          TEXT NOT NULL,
            requested_model   TEXT NOT NULL,
            model_group       TEXT NOT NULL,
            deployment        TEXT NOT NULL,
            provider          TEXT NOT NULL,
            prompt_tokens     INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost              INTEGER CHECK (cost IS NULL OR typeof(cost) = 'integer'),
            latency_ms        INTEGER NOT NULL,
            status            TEXT NOT NULL,
            stream            INTEGER NOT NULL,
            usage_estimated   INTEGER NOT NULL
        )""",
        "CREATE INDEX gw_spend_log_key_time ON gw_spend_log (key_hash, time)",
        "CREATE INDEX gw_spend_log_time ON gw_spend_log (time)",
    )),
    Migration("0003_reservations", (
        """CREATE TABLE gw_reservations (
            request_id  TEXT PRIMARY KEY,
            token_hash  TEXT NOT NULL,
            amount      INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
            created_at  INTEGER NOT NULL
        )""",
        "CREATE INDEX gw_reservations_key ON gw_reservations (token_hash)",
        "CREATE INDEX gw_reservations_created ON gw_reservations (created_at)",
    )),
    # A public, unique name for every key. SQLite cannot add a NOT NULL or UNIQUE
    # column: keys from before get a random id, a UNIQUE index guards it, and a
    # trigger fills one in for a row inserted without it (an older gwd sharing the
    # file), so no stored key is ever without a key_id.
    Migration("0004_key_id", (
        "ALTER TABLE gw_keys ADD COLUMN key_id TEXT",
        "UPDATE gw_keys SET key_id = 'key-' || lower(hex(randomblob(8))) WHERE key_id IS NULL",
        "CREATE UNIQUE INDEX gw_keys_key_id ON gw_keys (key_id)",
        """CREATE TRIGGER gw_keys_key_id_fill AFTER INSERT ON gw_keys
            FOR EACH ROW WHEN NEW.key_id IS NULL
        BEGIN
            UPDATE gw_keys SET key_id = 'key-' || lower(hex(randomblob(8)))
            WHERE token_hash = NEW.token_hash;
        END""",
    )),
    # Tombstones of deleted keys (written by delete_keys in its transaction).
    Migration("0005_deleted_keys", (
        """CREATE TABLE gw_deleted_keys (
            token_hash  TEXT PRIMARY KEY,
            key_id      TEXT NOT NULL,
            deleted_at  INTEGER NOT NULL
        )""",
    )),
    # A counter bumped by triggers, in the writing transaction, on every insert, update
    # and delete of a key (also by an older gwd sharing the file): SQLiteStore.listen
    # polls it so that every process drops its key cache after a change made by any
    # other. Spend counters (record: spend, requests) are left out of the UPDATE OF
    # list, so spending does not empty the caches. A migration adding a column to
    # gw_keys must recreate gw_keys_epoch_update with the column in its list.
    Migration("0006_key_epoch", (
        """CREATE TABLE gw_key_epoch (
            id     INTEGER PRIMARY KEY CHECK (id = 1),
            epoch  INTEGER NOT NULL
        )""",
        "INSERT INTO gw_key_epoch (id, epoch) VALUES (1, 0)",
        """CREATE TRIGGER gw_keys_epoch_insert AFTER INSERT ON gw_keys
        BEGIN
            UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1;
        END""",
        """CREATE TRIGGER gw_keys_epoch_update AFTER UPDATE OF token_hash, key_name,
            key_alias, models, aliases, config, metadata, max_budget, expires, created_at,
            updated_at, key_id ON gw_keys
        BEGIN
            UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1;
        END""",
        """CREATE TRIGGER gw_keys_epoch_delete AFTER DELETE ON gw_keys
        BEGIN
            UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1;
        END""",
    )),
    # Each key's open reservations as a running total (pico-dollars), so that a
    # reservation is one conditional INSERT reading the key row instead of a sum over
    # gw_reservations. Triggers keep it equal to the sum of the key's rows in the
    # writing transaction, whoever writes them (also an older gwd sharing the file).
    # Like spend, it is left out of gw_keys_epoch_update's column list: reserving does
    # not empty the key caches.
    Migration("0007_reserved_counter", (
        "ALTER TABLE gw_keys ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0"
        " CHECK (typeof(reserved) = 'integer')",
        """CREATE TRIGGER gw_reservations_count_insert AFTER INSERT ON gw_reservations
        BEGIN
            UPDATE gw_keys SET reserved = reserved + NEW.amount
            WHERE token_hash = NEW.token_hash;
        END""",
        """CREATE TRIGGER gw_reservations_count_delete AFTER DELETE ON gw_reservations
        BEGIN
            UPDATE gw_keys SET reserved = reserved - OLD.amount
            WHERE token_hash = OLD.token_hash;
        END""",
        """CREATE TRIGGER gw_reservations_count_update AFTER UPDATE OF token_hash, amount
            ON gw_reservations
        BEGIN
            UPDATE gw_keys SET reserved = reserved - OLD.amount
            WHERE token_hash = OLD.token_hash;
            UPDATE gw_keys SET reserved = reserved + NEW.amount
            WHERE token_hash = NEW.token_hash;
        END""",
        """UPDATE gw_keys SET reserved = (
            SELECT coalesce(sum(r.amount), 0) FROM gw_reservations r
            WHERE r.token_hash = gw_keys.token_hash)""",
    )),
    # Each ledger row keeps the billed parts of its tokens (cached, cache writes,
    # reasoning, audio, web searches: a JSON object, NULL when there are none) and
    # whether the upstream reported more usage than the call could have produced.
    Migration("0008_ledger_usage_detail", (
        "ALTER TABLE gw_spend_log ADD COLUMN usage_detail TEXT",
        "ALTER TABLE gw_spend_log ADD COLUMN usage_over_reported INTEGER NOT NULL DEFAULT 0",
    )),
    # Teams, internal users, end-users and organisations (tenants_sql.py).
    Migration("0100_tenants", TENANTS_MIGRATION),
    Migration("0101_key_owners", KEY_OWNERS_MIGRATION),
    Migration("0102_ledger_levels", LEDGER_LEVELS_MIGRATION),
    Migration("0103_level_budgets", LEVEL_BUDGETS_MIGRATION),
    # /key/block: a blocked key is refused. Blocking must reach every process's key
    # cache, so the epoch trigger is recreated with the new column in its list.
    Migration("0009_key_blocked", (
        "ALTER TABLE gw_keys ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0",
        "DROP TRIGGER gw_keys_epoch_update",
        """CREATE TRIGGER gw_keys_epoch_update AFTER UPDATE OF token_hash, key_name,
            key_alias, models, aliases, config, metadata, max_budget, expires, created_at,
            updated_at, key_id, blocked ON gw_keys
        BEGIN
            UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1;
        END""",
    )),
    # The id of the answer the client got (chatcmpl-..., msg_..., resp_...): LiteLLM's
    # clients look their call up with it (/spend/logs?request_id=). NULL for older rows
    # and calls without an answer.
    Migration("0010_ledger_response_id", (
        "ALTER TABLE gw_spend_log ADD COLUMN response_id TEXT",
        "CREATE INDEX gw_spend_log_response_id ON gw_spend_log (response_id)"
        " WHERE response_id IS NOT NULL",
    )),
)

_CREATE_MIGRATIONS = """CREATE TABLE IF NOT EXISTS gw_migrations (
    name        TEXT PRIMARY KEY,
    applied_at  TEXT NOT NULL
)"""


def migrate(conn: sqlite3.Connection,
            migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations in one write transaction; returns the names applied.

    ``migrations``: MIGRATIONS but in tests (a database as an older gwd left it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_MIGRATIONS)
        done = {name for (name,) in conn.execute("SELECT name FROM gw_migrations")}
        applied: list[str] = []
        for migration in MIGRATIONS if migrations is None else migrations:
            if migration.name in done:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO gw_migrations (name, applied_at) VALUES (?, ?)",
                         (migration.name, datetime.now(UTC).isoformat()))
            applied.append(migration.name)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
