-- Webhook events waiting for the store's backend (issue 14): one row per event, inserted in
-- the transaction that stores its message, so an acked message always has its event. The id is
-- the delivery id the receiver sees and the order of a conversation's events. A delivered row
-- is deleted; a row given up (the receiver answered 4xx) stays as 'failed' for inspection.
CREATE TABLE webhook_outbox (
    id              BIGSERIAL PRIMARY KEY,
    room            TEXT    NOT NULL,
    event           TEXT    NOT NULL CHECK (event IN ('conversation.created', 'message.created')),
    message_id      BIGINT  NOT NULL REFERENCES messages (id),
    created_at      BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    body            TEXT,
    last_error      TEXT
);
-- The delivery worker's question: the oldest pending event of each conversation.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (room, id) WHERE state = 'pending';
