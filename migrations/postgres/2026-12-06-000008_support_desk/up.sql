-- The support desk (issue 15). Accounts gain the role `agent`, an `active` flag (a deactivated
-- staff member's tokens stop working), an availability (`online`/`busy`/`offline`), when the
-- customer was last seen and the page they were on.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'agent', 'user', 'guest'));
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'online'
    CHECK (availability IN ('online', 'busy', 'offline'));
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;
ALTER TABLE users ADD COLUMN last_page TEXT;

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
           CASE WHEN max(m.created_at) < CAST(extract(epoch FROM now()) * 1000 AS BIGINT) - 604800000 THEN 'resolved' ELSE 'open' END,
           min(m.created_at), max(m.created_at), max(m.created_at)
    FROM messages m
    JOIN users u ON u.id = CAST(substr(m.room, 9) AS BIGINT) AND u.merged_into IS NULL
    WHERE m.room LIKE 'support:%' AND NOT m.deleted
    GROUP BY m.room;
