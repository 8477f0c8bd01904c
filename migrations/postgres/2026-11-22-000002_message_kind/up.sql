-- Announcements are messages with kind 'announcement'; ordinary ones are 'text'.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
