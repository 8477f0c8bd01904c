-- The support desk (issue 15). Accounts gain the role `agent`, an `active` flag (a deactivated
-- staff member's tokens stop working), an availability (`online`/`busy`/`offline`), when the
-- customer was last seen and the page they were on. SQLite cannot widen a CHECK constraint, so
-- `users` is rebuilt, following SQLite's own procedure (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"): foreign keys off, outside any transaction.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'agent', 'user', 'guest')),
    password_hash TEXT,
    banned        BOOLEAN NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    external_id   TEXT,
    email         TEXT,
    merged_into   BIGINT,
    active        BOOLEAN NOT NULL DEFAULT 1,
    availability  TEXT    NOT NULL DEFAULT 'online' CHECK (availability IN ('online', 'busy', 'offline')),
    last_seen_at  BIGINT,
    last_page     TEXT
);
INSERT INTO users_new (id, username, role, password_hash, banned, created_at, external_id, email, merged_into)
    SELECT id, username, role, password_hash, banned, created_at, external_id, email, merged_into FROM users;
-- Ids are never reused (a finished guest's old token must never name a new account): the new
-- table continues the old one's AUTOINCREMENT counter.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'users')
    WHERE name = 'users_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_login_name ON users (lower(username))
    WHERE role <> 'guest' AND external_id IS NULL;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

-- One row per support conversation: what the console lists (an index read, not a scan of the
-- messages), its status and who handles it. No foreign keys on `room` and `customer_id`: a guest
-- finished by signing in on the store has its room and account deleted (db/merge.rs), which
-- deletes this row in the same transaction.
CREATE TABLE conversations (
    room          TEXT    PRIMARY KEY NOT NULL,
    customer_id   BIGINT  NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
    assignee_id   BIGINT  REFERENCES users (id),
    created_at    BIGINT  NOT NULL,
    last_activity BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX conversations_activity ON conversations (last_activity);
CREATE INDEX conversations_customer ON conversations (customer_id);
-- A conversation quiet for a week is taken as done (resolved), so the desk does not open on a
-- wall of old conversations; the customer's next message reopens it.
INSERT INTO conversations (room, customer_id, status, created_at, last_activity, updated_at)
    SELECT m.room, CAST(substr(m.room, 9) AS BIGINT),
           CASE WHEN max(m.created_at) < CAST(strftime('%s', 'now') AS BIGINT) * 1000 - 604800000 THEN 'resolved' ELSE 'open' END,
           min(m.created_at), max(m.created_at), max(m.created_at)
    FROM messages m
    JOIN users u ON u.id = CAST(substr(m.room, 9) AS BIGINT) AND u.merged_into IS NULL
    WHERE m.room LIKE 'support:%' AND NOT m.deleted
    GROUP BY m.room;
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
