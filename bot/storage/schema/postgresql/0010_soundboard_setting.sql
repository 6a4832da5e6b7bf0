-- The ➕ Soundboard switch becomes a server setting like the others (bot/settings):
-- `/settings show` lists it with its source and `/settings reset soundboard`
-- deletes it. It was the one key kept in guilds.settings_json; move it over.
INSERT INTO settings_defaults (guild_id, name, value)
SELECT guild_id, 'soundboard',
       CASE WHEN (settings_json::jsonb -> 'soundboard_enabled') = 'true'::jsonb
            THEN 'on' ELSE 'off' END
FROM guilds
WHERE jsonb_typeof(settings_json::jsonb -> 'soundboard_enabled') = 'boolean';

UPDATE guilds SET settings_json = (settings_json::jsonb - 'soundboard_enabled')::text
WHERE (settings_json::jsonb -> 'soundboard_enabled') IS NOT NULL;
