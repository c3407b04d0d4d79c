"""Every SQL statement the PostgreSQL backend runs, as constants with ``$n`` placeholders.

Values are always bound (batches as arrays through ``unnest``), never
formatted in. Tie-breaks sort with ``COLLATE "C"`` (code-point order), the same
order SQLite's BINARY collation gives, so both backends list rows alike.
"""

from __future__ import annotations

#: the NOTIFY channel carrying the token_hash of a key that changed
CHANNEL = "gw_key_changes"
#: the UNIQUE constraint on gw_keys.key_id (migration 0004_key_id)
KEY_ID_CONSTRAINT = "gw_keys_key_id_key"

_KEY_COLUMNS = (
    "k.token_hash, k.key_name, k.key_alias, k.models, k.aliases, k.config, k.metadata,"
    " k.max_budget, k.spend, k.requests, k.expires, k.created_at, k.updated_at, k.key_id"
)
_KEY = (
    "SELECT " + _KEY_COLUMNS + ","
    " coalesce((SELECT sum(r.amount) FROM gw_reservations r"
    "           WHERE r.token_hash = k.token_hash), 0) AS reserved"
    " FROM gw_keys k"
)
SELECT_KEY = _KEY + " WHERE k.token_hash = $1"
SELECT_KEY_BY_ID = _KEY + " WHERE k.key_id = $1"
LIST_KEYS = (
    _KEY + ' ORDER BY k.created_at DESC, k.token_hash COLLATE "C" DESC LIMIT $1 OFFSET $2'
)
LOCK_KEY = (
    "SELECT " + _KEY_COLUMNS + ", 0::numeric AS reserved FROM gw_keys k"
    " WHERE k.token_hash = $1 FOR UPDATE"
)

INSERT_KEY = (
    "INSERT INTO gw_keys (token_hash, key_name, expires, models, aliases, config, metadata,"
    " key_alias, max_budget, created_at, updated_at, key_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
UPDATE_KEY = (
    "UPDATE gw_keys SET expires = $1, models = $2, aliases = $3, config = $4, metadata = $5,"
    " key_alias = $6, max_budget = $7, updated_at = $8 WHERE token_hash = $9"
)
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

# Insert a batch, skip request_ids already there, and sum what went in per key.
INSERT_LEDGER = """
WITH ins AS (
    INSERT INTO gw_spend_log (request_id, time, key_hash, key_alias, endpoint,
        requested_model, model_group, deployment, provider, prompt_tokens,
        completion_tokens, cost, latency_ms, status, stream, usage_estimated)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[],
        $12::numeric[], $13::bigint[], $14::text[], $15::boolean[], $16::boolean[])
    ON CONFLICT (request_id) DO NOTHING
    RETURNING key_hash, cost
)
SELECT key_hash, coalesce(sum(cost), 0) AS spend, count(*) AS n
FROM ins GROUP BY key_hash ORDER BY key_hash COLLATE "C"
"""
# Lock the keys about to change in one fixed order, so concurrent batches never deadlock.
LOCK_KEYS = (
    "SELECT token_hash FROM gw_keys WHERE token_hash = ANY($1::text[])"
    ' ORDER BY token_hash COLLATE "C" FOR UPDATE'
)
ADD_SPEND = """
UPDATE gw_keys AS k SET spend = k.spend + d.spend, requests = k.requests + d.n
FROM unnest($1::text[], $2::numeric[], $3::bigint[]) AS d(token_hash, spend, n)
WHERE k.token_hash = d.token_hash
"""
DELETE_RESERVATIONS = "DELETE FROM gw_reservations WHERE request_id = ANY($1::text[])"

LOCK_SPEND = "SELECT spend FROM gw_keys WHERE token_hash = $1 FOR UPDATE"
OPEN_RESERVATIONS = """
SELECT (SELECT token_hash FROM gw_reservations WHERE request_id = $2) AS prior_key,
       (SELECT amount FROM gw_reservations WHERE request_id = $2) AS prior_amount,
       coalesce((SELECT sum(amount) FROM gw_reservations WHERE token_hash = $1), 0) AS reserved
"""
INSERT_RESERVATION = (
    "INSERT INTO gw_reservations (request_id, token_hash, amount, created_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING RETURNING amount"
)
EXPIRE_RESERVATIONS = "DELETE FROM gw_reservations WHERE created_at < $1"

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
    " stream, usage_estimated FROM gw_spend_log"
)
SPEND_LOGS = (
    _LEDGER + " WHERE time >= $1 AND time < $2"
    ' ORDER BY time DESC, request_id COLLATE "C" DESC LIMIT $3 OFFSET $4'
)
SPEND_LOGS_FOR_KEY = (
    _LEDGER + " WHERE key_hash = $5 AND time >= $1 AND time < $2"
    ' ORDER BY time DESC, request_id COLLATE "C" DESC LIMIT $3 OFFSET $4'
)
