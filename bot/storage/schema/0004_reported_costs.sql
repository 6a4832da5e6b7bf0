-- Provider-reported costs and billing reconciliation (issue 12, items 4 and 6).

-- The provider's own handle for the call (AI/ML API `x-inference-id`, the
-- `reference_id` of its billing entry; ElevenLabs `request-id`) and the dollars
-- it said it spent, next to `estimate_tokens` / `credits_reported` / `actual_tokens`.
ALTER TABLE jobs ADD COLUMN provider_request_id TEXT;
ALTER TABLE jobs ADD COLUMN usd_reported REAL;

CREATE INDEX jobs_provider_request ON jobs (provider_request_id)
    WHERE provider_request_id IS NOT NULL;

-- One row per provider billing entry that `python -m bot reconcile` has
-- looked at and matched to a job, so a second run books nothing twice.
-- `entry_id` is the ledger adjustment booked for it (NULL when the ledger
-- already matched what was charged). Append-only like the ledger.
CREATE TABLE billing_reconciled (
    service      TEXT    NOT NULL,
    reference_id TEXT    NOT NULL,   -- AI/ML API: the inference id
    job_id       TEXT    NOT NULL,
    charged_at   TEXT    NOT NULL,   -- the provider's created_at, verbatim
    credits      INTEGER NOT NULL,
    usd          REAL    NOT NULL,
    tokens       INTEGER NOT NULL,   -- the charge in Foley tokens
    booked       INTEGER NOT NULL,   -- tokens the ledger had for the job before this row
    entry_id     INTEGER REFERENCES ledger (entry_id),
    reconciled_at TEXT   NOT NULL,
    PRIMARY KEY (service, reference_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX billing_reconciled_job ON billing_reconciled (job_id);

CREATE TRIGGER billing_reconciled_no_update BEFORE UPDATE ON billing_reconciled
BEGIN
    SELECT RAISE(ABORT, 'billing_reconciled is append-only');
END;

CREATE TRIGGER billing_reconciled_no_delete BEFORE DELETE ON billing_reconciled
BEGIN
    SELECT RAISE(ABORT, 'billing_reconciled is append-only');
END;

-- A reconciliation adjustment is an 'adjust' entry that names a `service`
-- (a moderator's adjustment never does): it corrects money really spent, so
-- besides the member's net (ledger_totals_member) it also moves what the
-- member, the server and the day were charged, like a settle would.
CREATE TRIGGER ledger_totals_correction AFTER INSERT ON ledger
WHEN NEW.kind = 'adjust' AND NEW.service IS NOT NULL
BEGIN
    -- An upsert, not an UPDATE: trigger order is unspecified, so the member's
    -- row may not exist yet when this runs.
    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('user', NEW.guild_id, NEW.user_id, NEW.period_key, 0, NEW.amount, 0, 0, 0)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        charged = charged + excluded.charged;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild', NEW.guild_id, 0, NEW.period_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged, usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild_day', NEW.guild_id, 0, NEW.day_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged, usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('global', 0, 0, NEW.day_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged, usd = usd + excluded.usd;
END;
