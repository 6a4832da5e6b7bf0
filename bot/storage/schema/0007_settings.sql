-- Server settings and member preferences (issue 14). Owned by bot/settings/.
-- One table per concern; a missing row means "the built-in default", so
-- `reset` is a DELETE and `/settings show` can say where each value comes from.
-- command is one of music | say | sfx | play | all ("all" applies to every command).

-- Channels a command is allowed in (once any exist, only there) or denied in.
CREATE TABLE settings_channels (
    guild_id   INTEGER NOT NULL,
    command    TEXT    NOT NULL,
    channel_id INTEGER NOT NULL,
    mode       TEXT    NOT NULL CHECK (mode IN ('allow', 'deny')),
    PRIMARY KEY (guild_id, command, mode, channel_id)
) STRICT;

-- A command switched off, or needing a role.
CREATE TABLE settings_commands (
    guild_id INTEGER NOT NULL,
    command  TEXT    NOT NULL,
    enabled  INTEGER CHECK (enabled IN (0, 1)),  -- NULL: built-in (on)
    role_id  INTEGER,                            -- NULL: anyone
    PRIMARY KEY (guild_id, command)
) STRICT;

-- Numeric caps per command: music max_duration / max_steps, sfx max_duration, say max_chars.
CREATE TABLE settings_limits (
    guild_id INTEGER NOT NULL,
    command  TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    value    REAL    NOT NULL CHECK (value > 0),
    PRIMARY KEY (guild_id, command, name)
) STRICT;

-- Models a moderator switched off (or explicitly on) for this server.
CREATE TABLE settings_models (
    guild_id INTEGER NOT NULL,
    model    TEXT    NOT NULL,
    enabled  INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    PRIMARY KEY (guild_id, model)
) STRICT;

-- Server defaults: model, voice, tts_model and visibility (public | private | spoiler).
CREATE TABLE settings_defaults (
    guild_id INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, name)
) STRICT;

-- A member's own defaults on one server: voice, model, tts_model, private ('1'/'0').
CREATE TABLE member_prefs (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, name)
) STRICT;

-- The requester's roles (incl. @everyone, the guild id) as computed once when the
-- job was started, so a result delivered after a restart shows the same allowance;
-- and how the result is posted (public | private | spoiler).
ALTER TABLE jobs ADD COLUMN role_ids_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
-- The interaction's attachment_size_limit, for delivering after the interaction is gone.
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER;
