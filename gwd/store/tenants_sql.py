"""The tenants' tables and statements, for both backends (see ``tenants.py``).

The two dialects differ only in types and placeholders, so each statement is written
once with ``?`` placeholders and turned into PostgreSQL's ``$n`` by :func:`pg`.
SQLite keeps money as INTEGER pico-dollars (budgets as decimal TEXT, compared only in
Python) and times as integer microseconds; PostgreSQL as NUMERIC and timestamptz.
"""

from __future__ import annotations

import re

COLUMNS = ("kind, id, alias, models, max_budget, soft_budget, budget_duration, metadata, "
           "blocked, org_id, extra, created_at, updated_at")

SQLITE_MIGRATION = (
    """CREATE TABLE gw_tenants (
        kind            TEXT NOT NULL,
        id              TEXT NOT NULL,
        alias           TEXT,
        models          TEXT NOT NULL DEFAULT '[]',
        max_budget      TEXT,
        soft_budget     TEXT,
        budget_duration TEXT,
        metadata        TEXT NOT NULL DEFAULT '{}',
        blocked         INTEGER NOT NULL DEFAULT 0,
        org_id          TEXT,
        extra           TEXT NOT NULL DEFAULT '{}',
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER,
        PRIMARY KEY (kind, id)
    )""",
    "CREATE INDEX gw_tenants_org ON gw_tenants (org_id) WHERE org_id IS NOT NULL",
    """CREATE TABLE gw_team_members (
        team_id  TEXT NOT NULL,
        user_id  TEXT NOT NULL,
        role     TEXT NOT NULL,
        PRIMARY KEY (team_id, user_id)
    )""",
    "CREATE INDEX gw_team_members_user ON gw_team_members (user_id)",
)

PG_MIGRATION = (
    """CREATE TABLE gw_tenants (
        kind            text NOT NULL,
        id              text NOT NULL,
        alias           text,
        models          jsonb NOT NULL DEFAULT '[]'::jsonb,
        max_budget      numeric(30, 12),
        soft_budget     numeric(30, 12),
        budget_duration text,
        metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
        blocked         boolean NOT NULL DEFAULT false,
        org_id          text,
        extra           jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz,
        PRIMARY KEY (kind, id)
    )""",
    "CREATE INDEX gw_tenants_org ON gw_tenants (org_id) WHERE org_id IS NOT NULL",
    """CREATE TABLE gw_team_members (
        team_id  text NOT NULL,
        user_id  text NOT NULL,
        role     text NOT NULL,
        PRIMARY KEY (team_id, user_id)
    )""",
    "CREATE INDEX gw_team_members_user ON gw_team_members (user_id)",
)

#: keys get an owning team and user (``KeyRecord.team_id`` / ``user_id``)
SQLITE_KEY_OWNERS = (
    "ALTER TABLE gw_keys ADD COLUMN team_id TEXT",
    "ALTER TABLE gw_keys ADD COLUMN user_id TEXT",
    "CREATE INDEX gw_keys_team ON gw_keys (team_id) WHERE team_id IS NOT NULL",
    "CREATE INDEX gw_keys_user ON gw_keys (user_id) WHERE user_id IS NOT NULL",
    # the key-change counter must see the new columns change (see 0006_key_epoch)
    "DROP TRIGGER gw_keys_epoch_update",
    """CREATE TRIGGER gw_keys_epoch_update AFTER UPDATE OF token_hash, key_name,
        key_alias, models, aliases, config, metadata, max_budget, expires, created_at,
        updated_at, key_id, team_id, user_id ON gw_keys
    BEGIN
        UPDATE gw_key_epoch SET epoch = epoch + 1 WHERE id = 1;
    END""",
)
PG_KEY_OWNERS = (
    "ALTER TABLE gw_keys ADD COLUMN team_id text",
    "ALTER TABLE gw_keys ADD COLUMN user_id text",
    "CREATE INDEX gw_keys_team ON gw_keys (team_id) WHERE team_id IS NOT NULL",
    "CREATE INDEX gw_keys_user ON gw_keys (user_id) WHERE user_id IS NOT NULL",
)

