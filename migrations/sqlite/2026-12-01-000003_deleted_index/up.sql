-- Deleted messages by room and seq, for telling a reconnecting client which of the messages it
-- holds were deleted while it was away (joined with since). Deletions are rare: a small index.
CREATE INDEX messages_deleted ON messages (room, seq) WHERE deleted;
