-- PostgreSQL twin of ../0004_reported_costs.sql (comments live there).
ALTER TABLE jobs ADD COLUMN provider_request_id TEXT;
ALTER TABLE jobs ADD COLUMN usd_reported DOUBLE PRECISION;

CREATE INDEX jobs_provider_request ON jobs (provider_request_id)
    WHERE provider_request_id IS NOT NULL;

CREATE TABLE billing_reconciled (
    service      TEXT    NOT NULL,
    reference_id TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    charged_at   TEXT    NOT NULL,
    credits      BIGINT  NOT NULL,
    usd          DOUBLE PRECISION NOT NULL,
    tokens       BIGINT  NOT NULL,
    booked       BIGINT  NOT NULL,
    entry_id     BIGINT  REFERENCES ledger (entry_id),
    reconciled_at TEXT   NOT NULL,
    PRIMARY KEY (service, reference_id)
);

CREATE INDEX billing_reconciled_job ON billing_reconciled (job_id);

CREATE TRIGGER billing_reconciled_no_update BEFORE UPDATE ON billing_reconciled
    FOR EACH ROW EXECUTE FUNCTION foley_append_only();
CREATE TRIGGER billing_reconciled_no_delete BEFORE DELETE ON billing_reconciled
    FOR EACH ROW EXECUTE FUNCTION foley_append_only();

-- A reconciliation adjustment (an 'adjust' naming a service) also moves what
-- the member, the server and the day were charged, like a settle would.
CREATE FUNCTION foley_ledger_correction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_totals AS t (scope, guild_id, user_id, period_key, net, charged,
                                   granted, reserved, usd)
    VALUES ('user', NEW.guild_id, NEW.user_id, NEW.period_key, 0, NEW.amount, 0, 0, 0)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        charged = t.charged + excluded.charged;
    INSERT INTO usage_totals AS t VALUES
        ('guild', NEW.guild_id, 0, NEW.period_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = t.net + excluded.net, charged = t.charged + excluded.charged,
        usd = t.usd + excluded.usd;
    INSERT INTO usage_totals AS t VALUES
        ('guild_day', NEW.guild_id, 0, NEW.day_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = t.net + excluded.net, charged = t.charged + excluded.charged,
        usd = t.usd + excluded.usd;
    INSERT INTO usage_totals AS t VALUES
        ('global', 0, 0, NEW.day_key, NEW.amount, NEW.amount, 0, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = t.net + excluded.net, charged = t.charged + excluded.charged,
        usd = t.usd + excluded.usd;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_totals_correction AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind = 'adjust' AND NEW.service IS NOT NULL)
    EXECUTE FUNCTION foley_ledger_correction();
