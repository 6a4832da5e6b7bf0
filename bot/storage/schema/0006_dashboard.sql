-- Web dashboard (issue 17): one-time sign-in links, sessions and sign-in rate
-- limits. They live in the database (not in memory) so a restart, the CLI
-- (`python -m bot dashboard-link`) and a second process all honour them.
-- Only hashes of the tokens are stored: a copy of the database opens no session.
-- Plain types and no SQLite-only constructs, so the same DDL suits PostgreSQL.

-- kind 'oauth': the state of one "Sign in with Discord" round trip (single use too).
CREATE TABLE dashboard_links (
    link_hash  TEXT    PRIMARY KEY,      -- sha256 of the link's nonce
    kind       TEXT    NOT NULL CHECK (kind IN ('moderator', 'owner', 'oauth')),
    guild_id   INTEGER NOT NULL,         -- 0 for the operator
    user_id    INTEGER NOT NULL,         -- 0 for the operator
    created_at REAL    NOT NULL,
    expires_at REAL    NOT NULL,
    used_at    REAL                      -- set once, by the one request that used it
) STRICT;

CREATE TABLE dashboard_sessions (
    session_hash TEXT    PRIMARY KEY,    -- sha256 of the cookie's value
    kind         TEXT    NOT NULL CHECK (kind IN ('moderator', 'owner')),
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    csrf         TEXT    NOT NULL,       -- sent back with every change
    created_at   REAL    NOT NULL,
    expires_at   REAL    NOT NULL,
    checked_at   REAL    NOT NULL,       -- rights last confirmed with Discord
    revoked_at   REAL
) STRICT;

CREATE INDEX dashboard_sessions_guild ON dashboard_sessions (guild_id, user_id);

CREATE TABLE dashboard_attempts (
    bucket       TEXT    NOT NULL,       -- who tries (the client address)
    window_start INTEGER NOT NULL,       -- unix seconds, start of the counting window
    attempts     INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
) STRICT;
