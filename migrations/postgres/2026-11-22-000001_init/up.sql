-- Accounts: staff (admin), registered customers (user) and store visitors (guest).
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user', 'guest')),
    password_hash TEXT,
    banned        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);
-- Registered names are unique regardless of case; guests pick free display names.
CREATE UNIQUE INDEX users_login_name ON users (lower(username)) WHERE role <> 'guest';

-- A room's counter: last_seq is bumped in the transaction that inserts its messages.
CREATE TABLE rooms (
    name       TEXT   PRIMARY KEY NOT NULL,
    last_seq   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id         BIGSERIAL PRIMARY KEY,
    room       TEXT    NOT NULL REFERENCES rooms (name),
    seq        BIGINT  NOT NULL,
    sender_id  BIGINT  NOT NULL REFERENCES users (id),
    cid        TEXT,
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (room, seq)
);
-- A resend with the same client id is recognised, never stored twice.
CREATE UNIQUE INDEX messages_client_id ON messages (room, sender_id, cid) WHERE cid IS NOT NULL;

-- Who has a room in their list, and how far they have read it.
CREATE TABLE room_members (
    user_id       BIGINT NOT NULL REFERENCES users (id),
    room          TEXT   NOT NULL REFERENCES rooms (name),
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    joined_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, room)
);
CREATE INDEX room_members_room ON room_members (room);
