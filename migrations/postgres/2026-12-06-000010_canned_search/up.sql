-- The support desk (issue 15): the staff's canned replies, and full-text search of support
-- conversations and their notes threads.

-- A shortcut is unique whatever its case: "/Thanks" and "/thanks" would be one to a person.
CREATE TABLE canned_replies (
    id         BIGSERIAL PRIMARY KEY,
    shortcut   TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX canned_replies_shortcut ON canned_replies (lower(shortcut));

-- Full-text search with the 'simple' configuration (every word as written, lower-cased, no
-- stemming: customers write in any language). Partial: public rooms are neither indexed nor
-- slowed down; the search repeats this WHERE so that the planner can use the index. Building
-- the index indexes the messages stored before this migration.
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', body))
    WHERE room LIKE 'support:%' OR room LIKE 'notes:%';
