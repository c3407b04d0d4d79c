"""Every SQL statement the PostgreSQL backend runs, as constants with ``$n`` placeholders.

Values are always bound (batches as arrays through ``unnest``), never
formatted in. Tie-breaks sort with ``COLLATE "C"`` (code-point order), the same
order SQLite's BINARY collation gives, so both backends list rows alike.

Budget reservations are single statements run outside any explicit transaction
(autocommit), so a key row is locked only while the database executes one of
them, never across a round trip to gwd: ``RESERVE`` (admit and insert),
``RECORD`` (ledger rows, spend and settled reservations), ``RELEASE`` and
``EXPIRE_RESERVATIONS``. ``gw_keys.reserved`` follows ``gw_reservations`` through
the triggers of migration 0006_reserved_counter, at the end of each statement.
Statements that change several keys lock them first in one order (``_LOCKED``),
so they never deadlock one another.
"""

from __future__ import annotations

from ._common import RESERVE_FITS, RESERVE_TAKE

#: the NOTIFY channel carrying the token_hash of a key that changed
CHANNEL = "gw_key_changes"
#: the UNIQUE constraint on gw_keys.key_id (migration 0004_key_id)
KEY_ID_CONSTRAINT = "gw_keys_key_id_key"

_KEY_COLUMNS = (
    "k.token_hash, k.key_name, k.key_alias, k.models, k.aliases, k.config, k.metadata,"
    " k.max_budget, k.spend, k.requests, k.expires, k.created_at, k.updated_at, k.key_id,"
    " k.team_id, k.user_id, k.blocked"
)
_KEY = "SELECT " + _KEY_COLUMNS + ", k.reserved FROM gw_keys k"
SELECT_KEY = _KEY + " WHERE k.token_hash = $1"
SELECT_KEY_BY_ID = _KEY + " WHERE k.key_id = $1"
LIST_KEYS = (
    _KEY + ' ORDER BY k.created_at DESC, k.token_hash COLLATE "C" DESC LIMIT $1 OFFSET $2'
)
LIST_KEYS_ALIAS = (
    _KEY + " WHERE k.key_alias = $3"
    ' ORDER BY k.created_at DESC, k.token_hash COLLATE "C" DESC LIMIT $1 OFFSET $2'
)
COUNT_KEYS = "SELECT count(*) FROM gw_keys"
COUNT_KEYS_ALIAS = "SELECT count(*) FROM gw_keys WHERE key_alias = $1"
LOCK_KEY = (
    "SELECT " + _KEY_COLUMNS + ", k.reserved FROM gw_keys k"
    " WHERE k.token_hash = $1 FOR UPDATE"
)

INSERT_KEY = (
    "INSERT INTO gw_keys (token_hash, key_name, expires, models, aliases, config, metadata,"
    " key_alias, max_budget, team_id, user_id, created_at, updated_at, key_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
)
UPDATE_KEY = (
    "UPDATE gw_keys SET expires = $1, models = $2, aliases = $3, config = $4, metadata = $5,"
    " key_alias = $6, max_budget = $7, team_id = $8, user_id = $9, updated_at = $10"
    " WHERE token_hash = $11"
)
SET_BLOCKED = "UPDATE gw_keys SET blocked = $1 WHERE token_hash = $2"
# rekey (the old row locked first): reservations first (their trigger takes them off the
# old row), then the key row (reserved recounted under the new hash), then its ledger rows.
REKEY_RESERVATIONS = "UPDATE gw_reservations SET token_hash = $1 WHERE token_hash = $2"
REKEY_KEY = (
    "UPDATE gw_keys SET token_hash = $1, key_name = $2, updated_at = $3, reserved = ("
    " SELECT coalesce(sum(amount), 0) FROM gw_reservations WHERE token_hash = $1)"
    " WHERE token_hash = $4"
)
REKEY_LEDGER = "UPDATE gw_spend_log SET key_hash = $1 WHERE key_hash = $2"
# Delete keys and leave a tombstone of each (the first one stays), in one statement.
DELETE_KEYS = """
WITH gone AS (
    DELETE FROM gw_keys WHERE token_hash = ANY($1::text[]) RETURNING token_hash, key_id
), tombstones AS (
    INSERT INTO gw_deleted_keys (token_hash, key_id, deleted_at)
    SELECT token_hash, key_id, $2::timestamptz FROM gone
    ON CONFLICT (token_hash) DO NOTHING
)
SELECT token_hash FROM gone
"""
DELETED_AT = "SELECT deleted_at FROM gw_deleted_keys WHERE token_hash = $1"
NOTIFY = "SELECT pg_notify($1, h) FROM unnest($2::text[]) AS h"

