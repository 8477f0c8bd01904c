DROP TABLE desk_settings;
DROP TABLE bans;
ALTER TABLE users DROP COLUMN last_addr;
ALTER TABLE users DROP COLUMN last_device;
ALTER TABLE users DROP COLUMN avatar_color;
ALTER TABLE users DROP COLUMN display_name;
