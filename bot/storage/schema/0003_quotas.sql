-- Quotas, the token ledger and moderation (issue 5). Owned by the quotas work.
-- Timestamps are fixed-width UTC ISO text (…T…+00:00) so they sort as text.
-- guild_id 0 stands for direct messages; user_id 0 for "no member".

-- Append-only record of every token movement. amount is in the member's
-- *spend* sense: positive consumes allowance, negative gives it back.
--   reserve +estimate | settle actual-estimate (±) | refund -estimate
--   grant -tokens (extra allowance this period) | adjust ± | reset -spent
-- Jobs are referenced by their TEXT id only: the jobs table belongs to
-- another migration and ledger rows must outlive pruned jobs.
CREATE TABLE ledger (
    entry_id   INTEGER PRIMARY KEY,
    created_at TEXT    NOT NULL,
    kind       TEXT    NOT NULL
               CHECK (kind IN ('reserve', 'settle', 'refund', 'grant', 'adjust', 'reset')),
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    service    TEXT,
    usd        REAL    NOT NULL DEFAULT 0,
    job_id     TEXT,
    actor_id   INTEGER,
    reason     TEXT,
    period_key TEXT    NOT NULL,   -- QUOTA_PERIOD label (member and server caps)
    day_key    TEXT    NOT NULL,   -- UTC day label (global daily cap)
    CHECK ((kind IN ('reserve', 'settle', 'refund')) = (job_id IS NOT NULL)),
    CHECK (kind <> 'reserve' OR amount >= 0),
    CHECK (kind <> 'refund' OR amount <= 0),
    CHECK (kind <> 'grant' OR amount < 0)
) STRICT;

-- At most one reservation and at most one closing entry per job: the database
-- itself makes settle/refund idempotent even if application logic slipped.
CREATE UNIQUE INDEX ledger_one_reserve ON ledger (job_id) WHERE kind = 'reserve';
CREATE UNIQUE INDEX ledger_one_close ON ledger (job_id) WHERE kind IN ('settle', 'refund');
CREATE INDEX ledger_member ON ledger (guild_id, user_id, kind, entry_id);
CREATE INDEX ledger_guild_time ON ledger (guild_id, created_at);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

-- Reservations not yet settled or refunded (the job engine reconciles these
-- at start-up). Maintained by the trigger below.
CREATE TABLE ledger_open (
    job_id   TEXT    PRIMARY KEY,
    entry_id INTEGER NOT NULL UNIQUE REFERENCES ledger (entry_id)
) STRICT;

-- Running totals derived from the ledger so cap checks are O(1). Only the
-- triggers below write them, in the same statement (so the same transaction)
-- as the ledger row: no code path can append an entry and forget its totals.
-- Ledger.verify() checks them against the ledger, Ledger.recompute() rebuilds.
--   scope user:      guild_id, user_id, period_key; net = sum of all kinds
--   scope guild:     guild_id, user_id = 0, period_key; reserve/settle/refund only
--   scope guild_day: guild_id, user_id = 0, day_key;    reserve/settle/refund only
--   scope global:    guild_id = 0, user_id = 0, day_key; reserve/settle/refund only
CREATE TABLE usage_totals (
    scope      TEXT    NOT NULL CHECK (scope IN ('user', 'guild', 'guild_day', 'global')),
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    period_key TEXT    NOT NULL,
    net        INTEGER NOT NULL DEFAULT 0,   -- what counts against the cap
    charged    INTEGER NOT NULL DEFAULT 0,   -- reserve + settle + refund (real spend)
    granted    INTEGER NOT NULL DEFAULT 0,   -- extra allowance from grants (positive)
    reserved   INTEGER NOT NULL DEFAULT 0,   -- still-open reservations
    usd        REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, guild_id, user_id, period_key)
) STRICT, WITHOUT ROWID;