# Lock the keys a statement is about to change, in one fixed order, before it changes
# anything: the statement's WHERE refers to this CTE through an uncorrelated sub-select
# ("(SELECT count(*) FROM locked) >= 0"), an InitPlan that runs to completion before
# the first row is changed. The CTE is MATERIALIZED: computed (and locked) once.
_LOCKED = (
    "WITH locked AS MATERIALIZED ("
    " SELECT token_hash FROM gw_keys WHERE token_hash = ANY("
)
_LOCKED_END = ') ORDER BY token_hash COLLATE "C" FOR UPDATE)'
_AFTER_LOCKING = " (SELECT count(*) FROM locked) >= 0"

# Everything record() does, in one statement: lock the batch's keys ($2) and the keys
# of the reservations to settle ($3); insert the rows not yet in the ledger; add what
# went in to each key; delete the settled reservations (the trigger takes them off
# gw_keys.reserved). Returns how many rows went in. The rows come as one JSON array of
# objects ($1, pg_rows.ledger_json): encoding them as 16 typed arrays cost asyncpg
# ~17 µs of gwd's CPU per row, JSON ~5 µs; PostgreSQL parses it (costs are decimal
# strings and times RFC 3339 with offset: both exact).
_LEDGER_COLUMNS = ("request_id, time, key_hash, key_alias, endpoint, requested_model,"
                   " model_group, deployment, provider, prompt_tokens, completion_tokens,"
                   " cost, latency_ms, status, stream, usage_estimated, usage_detail,"
                   " usage_over_reported, team_id, user_id, org_id, end_user, response_id")
RECORD = _LOCKED + """$2::text[] || ARRAY(
    SELECT token_hash FROM gw_reservations WHERE request_id = ANY($3::text[]))"""
RECORD += _LOCKED_END + """,
ins AS (
    INSERT INTO gw_spend_log (""" + _LEDGER_COLUMNS + """)
    SELECT """ + _LEDGER_COLUMNS + """ FROM json_to_recordset($1::json) AS r (
        request_id text, time timestamptz, key_hash text, key_alias text, endpoint text,
        requested_model text, model_group text, deployment text, provider text,
        prompt_tokens bigint, completion_tokens bigint, cost numeric, latency_ms bigint,
        status text, stream boolean, usage_estimated boolean, usage_detail jsonb,
        usage_over_reported boolean, team_id text, user_id text, org_id text, end_user text,
        response_id text)
    WHERE""" + _AFTER_LOCKING + """
    ON CONFLICT (request_id) DO NOTHING
    RETURNING key_hash, cost
), sums AS (
    SELECT key_hash, coalesce(sum(cost), 0) AS spend, count(*) AS n FROM ins GROUP BY key_hash
), added AS (
    UPDATE gw_keys AS k SET spend = k.spend + s.spend, requests = k.requests + s.n
    FROM sums s WHERE k.token_hash = s.key_hash
), settled AS (
    DELETE FROM gw_reservations WHERE request_id = ANY($3::text[]) AND""" + _AFTER_LOCKING + """
)
SELECT coalesce(sum(n), 0)::bigint FROM sums
"""

# One reservation, in one statement: lock the key row, check that the reservation fits
# in what remains (_common.RESERVE_FITS), insert it for RESERVE_TAKE; the INSERT trigger
# adds it to gw_keys.reserved while the row is still locked. This is exact across
# replicas because in READ COMMITTED a FOR UPDATE that had to wait for a concurrent
# writer of the key row re-evaluates the WHERE and the selected expressions on the
# newest committed version of the row (EvalPlanQual) before inserting: nothing committed
# while it waited is missed. A key row that looks full in the statement's snapshot is
# refused without waiting (correct as of that snapshot). A request_id already reserved
# inserts nothing (ON CONFLICT DO NOTHING fires no INSERT trigger, so nothing is
# counted twice) and returns no row: the caller then reads RESERVATION.
RESERVE = (
    "INSERT INTO gw_reservations (request_id, token_hash, amount, created_at)"
    " SELECT $2, k.token_hash, " + RESERVE_TAKE + ", $6 FROM gw_keys k,"
    " (SELECT $3::numeric AS amount, $4::numeric AS budget, $5::boolean AS partial) p"
    " WHERE k.token_hash = $1 AND " + RESERVE_FITS + " FOR UPDATE OF k"
    " ON CONFLICT (request_id) DO NOTHING RETURNING amount"
)
RESERVATION = "SELECT token_hash, amount FROM gw_reservations WHERE request_id = $1"
# Close reservations (lock their keys first, in order); the DELETE trigger updates reserved.
RELEASE = (
    _LOCKED + "ARRAY(SELECT token_hash FROM gw_reservations"
    " WHERE request_id = ANY($1::text[]))" + _LOCKED_END
    + " DELETE FROM gw_reservations WHERE request_id = ANY($1::text[]) AND" + _AFTER_LOCKING
)
EXPIRE_RESERVATIONS = (
    _LOCKED + "ARRAY(SELECT token_hash FROM gw_reservations WHERE created_at < $1)"
    + _LOCKED_END
    + " DELETE FROM gw_reservations WHERE created_at < $1 AND" + _AFTER_LOCKING
)

