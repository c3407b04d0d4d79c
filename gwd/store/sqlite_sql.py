"""Every SQL statement the SQLite backend runs, as constants with ``?`` placeholders.

Values are always bound, never formatted in. Money sums are split into
``cost / SPLIT`` and ``cost % SPLIT`` so that SQLite's int64 ``sum()`` cannot
overflow however large the ledger grows; Python adds the two parts exactly.
A day is ``date(floor(us / 10^6), 'unixepoch')``: the UTC calendar day.
``gw_keys.reserved`` follows ``gw_reservations`` through the triggers of
migration 0007_reserved_counter (every DELETE of a reservation updates it).
"""

from __future__ import annotations

from ._common import RESERVE_FITS, RESERVE_TAKE

SPLIT = 1_000_000

_KEY = (
    "SELECT k.token_hash, k.key_name, k.key_alias, k.models, k.aliases, k.config,"
    " k.metadata, k.max_budget, k.spend, k.requests, k.expires, k.created_at, k.updated_at,"
    " k.key_id, k.reserved, k.team_id, k.user_id, k.blocked FROM gw_keys k"
)
SELECT_KEY = _KEY + " WHERE k.token_hash = ?"
SELECT_KEY_BY_ID = _KEY + " WHERE k.key_id = ?"
LIST_KEYS = _KEY + " ORDER BY k.created_at DESC, k.token_hash DESC LIMIT ? OFFSET ?"
LIST_KEYS_ALIAS = (_KEY + " WHERE k.key_alias = ?"
                   " ORDER BY k.created_at DESC, k.token_hash DESC LIMIT ? OFFSET ?")
COUNT_KEYS = "SELECT count(*) FROM gw_keys"
COUNT_KEYS_ALIAS = "SELECT count(*) FROM gw_keys WHERE key_alias = ?"

INSERT_KEY = (
    "INSERT INTO gw_keys (token_hash, key_name, expires, models, aliases, config, metadata,"
    " key_alias, max_budget, team_id, user_id, created_at, updated_at, key_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_KEY = (
    "UPDATE gw_keys SET expires = ?, models = ?, aliases = ?, config = ?, metadata = ?,"
    " key_alias = ?, max_budget = ?, team_id = ?, user_id = ?, updated_at = ?"
    " WHERE token_hash = ?"
)
SET_BLOCKED = "UPDATE gw_keys SET blocked = ? WHERE token_hash = ?"
# rekey: reservations first (their trigger takes them off the old row), then the key row
# (its reserved recounted under the new hash), then its ledger rows.
REKEY_RESERVATIONS = "UPDATE gw_reservations SET token_hash = ? WHERE token_hash = ?"
REKEY_KEY = (
    "UPDATE gw_keys SET token_hash = ?1, key_name = ?2, updated_at = ?3, reserved = ("
    " SELECT coalesce(sum(amount), 0) FROM gw_reservations WHERE token_hash = ?1)"
    " WHERE token_hash = ?4"
)
REKEY_LEDGER = "UPDATE gw_spend_log SET key_hash = ? WHERE key_hash = ?"
DELETE_KEY = "DELETE FROM gw_keys WHERE token_hash = ?"
# The tombstone of a key about to be deleted (deleted_at, token_hash); the first one stays.
TOMBSTONE = (
    "INSERT INTO gw_deleted_keys (token_hash, key_id, deleted_at)"
    " SELECT token_hash, key_id, ? FROM gw_keys WHERE token_hash = ?"
    " ON CONFLICT (token_hash) DO NOTHING"
)
DELETED_AT = "SELECT deleted_at FROM gw_deleted_keys WHERE token_hash = ?"

# The key-change counter (migration 0006_key_epoch): triggers bump it on every key write.
KEY_EPOCH = "SELECT epoch FROM gw_key_epoch WHERE id = 1"

INSERT_LEDGER = (
    "INSERT INTO gw_spend_log (request_id, time, key_hash, key_alias, endpoint,"
    " requested_model, model_group, deployment, provider, prompt_tokens, completion_tokens,"
    " cost, latency_ms, status, stream, usage_estimated, usage_detail, usage_over_reported,"
    " team_id, user_id, org_id, end_user, response_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (request_id) DO NOTHING"
)
# The request_ids of a batch (bound as one JSON array) already in the ledger. Under
# BEGIN IMMEDIATE no other writer runs between this and the INSERT_LEDGER executemany,
# so the rows inserted are exactly those not found (one C-level loop, no cursor each).
LEDGER_EXISTING = (
    "SELECT request_id FROM gw_spend_log WHERE request_id IN (SELECT value FROM json_each(?))"
)
ADD_SPEND = (
    "UPDATE gw_keys SET spend = spend + ?, requests = requests + ? WHERE token_hash = ?"
)