#: each ledger row names the levels of its call, so their spend is a sum over the ledger
SQLITE_LEDGER_LEVELS = (
    "ALTER TABLE gw_spend_log ADD COLUMN team_id TEXT",
    "ALTER TABLE gw_spend_log ADD COLUMN user_id TEXT",
    "ALTER TABLE gw_spend_log ADD COLUMN org_id TEXT",
    "ALTER TABLE gw_spend_log ADD COLUMN end_user TEXT",
    "CREATE INDEX gw_spend_log_team_id ON gw_spend_log (team_id, time) WHERE team_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_user_id ON gw_spend_log (user_id, time) WHERE user_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_org_id ON gw_spend_log (org_id, time) WHERE org_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_end_user ON gw_spend_log (end_user, time)"
    " WHERE end_user IS NOT NULL",
)
PG_LEDGER_LEVELS = (
    "ALTER TABLE gw_spend_log ADD COLUMN team_id text",
    "ALTER TABLE gw_spend_log ADD COLUMN user_id text",
    "ALTER TABLE gw_spend_log ADD COLUMN org_id text",
    "ALTER TABLE gw_spend_log ADD COLUMN end_user text",
    "CREATE INDEX gw_spend_log_team_id ON gw_spend_log (team_id, time) WHERE team_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_user_id ON gw_spend_log (user_id, time) WHERE user_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_org_id ON gw_spend_log (org_id, time) WHERE org_id IS NOT NULL",
    "CREATE INDEX gw_spend_log_end_user ON gw_spend_log (end_user, time)"
    " WHERE end_user IS NOT NULL",
)
#: a level's spend and calls from the ledger, by the column naming the level. SQLite sums
#: cost (int64 pico-dollars) in two parts that cannot overflow (see sqlite_sql.SPLIT).
SQLITE_LEVEL_SPEND = {
    "team_id": ("SELECT sum(cost / 1000000), sum(cost % 1000000), count(*) FROM gw_spend_log"
              " WHERE team_id = ?"),
    "user_id": ("SELECT sum(cost / 1000000), sum(cost % 1000000), count(*) FROM gw_spend_log"
              " WHERE user_id = ?"),
    "org_id": ("SELECT sum(cost / 1000000), sum(cost % 1000000), count(*) FROM gw_spend_log"
              " WHERE org_id = ?"),
    "end_user": ("SELECT sum(cost / 1000000), sum(cost % 1000000), count(*) FROM gw_spend_log"
              " WHERE end_user = ?"),
}
PG_LEVEL_SPEND = {
    "team_id": "SELECT coalesce(sum(cost), 0), count(*) FROM gw_spend_log WHERE team_id = $1",
    "user_id": "SELECT coalesce(sum(cost), 0), count(*) FROM gw_spend_log WHERE user_id = $1",
    "org_id": "SELECT coalesce(sum(cost), 0), count(*) FROM gw_spend_log WHERE org_id = $1",
    "end_user": "SELECT coalesce(sum(cost), 0), count(*) FROM gw_spend_log WHERE end_user = $1",
}
#: the keys of a team or of a user
KEYS_OF = {"team": "SELECT token_hash FROM gw_keys WHERE team_id = ? ORDER BY created_at",
           "user": "SELECT token_hash FROM gw_keys WHERE user_id = ? ORDER BY created_at"}
#: the ledger column of each tenant kind
LEVEL_COLUMN = {"team": "team_id", "user": "user_id", "org": "org_id", "customer": "end_user"}

