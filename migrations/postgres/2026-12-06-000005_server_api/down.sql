DROP TABLE notifications;
DROP TABLE api_keys;
