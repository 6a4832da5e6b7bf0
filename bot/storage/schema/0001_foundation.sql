-- Foundation: per-guild and per-user settings, and a small key/value table
-- for bot-wide state such as the hash of the last global command sync.

CREATE TABLE guilds (
    guild_id      INTEGER PRIMARY KEY,
    name          TEXT,
    joined_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    settings_json TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE users (
    user_id       INTEGER PRIMARY KEY,
    first_seen    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    settings_json TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