INSERT = ("INSERT INTO gw_tenants (" + COLUMNS + ") "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
SELECT = "SELECT " + COLUMNS + " FROM gw_tenants WHERE kind = ? AND id = ?"
SELECT_FOR_UPDATE = SELECT + " FOR UPDATE"  # PostgreSQL only
UPDATE = ("UPDATE gw_tenants SET alias = ?, models = ?, max_budget = ?, soft_budget = ?, "
          "budget_duration = ?, metadata = ?, blocked = ?, org_id = ?, extra = ?, "
          "updated_at = ? WHERE kind = ? AND id = ?")
DELETE = "DELETE FROM gw_tenants WHERE kind = ? AND id = ?"
DELETE_TEAM_MEMBERS = "DELETE FROM gw_team_members WHERE team_id = ?"
DELETE_USER_MEMBERSHIPS = "DELETE FROM gw_team_members WHERE user_id = ?"
LIST = ("SELECT " + COLUMNS + " FROM gw_tenants WHERE kind = ? "
        "ORDER BY created_at, id LIMIT ? OFFSET ?")
LIST_ORG = ("SELECT " + COLUMNS + " FROM gw_tenants WHERE kind = ? AND org_id = ? "
            "ORDER BY created_at, id LIMIT ? OFFSET ?")
UPSERT_MEMBER = ("INSERT INTO gw_team_members (team_id, user_id, role) VALUES (?, ?, ?) "
                 "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role")
DELETE_MEMBER = "DELETE FROM gw_team_members WHERE team_id = ? AND user_id = ?"
MEMBERS = ("SELECT team_id, user_id, role FROM gw_team_members WHERE team_id = ? "
           "ORDER BY user_id")
TEAMS_OF = ("SELECT team_id, user_id, role FROM gw_team_members WHERE user_id = ? "
            "ORDER BY team_id")

_PLACEHOLDER = re.compile(r"\?")


def pg(statement: str) -> str:
    """A ``?`` statement in PostgreSQL's ``$1, $2, ...`` form."""
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", statement)

# Budgets at every level (migration 0103_level_budgets). Each tenant keeps its spend and
# its open reservations as running totals; triggers keep them so in the writing
# transaction: a ledger row adds its cost to every level it names and closes that
# call's level reservations; a reservation row adds to / takes from ``reserved``.
SQLITE_LEVEL_BUDGETS = (
    "ALTER TABLE gw_tenants ADD COLUMN spend INTEGER NOT NULL DEFAULT 0"
    " CHECK (typeof(spend) = 'integer')",
    "ALTER TABLE gw_tenants ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0"
    " CHECK (typeof(reserved) = 'integer')",
    """CREATE TABLE gw_level_reservations (
        request_id  TEXT NOT NULL,
        kind        TEXT NOT NULL,
        tenant_id   TEXT NOT NULL,
        amount      INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (request_id, kind, tenant_id)
    )""",
    "CREATE INDEX gw_level_reservations_created ON gw_level_reservations (created_at)",
    """CREATE TRIGGER gw_level_reservations_add AFTER INSERT ON gw_level_reservations
    BEGIN
        UPDATE gw_tenants SET reserved = reserved + NEW.amount
        WHERE kind = NEW.kind AND id = NEW.tenant_id;
    END""",
    """CREATE TRIGGER gw_level_reservations_close AFTER DELETE ON gw_level_reservations
    BEGIN
        UPDATE gw_tenants SET reserved = reserved - OLD.amount
        WHERE kind = OLD.kind AND id = OLD.tenant_id;
    END""",
    """CREATE TRIGGER gw_spend_log_levels AFTER INSERT ON gw_spend_log
        WHEN NEW.team_id IS NOT NULL OR NEW.user_id IS NOT NULL OR NEW.org_id IS NOT NULL
             OR NEW.end_user IS NOT NULL
    BEGIN
        UPDATE gw_tenants SET spend = spend + coalesce(NEW.cost, 0)
        WHERE (kind = 'team' AND id = NEW.team_id) OR (kind = 'user' AND id = NEW.user_id)
           OR (kind = 'org' AND id = NEW.org_id) OR (kind = 'customer' AND id = NEW.end_user);
        DELETE FROM gw_level_reservations WHERE request_id = NEW.request_id;
    END""",
    """UPDATE gw_tenants SET spend = coalesce((SELECT sum(l.cost) FROM gw_spend_log l WHERE
        (gw_tenants.kind = 'team' AND l.team_id = gw_tenants.id)
        OR (gw_tenants.kind = 'user' AND l.user_id = gw_tenants.id)
        OR (gw_tenants.kind = 'org' AND l.org_id = gw_tenants.id)
        OR (gw_tenants.kind = 'customer' AND l.end_user = gw_tenants.id)), 0)""",
)
PG_LEVEL_BUDGETS = (
    "ALTER TABLE gw_tenants ADD COLUMN spend numeric(30, 12) NOT NULL DEFAULT 0",
    "ALTER TABLE gw_tenants ADD COLUMN reserved numeric(30, 12) NOT NULL DEFAULT 0",
    """CREATE TABLE gw_level_reservations (
        request_id  text NOT NULL,
        kind        text NOT NULL,
        tenant_id   text NOT NULL,
        amount      numeric(30, 12) NOT NULL,
        created_at  timestamptz NOT NULL,
        PRIMARY KEY (request_id, kind, tenant_id)
    )""",
    "CREATE INDEX gw_level_reservations_created ON gw_level_reservations (created_at)",
    """CREATE OR REPLACE FUNCTION gw_level_reservation_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE gw_tenants SET reserved = reserved + NEW.amount
            WHERE kind = NEW.kind AND id = NEW.tenant_id;
        ELSE
            UPDATE gw_tenants SET reserved = reserved - OLD.amount
            WHERE kind = OLD.kind AND id = OLD.tenant_id;
        END IF;
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER gw_level_reservations_count AFTER INSERT OR DELETE"
    " ON gw_level_reservations FOR EACH ROW EXECUTE FUNCTION gw_level_reservation_counted()",
    """CREATE OR REPLACE FUNCTION gw_spend_log_levels() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE gw_tenants SET spend = spend + coalesce(NEW.cost, 0)
        WHERE (kind = 'team' AND id = NEW.team_id) OR (kind = 'user' AND id = NEW.user_id)
           OR (kind = 'org' AND id = NEW.org_id) OR (kind = 'customer' AND id = NEW.end_user);
        DELETE FROM gw_level_reservations WHERE request_id = NEW.request_id;
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER gw_spend_log_levels AFTER INSERT ON gw_spend_log FOR EACH ROW"
    " WHEN (NEW.team_id IS NOT NULL OR NEW.user_id IS NOT NULL OR NEW.org_id IS NOT NULL"
    " OR NEW.end_user IS NOT NULL) EXECUTE FUNCTION gw_spend_log_levels()",
    """UPDATE gw_tenants t SET spend = coalesce((SELECT sum(l.cost) FROM gw_spend_log l WHERE
        (t.kind = 'team' AND l.team_id = t.id) OR (t.kind = 'user' AND l.user_id = t.id)
        OR (t.kind = 'org' AND l.org_id = t.id)
        OR (t.kind = 'customer' AND l.end_user = t.id)), 0)""",
)
BUDGET_ROW = "SELECT max_budget, spend, reserved FROM gw_tenants WHERE kind = ? AND id = ?"
BUDGET_ROW_FOR_UPDATE = BUDGET_ROW + " FOR UPDATE"  # PostgreSQL
RESERVE_LEVEL = ("INSERT INTO gw_level_reservations (request_id, kind, tenant_id, amount,"
                 " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
RELEASE_LEVELS = "DELETE FROM gw_level_reservations WHERE request_id = ?"
EXPIRE_LEVELS = "DELETE FROM gw_level_reservations WHERE created_at < ?"
#: a new tenant's spend: what the ledger already holds for its id (a re-created id)
INITIAL_SPEND = {
    "team": ("UPDATE gw_tenants SET spend = coalesce((SELECT sum(cost) FROM gw_spend_log"
              " WHERE team_id = ?), 0) WHERE kind = 'team' AND id = ?"),
    "user": ("UPDATE gw_tenants SET spend = coalesce((SELECT sum(cost) FROM gw_spend_log"
              " WHERE user_id = ?), 0) WHERE kind = 'user' AND id = ?"),
    "org": ("UPDATE gw_tenants SET spend = coalesce((SELECT sum(cost) FROM gw_spend_log"
              " WHERE org_id = ?), 0) WHERE kind = 'org' AND id = ?"),
    "customer": ("UPDATE gw_tenants SET spend = coalesce((SELECT sum(cost) FROM gw_spend_log"
              " WHERE end_user = ?), 0) WHERE kind = 'customer' AND id = ?"),
}
