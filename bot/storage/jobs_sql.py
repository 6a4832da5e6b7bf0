"""Every SQL statement the job engine runs, named and parameterised.

State changes are compare-and-set: each ``UPDATE`` names the state(s) it moves
*from*, and callers check ``rowcount`` to learn whether they won. A set of
allowed source states is passed as one JSON array parameter (``json_each``)
so the statement text never changes with the data.
"""

from __future__ import annotations

from bot.storage.dialect import Sql

JOB_COLUMNS = """
    id, guild_id, channel_id, user_id, kind, service, model, params_json,
    estimate_tokens, actual_tokens, credits_reported, provider_job_id, state,
    raw_status, created_at, queued_at, submitting_at, running_at, downloading_at,
    ready_at, delivered_at, finished_at, submit_attempts, poll_count, error_kind,
    error_message, output_path, output_format, output_size, output_duration_s,
    compressed, file_deleted_at, interaction_token, interaction_expires_at,
    application_id, status_message_id, result_message_id, delivery_attempts,
    ledger_action, ledger_done_at, provider_request_id, usd_reported
"""

INSERT_JOB = """
INSERT INTO jobs (
    id, guild_id, channel_id, user_id, kind, service, model, params_json,
    estimate_tokens, state, created_at, queued_at,
    interaction_token, interaction_expires_at, application_id, status_message_id,
    lease_owner, lease_expires_at
) VALUES (
    :id, :guild_id, :channel_id, :user_id, :kind, :service, :model, :params_json,
    :estimate_tokens, 'queued', :now, :now,
    :interaction_token, :interaction_expires_at, :application_id, :status_message_id,
    :lease_owner, :lease_expires_at
)
"""

# Leases (several processes on one database). Unfinished rows only: a terminal
# row needs no carrier (owed ledger calls are paid by any process's maintenance).
UNFINISHED = "state NOT IN ('delivered', 'failed', 'cancelled', 'expired')"

RENEW_LEASES = (
    "UPDATE jobs SET lease_expires_at = :until WHERE lease_owner = :owner AND " + UNFINISHED
)

# Claim what nobody carries: no owner, an expired lease, or (at start-up) rows
# this very process identity held before it restarted. PostgreSQL skips rows
# another process is claiming this instant instead of waiting for it.
_CLAIMABLE = (
    "SELECT id FROM jobs WHERE " + UNFINISHED + " AND (lease_owner IS NULL "
    "OR lease_expires_at < :now OR (:own = 1 AND lease_owner = :owner)) "
    "ORDER BY created_at, rowid LIMIT :limit"
)
CLAIM_JOBS = Sql(
    sqlite="UPDATE jobs SET lease_owner = :owner, lease_expires_at = :until "
    "WHERE id IN (" + _CLAIMABLE + ") RETURNING id",
    postgresql="UPDATE jobs SET lease_owner = :owner, lease_expires_at = :until "
    "WHERE id IN (" + _CLAIMABLE + " FOR UPDATE SKIP LOCKED) RETURNING id",
)

SELECT_JOB = "SELECT " + JOB_COLUMNS + " FROM jobs WHERE id = ?"

SELECT_JOBS_IN_STATES = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE state IN (SELECT value FROM json_each(?)) ORDER BY created_at, rowid"
)

SELECT_RECENT_JOBS = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE (CAST(:guild_id AS BIGINT) IS NULL OR guild_id = :guild_id) "
    "AND (CAST(:user_id AS BIGINT) IS NULL OR user_id = :user_id) "
    "ORDER BY created_at DESC, rowid DESC LIMIT :limit"
)

SELECT_LEDGER_OWED = (
    "SELECT " + JOB_COLUMNS + " FROM jobs "
    "WHERE ledger_action IS NOT NULL AND ledger_done_at IS NULL ORDER BY created_at"
)

SELECT_STATES_FOR_IDS = (
    "SELECT id, state, output_path FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
)

# queued → submitting. Written before the POST, so a crash leaves a trace.
MARK_SUBMITTING = """
UPDATE jobs SET state = 'submitting', submitting_at = :now,
    submit_attempts = submit_attempts + 1
WHERE id = :id AND state = 'queued'
"""

# queued → submitting only while the provider and the member have a free slot
# counted over every process's jobs (the in-memory scheduler is per process).
# PostgreSQL takes the slots lock first so two processes cannot both see the
# last free slot; SQLite's BEGIN IMMEDIATE already admits one writer.
_AT_PROVIDER = "state IN ('submitting', 'running', 'downloading')"
SLOTS_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('foley.slots', 0))"
MARK_SUBMITTING_IF_SLOT = (
    "UPDATE jobs SET state = 'submitting', submitting_at = :now, "
    "submit_attempts = submit_attempts + 1 WHERE id = :id AND state = 'queued' "
    "AND (SELECT COUNT(*) FROM jobs WHERE service = :service AND " + _AT_PROVIDER + ") < :limit "
    "AND (SELECT COUNT(*) FROM jobs WHERE user_id = :user_id AND " + _AT_PROVIDER + ") "
    "< :user_cap"
)
SELECT_STATE = "SELECT state FROM jobs WHERE id = ?"

