-- The store's backend (issue 14): its API keys, stored as SHA-256 digests (a key is 32 random
-- bytes, so a fast digest is enough: nobody can guess one to test against it), and the
-- notifications it sends its customers.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    key_digest   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
-- Every call of the server API looks its key up by digest.
CREATE UNIQUE INDEX api_keys_digest ON api_keys (key_digest);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    link       TEXT,
    created_at BIGINT  NOT NULL,
    read_at    BIGINT
);
-- A user's notifications, newest first, a page at a time (and the unread ones counted).
CREATE INDEX notifications_user ON notifications (user_id, id);
