-- The pages as customers and agents expect them (issue 17).
-- A staff member's face to customers: the name and the avatar colour shown on their replies
-- (NULL: the login name and a colour the page picks).
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN avatar_color TEXT;
-- Where an account was last seen coming from, so that a ban can cover the browser (the device
-- id the pages keep) and the address (behind trusted proxies, the client's), not only the account.
ALTER TABLE users ADD COLUMN last_device TEXT;
ALTER TABLE users ADD COLUMN last_addr TEXT;
-- Bans: one row per ban the staff placed. A ban covers the account (`user_id`), the device and
-- the address it was seen from; it holds until `expires_at` (NULL: until lifted) or until
-- lifted (`lifted_at`). No foreign key on user_id: a finished guest's account is deleted by
-- db/merge.rs while its ban on the device and the address still holds.
CREATE TABLE bans (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT,
    device     TEXT,
    addr       TEXT,
    reason     TEXT   NOT NULL DEFAULT '',
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    lifted_at  BIGINT
);
CREATE INDEX bans_user ON bans (user_id);
CREATE INDEX bans_device ON bans (device) WHERE lifted_at IS NULL;
CREATE INDEX bans_addr ON bans (addr) WHERE lifted_at IS NULL;
-- The support desk's settings kept by the console (business hours, away message, expected reply
-- time): one JSON value per key.
CREATE TABLE desk_settings (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