# submitting → running, with the provider's id, right after the submit returns.
MARK_RUNNING = """
UPDATE jobs SET state = 'running', running_at = :now, provider_job_id = :provider_job_id,
    raw_status = :raw_status, credits_reported = COALESCE(:credits, credits_reported),
    provider_request_id = COALESCE(:request_id, provider_request_id),
    usd_reported = COALESCE(:usd, usd_reported)
WHERE id = :id AND state = 'submitting'
"""

# The submit came back after the job was cancelled: keep the id for the audit trail.
RECORD_DETACHED_PROVIDER_ID = """
UPDATE jobs SET provider_job_id = :provider_job_id,
    credits_reported = COALESCE(:credits, credits_reported),
    provider_request_id = COALESCE(:request_id, provider_request_id)
WHERE id = :id AND provider_job_id IS NULL
"""

UPDATE_RAW_STATUS = """
UPDATE jobs SET raw_status = :raw_status, poll_count = :poll_count,
    credits_reported = COALESCE(:credits, credits_reported)
WHERE id = :id AND state = 'running'
"""

# running → downloading (a resumed job re-enters from 'downloading' itself), with
# the cost the provider reported on the poll that said "completed".
MARK_DOWNLOADING = """
UPDATE jobs SET state = 'downloading', downloading_at = :now, raw_status = :raw_status,
    poll_count = :poll_count, credits_reported = COALESCE(:credits, credits_reported),
    usd_reported = COALESCE(:usd, usd_reported),
    provider_request_id = COALESCE(provider_request_id, :request_id)
WHERE id = :id AND state IN ('running', 'downloading')
"""

# downloading → ready, once the file is in its final place.
MARK_READY = """
UPDATE jobs SET state = 'ready', ready_at = :now, output_path = :path,
    output_format = :format, output_size = :size, output_duration_s = :duration
WHERE id = :id AND state = 'downloading'
"""

# Counted BEFORE each call to the deliver callback.
COUNT_DELIVERY_ATTEMPT = """
UPDATE jobs SET delivery_attempts = delivery_attempts + 1
WHERE id = :id AND state = 'ready'
"""

# ready → delivered, with the message and the ledger call now owed, in one write.
MARK_DELIVERED = """
UPDATE jobs SET state = 'delivered', delivered_at = :now, finished_at = :now,
    result_message_id = :message_id, compressed = :compressed,
    actual_tokens = :actual_tokens, ledger_action = 'settle'
WHERE id = :id AND state = 'ready'
"""

# Any non-terminal state in :from_states → failed / cancelled / expired.
MARK_FINISHED = """
UPDATE jobs SET state = :state, finished_at = :now, error_kind = :error_kind,
    error_message = :error_message, actual_tokens = :actual_tokens,
    ledger_action = :ledger_action, poll_count = MAX(poll_count, :poll_count)
WHERE id = :id AND state IN (SELECT value FROM json_each(:from_states))
"""

MARK_LEDGER_DONE = "UPDATE jobs SET ledger_done_at = :now WHERE id = :id AND ledger_done_at IS NULL"

SET_STATUS_MESSAGE = "UPDATE jobs SET status_message_id = :message_id WHERE id = :id"

MARK_FILE_DELETED = """
UPDATE jobs SET file_deleted_at = :now
WHERE id = :id AND file_deleted_at IS NULL
    AND state IN ('delivered', 'failed', 'cancelled', 'expired')
"""

INSERT_DURATION = """
INSERT OR IGNORE INTO model_durations (job_id, service, model, duration_s, recorded_at)
VALUES (:job_id, :service, :model, :duration_s, :now)
"""

SELECT_DURATIONS = """
SELECT duration_s FROM model_durations WHERE service = ? AND model = ?
ORDER BY recorded_at DESC LIMIT ?
"""

SELECT_DURATION_MODELS = "SELECT DISTINCT service, model FROM model_durations"

# The newest finished job of one service: ``check`` reports an account-level
# failure (e.g. the free tier disabled for the key) that only generation reveals.
SELECT_LAST_FINISHED = (
    "SELECT state, error_kind, finished_at FROM jobs "
    "WHERE service = ? AND finished_at IS NOT NULL "
    "ORDER BY finished_at DESC, rowid DESC LIMIT 1"
)