SPEND_BY_KEY = (
    "SELECT token_hash, key_name, key_alias, spend, requests, max_budget, expires, key_id"
    ' FROM gw_keys ORDER BY spend DESC, token_hash COLLATE "C"'
)
# Per key from the ledger rows in [$1, $2); every key is listed, also with none in the window.
SPEND_BY_KEY_IN = """
SELECT k.token_hash, k.key_name, k.key_alias, coalesce(s.spend, 0) AS spend,
       coalesce(s.n, 0) AS requests, k.max_budget, k.expires, k.key_id
FROM gw_keys k LEFT JOIN (
    SELECT key_hash, sum(cost) AS spend, count(*) AS n FROM gw_spend_log
    WHERE key_hash IS NOT NULL AND time >= $1 AND time < $2 GROUP BY key_hash
) s ON s.key_hash = k.token_hash
ORDER BY coalesce(s.spend, 0) DESC, k.token_hash COLLATE "C"
"""
_SUMS = (
    " coalesce(sum(cost), 0) AS spend, count(*) AS requests,"
    " coalesce(sum(prompt_tokens), 0)::bigint, coalesce(sum(completion_tokens), 0)::bigint"
)
SPEND_BY_MODEL = (
    "SELECT model_group, deployment, provider," + _SUMS
    + " FROM gw_spend_log WHERE time >= $1 AND time < $2"
    " GROUP BY model_group, deployment, provider"
    ' ORDER BY spend DESC, model_group COLLATE "C", deployment COLLATE "C",'
    ' provider COLLATE "C"'
)
SPEND_BY_MODEL_FOR_KEY = (
    "SELECT model_group, deployment, provider," + _SUMS
    + " FROM gw_spend_log WHERE key_hash = $3 AND time >= $1 AND time < $2"
    " GROUP BY model_group, deployment, provider"
    ' ORDER BY spend DESC, model_group COLLATE "C", deployment COLLATE "C",'
    ' provider COLLATE "C"'
)
_DAY = "to_char((time AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')"
SPEND_BY_DAY = (
    "SELECT " + _DAY + " AS day," + _SUMS
    + " FROM gw_spend_log WHERE time >= $1 AND time < $2 GROUP BY day ORDER BY day"
)
SPEND_BY_DAY_FOR_KEY = (
    "SELECT " + _DAY + " AS day," + _SUMS
    + " FROM gw_spend_log WHERE key_hash = $3 AND time >= $1 AND time < $2"
    " GROUP BY day ORDER BY day"
)
_LEDGER = (
    "SELECT request_id, time, key_hash, key_alias, endpoint, requested_model, model_group,"
    " deployment, provider, prompt_tokens, completion_tokens, cost, latency_ms, status,"
    " stream, usage_estimated, usage_detail, usage_over_reported, team_id, user_id, org_id,"
    " end_user, response_id FROM gw_spend_log"
)
SPEND_LOGS = (
    _LEDGER + " WHERE time >= $1 AND time < $2"
    ' ORDER BY time DESC, request_id COLLATE "C" DESC LIMIT $3 OFFSET $4'
)
SPEND_LOG_BY_ID = _LEDGER + " WHERE request_id = $1"
# the rows whose answer had this id (an upstream may reuse ids: newest first)
SPEND_LOGS_BY_RESPONSE_ID = (
    _LEDGER + " WHERE response_id = $1"
    ' ORDER BY time DESC, request_id COLLATE "C" DESC LIMIT $2'
)
SPEND_LOGS_FOR_KEY = (
    _LEDGER + " WHERE key_hash = $5 AND time >= $1 AND time < $2"
    ' ORDER BY time DESC, request_id COLLATE "C" DESC LIMIT $3 OFFSET $4'
)
