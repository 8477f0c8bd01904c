-- The support desk (issue 15): the staff's canned replies, and full-text search of support
-- conversations and their notes threads.

-- A shortcut is unique whatever its case: "/Thanks" and "/thanks" would be one to a person.
CREATE TABLE canned_replies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    shortcut   TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX canned_replies_shortcut ON canned_replies (lower(shortcut));

-- An FTS5 index over the text of support and notes messages, its content read from
-- `messages` (rowid = messages.id), so no text is stored twice. Only inserts feed it: a
-- message's text never changes (a deletion sets `deleted`, a guest's merge changes `room`
-- from one support room to another), and the search reads the row's room and `deleted`
-- from `messages` itself. Public rooms cost the writer nothing: the trigger's WHEN skips them.
CREATE VIRTUAL TABLE messages_search USING fts5(body, content='messages', content_rowid='id');
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.room LIKE 'support:%' OR new.room LIKE 'notes:%'
BEGIN
    INSERT INTO messages_search (rowid, body) VALUES (new.id, new.body);
END;
-- The messages stored before this migration.
INSERT INTO messages_search (rowid, body)
    SELECT id, body FROM messages WHERE room LIKE 'support:%' OR room LIKE 'notes:%';
