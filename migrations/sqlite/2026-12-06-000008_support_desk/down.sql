PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE conversations;
DELETE FROM users WHERE role = 'agent';
CREATE TABLE users_old (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user', 'guest')),
    password_hash TEXT,
    banned        BOOLEAN NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    external_id   TEXT,
    email         TEXT,
    merged_into   BIGINT
);
INSERT INTO users_old SELECT id, username, role, password_hash, banned, created_at, external_id, email, merged_into FROM users;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'users')
    WHERE name = 'users_old' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
CREATE UNIQUE INDEX users_login_name ON users (lower(username))
    WHERE role <> 'guest' AND external_id IS NULL;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;
COMMIT;
PRAGMA foreign_keys = ON;
