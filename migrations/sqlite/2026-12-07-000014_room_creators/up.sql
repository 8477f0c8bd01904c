-- Who created a public room by hand (a `join` of a new name or `POST /api/rooms`), so that a
-- user's rooms created in the last hour can be counted (`--max-rooms-created-per-hour`). Rooms
-- made by the server (support conversations, notes threads, a message's first room) have none;
-- the partial index costs their inserts nothing.
ALTER TABLE rooms ADD COLUMN created_by BIGINT;
CREATE INDEX rooms_created_by ON rooms (created_by, created_at) WHERE created_by IS NOT NULL;
