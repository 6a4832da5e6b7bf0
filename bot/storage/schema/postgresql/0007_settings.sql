-- PostgreSQL twin of ../0007_settings.sql (same tables, columns and constraints; comments live there).
CREATE TABLE settings_channels (
    guild_id   BIGINT NOT NULL,
    command    TEXT    NOT NULL,
    channel_id BIGINT NOT NULL,
    mode       TEXT    NOT NULL CHECK (mode IN ('allow', 'deny')),
    PRIMARY KEY (guild_id, command, mode, channel_id)
);

CREATE TABLE settings_commands (
    guild_id BIGINT NOT NULL,
    command  TEXT    NOT NULL,
    enabled  BIGINT CHECK (enabled IN (0, 1)),  -- NULL: built-in (on)
    role_id  BIGINT,                            -- NULL: anyone
    PRIMARY KEY (guild_id, command)
);

CREATE TABLE settings_limits (
    guild_id BIGINT NOT NULL,
    command  TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    value    DOUBLE PRECISION    NOT NULL CHECK (value > 0),
    PRIMARY KEY (guild_id, command, name)
);

CREATE TABLE settings_models (
    guild_id BIGINT NOT NULL,
    model    TEXT    NOT NULL,
    enabled  BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    PRIMARY KEY (guild_id, model)
);

CREATE TABLE settings_defaults (
    guild_id BIGINT NOT NULL,
    name     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, name)
);

CREATE TABLE member_prefs (
    guild_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    name     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, name)
);

ALTER TABLE jobs ADD COLUMN role_ids_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE jobs ADD COLUMN upload_limit BIGINT;
