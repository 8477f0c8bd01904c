-- Email follow-up of unread staff replies (issue 15): one row per email, written BEFORE it is
-- sent (src/mail/worker.rs). An email covers the staff replies of `room` with a seq in
-- (from_seq, up_to_seq]; (room, up_to_seq) is unique, so no reply is ever put in two emails,
-- whichever server on the database found it first. `pending` is retried (attempts,
-- next_attempt_at, last_error) while SMTP fails, `sent` once SMTP took it, `cancelled` when the
-- customer read the replies first (or is gone). No foreign keys: a finished guest's room and
-- account are deleted by db/merge.rs, and their pending email is then cancelled at its attempt.
CREATE TABLE email_outbox (
    id              BIGSERIAL PRIMARY KEY,
    room            TEXT    NOT NULL,
    customer_id     BIGINT  NOT NULL,
    from_seq        BIGINT  NOT NULL,
    up_to_seq       BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT,
    UNIQUE (room, up_to_seq)
);
-- The worker's question each round: the pending emails that are due.
CREATE INDEX email_outbox_pending ON email_outbox (next_attempt_at) WHERE state = 'pending';
