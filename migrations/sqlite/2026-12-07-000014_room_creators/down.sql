DROP INDEX rooms_created_by;
ALTER TABLE rooms DROP COLUMN created_by;