-- Three triggers, one per family of entry kinds, each a handful of primary-key
-- upserts (a single statement over a UNION of scopes was 10x slower).
-- reserved moves by +amount on reserve and by -(the reservation's amount) when
-- a settle/refund closes it; a close without a reservation yields NULL and
-- fails the NOT NULL constraint, aborting the insert.
CREATE TRIGGER ledger_totals_reserve AFTER INSERT ON ledger WHEN NEW.kind = 'reserve'
BEGIN
    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('user', NEW.guild_id, NEW.user_id, NEW.period_key, NEW.amount, NEW.amount, 0,
            NEW.amount, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild', NEW.guild_id, 0, NEW.period_key, NEW.amount, NEW.amount, 0,
            NEW.amount, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild_day', NEW.guild_id, 0, NEW.day_key, NEW.amount, NEW.amount, 0,
            NEW.amount, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('global', 0, 0, NEW.day_key, NEW.amount, NEW.amount, 0, NEW.amount, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO ledger_open (job_id, entry_id) VALUES (NEW.job_id, NEW.entry_id);
END;

CREATE TRIGGER ledger_totals_close AFTER INSERT ON ledger
WHEN NEW.kind IN ('settle', 'refund')
BEGIN
    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('user', NEW.guild_id, NEW.user_id, NEW.period_key, NEW.amount, NEW.amount, 0,
            -(SELECT amount FROM ledger WHERE job_id = NEW.job_id AND kind = 'reserve'), NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild', NEW.guild_id, 0, NEW.period_key, NEW.amount, NEW.amount, 0,
            -(SELECT amount FROM ledger WHERE job_id = NEW.job_id AND kind = 'reserve'), NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('guild_day', NEW.guild_id, 0, NEW.day_key, NEW.amount, NEW.amount, 0,
            -(SELECT amount FROM ledger WHERE job_id = NEW.job_id AND kind = 'reserve'), NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('global', 0, 0, NEW.day_key, NEW.amount, NEW.amount, 0,
            -(SELECT amount FROM ledger WHERE job_id = NEW.job_id AND kind = 'reserve'), NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;

    DELETE FROM ledger_open WHERE job_id = NEW.job_id;
END;

-- Grants, adjustments and resets are a member's matter, not the server's money.
CREATE TRIGGER ledger_totals_member AFTER INSERT ON ledger
WHEN NEW.kind IN ('grant', 'adjust', 'reset')
BEGIN
    INSERT INTO usage_totals (scope, guild_id, user_id, period_key, net, charged, granted,
                              reserved, usd)
    VALUES ('user', NEW.guild_id, NEW.user_id, NEW.period_key, NEW.amount, 0,
            CASE WHEN NEW.kind = 'grant' THEN -NEW.amount ELSE 0 END, 0, NEW.usd)
    ON CONFLICT (scope, guild_id, user_id, period_key) DO UPDATE SET
        net = net + excluded.net, charged = charged + excluded.charged,
        granted = granted + excluded.granted, reserved = reserved + excluded.reserved,
        usd = usd + excluded.usd;
END;

CREATE INDEX usage_totals_ranking ON usage_totals (scope, guild_id, period_key, charged);

-- Operator-set caps. scope user: a member override (beats roles);
-- role: a role allowance (highest of a member's roles wins); guild: the
-- server budget (target_id = guild_id). No row = the .env default.
CREATE TABLE quota_limits (
    guild_id   INTEGER NOT NULL,
    scope      TEXT    NOT NULL CHECK (scope IN ('user', 'role', 'guild')),
    target_id  INTEGER NOT NULL,
    tokens     INTEGER NOT NULL CHECK (tokens >= 0),
    updated_by INTEGER,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, scope, target_id)
) STRICT, WITHOUT ROWID;

-- Moderation ------------------------------------------------------------

CREATE TABLE mod_blocklist (
    rule_id    INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    pattern    TEXT    NOT NULL,   -- a word/phrase, or 're:<regex>'
    created_by INTEGER,
    created_at TEXT    NOT NULL,
    UNIQUE (guild_id, pattern)
) STRICT;

CREATE TABLE mod_blocked_members (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    actor_id   INTEGER,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE mod_guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    moderator_role_id INTEGER,
    log_channel_id    INTEGER,
    updated_at        TEXT    NOT NULL
) STRICT;

-- Who changed what: before/after are JSON values (null when absent).
CREATE TABLE audit_log (
    audit_id    INTEGER PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    guild_id    INTEGER NOT NULL,
    actor_id    INTEGER,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,   -- 'user:<id>', 'role:<id>', 'guild:<id>', 'rule:<text>', …
    before_json TEXT    NOT NULL DEFAULT 'null',
    after_json  TEXT    NOT NULL DEFAULT 'null'
) STRICT;

CREATE INDEX audit_log_guild ON audit_log (guild_id, audit_id);
CREATE INDEX audit_log_actor ON audit_log (guild_id, actor_id, audit_id);
CREATE INDEX audit_log_target ON audit_log (guild_id, target, audit_id);
