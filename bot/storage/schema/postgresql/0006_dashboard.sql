-- PostgreSQL twin of ../0006_dashboard.sql (same tables, columns and constraints; comments live there).
CREATE TABLE dashboard_links (
    link_hash  TEXT    PRIMARY KEY,      -- sha256 of the link's nonce
    kind       TEXT    NOT NULL CHECK (kind IN ('moderator', 'owner', 'oauth')),
    guild_id   BIGINT NOT NULL,         -- 0 for the operator
    user_id    BIGINT NOT NULL,         -- 0 for the operator
    created_at DOUBLE PRECISION    NOT NULL,
    expires_at DOUBLE PRECISION    NOT NULL,
    used_at    DOUBLE PRECISION                      -- set once, by the one request that used it
);

CREATE TABLE dashboard_sessions (
    session_hash TEXT    PRIMARY KEY,    -- sha256 of the cookie's value
    kind         TEXT    NOT NULL CHECK (kind IN ('moderator', 'owner')),
    guild_id     BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    csrf         TEXT    NOT NULL,       -- sent back with every change
    created_at   DOUBLE PRECISION    NOT NULL,
    expires_at   DOUBLE PRECISION    NOT NULL,
    checked_at   DOUBLE PRECISION    NOT NULL,       -- rights last confirmed with Discord
    revoked_at   DOUBLE PRECISION
);

CREATE INDEX dashboard_sessions_guild ON dashboard_sessions (guild_id, user_id);

CREATE TABLE dashboard_attempts (
    bucket       TEXT    NOT NULL,       -- who tries (the client address)
    window_start BIGINT NOT NULL,       -- unix seconds, start of the counting window
    attempts     BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
