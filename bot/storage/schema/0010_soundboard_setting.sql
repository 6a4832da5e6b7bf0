-- The ➕ Soundboard switch becomes a server setting like the others (bot/settings):
-- `/settings show` lists it with its source and `/settings reset soundboard`
-- deletes it. It was the one key kept in guilds.settings_json; move it over.
INSERT INTO settings_defaults (guild_id, name, value)
SELECT guild_id, 'soundboard',
       CASE WHEN json_extract(settings_json, '$.soundboard_enabled') THEN 'on' ELSE 'off' END
FROM guilds
WHERE json_type(settings_json, '$.soundboard_enabled') IN ('true', 'false');

UPDATE guilds SET settings_json = json_remove(settings_json, '$.soundboard_enabled')
WHERE json_type(settings_json, '$.soundboard_enabled') IS NOT NULL;
