DROP INDEX messages_search;
DROP TABLE canned_replies;
