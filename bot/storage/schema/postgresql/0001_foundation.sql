-- PostgreSQL twin of ../0001_foundation.sql (same tables, columns and constraints).
-- Foundation: per-guild and per-user settings, and a small key/value table
-- for bot-wide state such as the hash of the last global command sync.

CREATE TABLE guilds (
    guild_id      BIGINT PRIMARY KEY,
    name          TEXT,
    joined_at     TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    settings_json TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE users (
    user_id       BIGINT PRIMARY KEY,
    first_seen    TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    settings_json TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);
