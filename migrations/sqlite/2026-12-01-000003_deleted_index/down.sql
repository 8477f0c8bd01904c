DROP INDEX messages_deleted;
