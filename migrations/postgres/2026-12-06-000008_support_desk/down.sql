DROP TABLE conversations;
DELETE FROM users WHERE role = 'agent';
ALTER TABLE users DROP COLUMN last_page;
ALTER TABLE users DROP COLUMN last_seen_at;
ALTER TABLE users DROP COLUMN availability;
ALTER TABLE users DROP COLUMN active;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'user', 'guest'));
