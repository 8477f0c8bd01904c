DROP INDEX webhook_outbox_pending;
DROP TABLE webhook_outbox;
