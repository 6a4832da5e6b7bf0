-- PostgreSQL twin of ../0005_calibration.sql (same tables, columns and constraints).
-- Price calibration (issue 12, item 5). Owned by bot/quotas/calibration.py.
-- One row per quoted job: what the price rule alone said (rule_tokens), what
-- the member was quoted and reserved (quoted_tokens = rule × factor), and,
-- once the job settles with a provider-reported cost, what it really cost.
-- The calibrated price is not stored: it is always recomputed from the last
-- settled rows of the same (service, model, unit), so there is one copy of
-- the fact and a restart loses nothing.
-- job_id is TEXT only (no foreign key): rows outlive pruned jobs, as ledger rows do.
CREATE TABLE calibration_quotes (
    job_id        TEXT    PRIMARY KEY,
    rowid         BIGINT  GENERATED ALWAYS AS IDENTITY,  -- SQLite's implicit rowid
    service       TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    unit          TEXT    NOT NULL,               -- step | second | character | request
    units         DOUBLE PRECISION    NOT NULL CHECK (units >= 0),
    rule_tokens   BIGINT NOT NULL CHECK (rule_tokens >= 0),
    quoted_tokens BIGINT NOT NULL CHECK (quoted_tokens >= 0),  -- rule × calibration
    fixed         BIGINT NOT NULL DEFAULT 0 CHECK (fixed IN (0, 1)),
    quoted_at     TEXT    NOT NULL,               -- fixed-width UTC ISO, sorts as text
    actual_tokens BIGINT CHECK (actual_tokens >= 0),  -- provider-reported, set once
    settled_at    TEXT,
    CHECK ((actual_tokens IS NULL) = (settled_at IS NULL))
);

-- The last N settled quotes of one model and unit, newest first.
CREATE INDEX calibration_quotes_recent
    ON calibration_quotes (service, model, unit, settled_at)
    WHERE settled_at IS NOT NULL;
CREATE INDEX calibration_quotes_unsettled
    ON calibration_quotes (quoted_at) WHERE settled_at IS NULL;
