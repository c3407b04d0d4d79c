"""The PostgreSQL schema: an ordered list of named migrations and the code that applies them.

Money is ``NUMERIC(30,12)`` (exact, 18 integer digits), times ``timestamptz``,
JSON fields ``jsonb``; ``key_id`` is UNIQUE and ``gw_deleted_keys`` holds one
tombstone per deleted token_hash. ``gw_keys.reserved`` is the sum of the key's
open ``gw_reservations`` rows, kept so by triggers. ``migrate``
runs in one transaction that first takes a transaction-scoped advisory lock, so
replicas starting together apply each migration exactly once: the others wait,
then find nothing left to do.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import asyncpg

from .tenants_sql import PG_KEY_OWNERS as KEY_OWNERS_MIGRATION
from .tenants_sql import PG_LEDGER_LEVELS as LEDGER_LEVELS_MIGRATION
from .tenants_sql import PG_LEVEL_BUDGETS as LEVEL_BUDGETS_MIGRATION
from .tenants_sql import PG_MIGRATION as TENANTS_MIGRATION

#: pg_advisory_xact_lock key guarding migrations ("gw_migra" in ASCII)
MIGRATION_LOCK = 0x67775F6D69677261


class Migration(NamedTuple):
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_keys", (
        """CREATE TABLE gw_keys (
            token_hash  text PRIMARY KEY,
            key_name    text NOT NULL,
            key_alias   text,
            models      jsonb NOT NULL DEFAULT '[]'::jsonb,
            aliases     jsonb NOT NULL DEFAULT '{}'::jsonb,
            config      jsonb NOT NULL DEFAULT '{}'::jsonb,
            metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
            max_budget  numeric(30, 12),
            spend       numeric(30, 12) NOT NULL DEFAULT 0,
            requests    bigint NOT NULL DEFAULT 0,
            expires     timestamptz,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz
        )""",
        "CREATE INDEX gw_keys_created ON gw_keys (created_at)",
    )),
    Migration("0002_spend_log", (
        """CREATE TABLE gw_spend_log (
            request_id        text PRIMARY KEY,
            time              timestamptz NOT NULL,
            key_hash          text,
            key_alias         text,
            endpoint          text NOT NULL,
            requested_model   text NOT NULL,
            model_group       text NOT NULL,
            deployment        text NOT NULL,
            provider          text NOT NULL,
            prompt_tokens     bigint NOT NULL,
            completion_tokens bigint NOT NULL,
            cost              numeric(30, 12),
            latency_ms        bigint NOT NULL,
            status            text NOT NULL,
            stream            boolean NOT NULL,
            usage_estimated   boolean NOT NULL
        )""",
        "CREATE INDEX gw_spend_log_key_time ON gw_spend_log (key_hash, time)",
        "CREATE INDEX gw_spend_log_time ON gw_spend_log (time)",
    )),
    Migration("0003_reservations", (
        """CREATE TABLE gw_reservations (
            request_id  text PRIMARY KEY,
            token_hash  text NOT NULL,
            amount      numeric(30, 12) NOT NULL,
            created_at  timestamptz NOT NULL
        )""",
        "CREATE INDEX gw_reservations_key ON gw_reservations (token_hash)",
        "CREATE INDEX gw_reservations_created ON gw_reservations (created_at)",
    )),
    # A public, unique name for every key. Keys from before get a random one; the
    # column default gives one to a row inserted without it (an older gwd replica
    # during a rolling upgrade), so the column can be NOT NULL at once.
    Migration("0004_key_id", (
        "ALTER TABLE gw_keys ADD COLUMN key_id text",
        "UPDATE gw_keys SET key_id = 'key-' || substr(md5(random()::text || token_hash), 1, 16)",
        "ALTER TABLE gw_keys ALTER COLUMN key_id SET DEFAULT"
        " ('key-' || substr(md5(random()::text || clock_timestamp()::text), 1, 16))",
        "ALTER TABLE gw_keys ALTER COLUMN key_id SET NOT NULL",
        "ALTER TABLE gw_keys ADD CONSTRAINT gw_keys_key_id_key UNIQUE (key_id)",
    )),
    # Tombstones of deleted keys (written by delete_keys in its transaction).
    Migration("0005_deleted_keys", (
        """CREATE TABLE gw_deleted_keys (
            token_hash  text PRIMARY KEY,
            key_id      text NOT NULL,
            deleted_at  timestamptz NOT NULL
        )""",
    )),
    # Each key's open reservations as a running total, so that a reservation is ONE
    # conditional statement reading the key row (no sum over gw_reservations, no lock
    # held across round trips). Triggers on gw_reservations keep it equal to the sum of
    # the key's rows in the writing statement, whoever writes them (also an older gwd
    # replica during a rolling upgrade, which still sums the rows): per row for inserts
    # (a reservation is one row) and updates, per statement for deletes (settling a
    # batch updates each key once). gw_keys is locked first (by the ALTER), then
    # gw_reservations, the order every writer takes them in, and gw_reservations stays
    # locked against writes until this commits: the backfill counts exactly the rows
    # from before the triggers.
    Migration("0006_reserved_counter", (
        "ALTER TABLE gw_keys ADD COLUMN reserved numeric(30, 12) NOT NULL DEFAULT 0",
        "LOCK TABLE gw_reservations IN SHARE ROW EXCLUSIVE MODE",
        """CREATE OR REPLACE FUNCTION gw_reservation_counted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                UPDATE gw_keys SET reserved = reserved - OLD.amount
                WHERE token_hash = OLD.token_hash;
            END IF;
            UPDATE gw_keys SET reserved = reserved + NEW.amount
            WHERE token_hash = NEW.token_hash;
            RETURN NULL;
        END
        $$""",
        """CREATE OR REPLACE FUNCTION gw_reservations_closed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE gw_keys k SET reserved = k.reserved - d.amount
            FROM (SELECT token_hash, sum(amount) AS amount FROM gw_closed
                  GROUP BY token_hash) d
            WHERE k.token_hash = d.token_hash;
            RETURN NULL;
        END
        $$""",
        "CREATE TRIGGER gw_reservations_count_insert AFTER INSERT ON gw_reservations"
        " FOR EACH ROW EXECUTE FUNCTION gw_reservation_counted()",
        "CREATE TRIGGER gw_reservations_count_update AFTER UPDATE OF token_hash, amount"
        " ON gw_reservations FOR EACH ROW EXECUTE FUNCTION gw_reservation_counted()",
        "CREATE TRIGGER gw_reservations_count_delete AFTER DELETE ON gw_reservations"
        " REFERENCING OLD TABLE AS gw_closed"
        " FOR EACH STATEMENT EXECUTE FUNCTION gw_reservations_closed()",
        """UPDATE gw_keys k SET reserved = r.amount
        FROM (SELECT token_hash, sum(amount) AS amount FROM gw_reservations
              GROUP BY token_hash) r
        WHERE k.token_hash = r.token_hash""",
    )),
    # Each ledger row keeps the billed parts of its tokens (cached, cache writes,
    # reasoning, audio, web searches: NULL when there are none) and whether the upstream
    # reported more usage than the call could have produced. Metadata-only ALTERs.
    Migration("0007_ledger_usage_detail", (
        "ALTER TABLE gw_spend_log ADD COLUMN usage_detail jsonb",
        "ALTER TABLE gw_spend_log ADD COLUMN usage_over_reported boolean NOT NULL"
        " DEFAULT false",
    )),
    # Teams, internal users, end-users and organisations (tenants_sql.py).
    Migration("0100_tenants", TENANTS_MIGRATION),
    Migration("0101_key_owners", KEY_OWNERS_MIGRATION),
    Migration("0102_ledger_levels", LEDGER_LEVELS_MIGRATION),
    Migration("0103_level_budgets", LEVEL_BUDGETS_MIGRATION),
    # /key/block: a blocked key is refused (update_key NOTIFYs, as for any change).
    Migration("0008_key_blocked", (
        "ALTER TABLE gw_keys ADD COLUMN blocked boolean NOT NULL DEFAULT false",
    )),
    # The id of the answer the client got (chatcmpl-..., msg_..., resp_...): LiteLLM's
    # clients look their call up with it (/spend/logs?request_id=). NULL for older rows
    # and calls without an answer.
    Migration("0009_ledger_response_id", (
        "ALTER TABLE gw_spend_log ADD COLUMN response_id text",
        "CREATE INDEX gw_spend_log_response_id ON gw_spend_log (response_id)"
        " WHERE response_id IS NOT NULL",
    )),
)

_CREATE_MIGRATIONS = """CREATE TABLE IF NOT EXISTS gw_migrations (
    name        text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


async def migrate(conn: asyncpg.Connection,
                  migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations under the advisory lock; returns the names applied.

    ``migrations``: MIGRATIONS but in tests (a database as an older gwd left it)."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(_CREATE_MIGRATIONS)
        done = {row[0] for row in await conn.fetch("SELECT name FROM gw_migrations")}
        for migration in MIGRATIONS if migrations is None else migrations:
            if migration.name in done:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO gw_migrations (name) VALUES ($1)", migration.name)
            applied.append(migration.name)
    return applied
