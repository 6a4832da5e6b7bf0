-- PostgreSQL twin of ../0002_jobs.sql (same tables, columns and constraints).
-- Job engine tables (issue 4).
--
-- `jobs` is the source of truth for every generation: the engine writes each
-- state change here (compare-and-set on `state`) BEFORE the side effect it
-- announces, so a restarted process can pick up every job where it stopped.
-- Timestamps are DOUBLE PRECISION Unix epoch seconds (UTC by definition): the engine does
-- arithmetic on them (timeouts, elapsed, provider durations) with an injected
-- clock, which ISO text would make slower and clumsier.

CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    -- SQLite's implicit rowid (insertion order), which queries order by.
    rowid                  BIGINT GENERATED ALWAYS AS IDENTITY,
    guild_id               BIGINT,            -- NULL for DMs and the CLI
    channel_id             BIGINT,
    user_id                BIGINT NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('music', 'say', 'sfx')),
    service                TEXT NOT NULL,      -- 'aimlapi' | 'elevenlabs'
    model                  TEXT NOT NULL,
    params_json            TEXT NOT NULL,      -- validated request parameters
    estimate_tokens        BIGINT NOT NULL CHECK (estimate_tokens >= 0),
    actual_tokens          BIGINT,            -- what the member was finally charged
    credits_reported       DOUBLE PRECISION,               -- provider-reported cost, if any
    provider_job_id        TEXT,
    state                  TEXT NOT NULL CHECK (state IN (
                               'queued', 'submitting', 'running', 'downloading', 'ready',
                               'delivered', 'failed', 'cancelled', 'expired')),
    raw_status             TEXT,               -- provider's own status word, verbatim
    created_at             DOUBLE PRECISION NOT NULL,
    queued_at              DOUBLE PRECISION,
    submitting_at          DOUBLE PRECISION,
    running_at             DOUBLE PRECISION,
    downloading_at         DOUBLE PRECISION,
    ready_at               DOUBLE PRECISION,
    delivered_at           DOUBLE PRECISION,
    finished_at            DOUBLE PRECISION,               -- set with any terminal state
    submit_attempts        BIGINT NOT NULL DEFAULT 0,
    poll_count             BIGINT NOT NULL DEFAULT 0,
    error_kind             TEXT,
    error_message          TEXT,               -- user-safe text
    output_path            TEXT,
    output_format          TEXT,
    output_size            BIGINT,
    output_duration_s      DOUBLE PRECISION,
    compressed             BIGINT NOT NULL DEFAULT 0 CHECK (compressed IN (0, 1)),
    file_deleted_at        DOUBLE PRECISION,               -- retention removed the file; row kept
    interaction_token      TEXT,
    interaction_expires_at DOUBLE PRECISION,
    application_id         BIGINT,
    status_message_id      BIGINT,
    result_message_id      BIGINT,
    delivery_attempts      BIGINT NOT NULL DEFAULT 0,
    -- The ledger call owed for this job, written in the same statement as the
    -- terminal state; `ledger_done_at` is set once the call returned. Start-up
    -- repeats owed calls that never completed (settle/refund are idempotent).
    ledger_action          TEXT CHECK (ledger_action IN ('settle', 'refund')),
    ledger_done_at         DOUBLE PRECISION
);

CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
CREATE INDEX jobs_ledger_owed ON jobs (ledger_action) WHERE ledger_done_at IS NULL;

-- How long the provider took per model (submit accepted → completed), for the
-- adaptive poll schedule and the ETA shown to members. One row per job.
CREATE TABLE model_durations (
    job_id      TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    model       TEXT NOT NULL,
    duration_s  DOUBLE PRECISION NOT NULL CHECK (duration_s >= 0),
    recorded_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX model_durations_model ON model_durations (service, model, recorded_at);