# One reservation, one statement, as on PostgreSQL: insert it only if it fits in what
# remains of the key's budget (_common.RESERVE_FITS), for RESERVE_TAKE; the INSERT
# trigger adds it to gw_keys.reserved. BEGIN IMMEDIATE has already serialised writers.
# A request_id already reserved inserts nothing (and fires no trigger): no row comes
# back and the caller reads RESERVATION. Parameters: token_hash, request_id, amount,
# budget, partial (0/1), created_at; money in pico-dollars.
RESERVE = (
    "INSERT INTO gw_reservations (request_id, token_hash, amount, created_at)"
    " SELECT ?2, k.token_hash, " + RESERVE_TAKE + ", ?6 FROM gw_keys k,"
    " (SELECT ?3 AS amount, ?4 AS budget, ?5 AS partial) p"
    " WHERE k.token_hash = ?1 AND " + RESERVE_FITS
    + " ON CONFLICT (request_id) DO NOTHING RETURNING amount"
)
RESERVATION = "SELECT token_hash, amount FROM gw_reservations WHERE request_id = ?"
DELETE_RESERVATION = "DELETE FROM gw_reservations WHERE request_id = ?"
EXPIRE_RESERVATIONS = "DELETE FROM gw_reservations WHERE created_at < ?"

# Both report rows alike: spend as split sums (see the module docstring), then the count.
SPEND_BY_KEY = (
    "SELECT token_hash, key_name, key_alias, spend / 1000000, spend % 1000000, requests,"
    " max_budget, expires, key_id FROM gw_keys ORDER BY spend DESC, token_hash"
)

_SUMS = (
    " sum(coalesce(cost, 0) / 1000000), sum(coalesce(cost, 0) % 1000000), count(*),"
    " sum(prompt_tokens), sum(completion_tokens)"
)
SPEND_BY_MODEL = (
    "SELECT model_group, deployment, provider," + _SUMS
    + " FROM gw_spend_log WHERE time >= ? AND time < ?"
    " GROUP BY model_group, deployment, provider"
)
SPEND_BY_MODEL_FOR_KEY = (
    "SELECT model_group, deployment, provider," + _SUMS
    + " FROM gw_spend_log WHERE key_hash = ? AND time >= ? AND time < ?"
    " GROUP BY model_group, deployment, provider"
)
# Per key from the ledger rows in [?, ?): every key is listed, also with none in the
# window (high/low NULL, count 0); the caller adds the split sums and sorts.
SPEND_BY_KEY_IN = (
    "SELECT k.token_hash, k.key_name, k.key_alias, s.high, s.low, coalesce(s.n, 0),"
    " k.max_budget, k.expires, k.key_id FROM gw_keys k LEFT JOIN ("
    "  SELECT key_hash, sum(coalesce(cost, 0) / 1000000) AS high,"
    "   sum(coalesce(cost, 0) % 1000000) AS low, count(*) AS n FROM gw_spend_log"
    "  WHERE key_hash IS NOT NULL AND time >= ? AND time < ? GROUP BY key_hash"
    " ) s ON s.key_hash = k.token_hash"
)
_DAY = "date(time / 1000000 - (time % 1000000 < 0), 'unixepoch')"
SPEND_BY_DAY = (
    "SELECT " + _DAY + " AS day," + _SUMS
    + " FROM gw_spend_log WHERE time >= ? AND time < ? GROUP BY day ORDER BY day"
)
SPEND_BY_DAY_FOR_KEY = (
    "SELECT " + _DAY + " AS day," + _SUMS
    + " FROM gw_spend_log WHERE key_hash = ? AND time >= ? AND time < ?"
    " GROUP BY day ORDER BY day"
)

_LEDGER = (
    "SELECT request_id, time, key_hash, key_alias, endpoint, requested_model, model_group,"
    " deployment, provider, prompt_tokens, completion_tokens, cost, latency_ms, status,"
    " stream, usage_estimated, usage_detail, usage_over_reported, team_id, user_id, org_id,"
    " end_user, response_id FROM gw_spend_log"
)
SPEND_LOGS = (
    _LEDGER + " WHERE time >= ? AND time < ?"
    " ORDER BY time DESC, request_id DESC LIMIT ? OFFSET ?"
)
SPEND_LOGS_FOR_KEY = (
    _LEDGER + " WHERE key_hash = ? AND time >= ? AND time < ?"
    " ORDER BY time DESC, request_id DESC LIMIT ? OFFSET ?"
)
SPEND_LOG_BY_ID = _LEDGER + " WHERE request_id = ?"
# the rows whose answer had this id (an upstream may reuse ids: newest first)
SPEND_LOGS_BY_RESPONSE_ID = (
    _LEDGER + " WHERE response_id = ? ORDER BY time DESC, request_id DESC LIMIT ?"
)

# The inline ledger writer never checkpoints; the store's thread runs this instead.
CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"
