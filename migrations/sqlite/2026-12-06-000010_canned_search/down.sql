DROP TRIGGER messages_search_insert;
DROP TABLE messages_search;
DROP TABLE canned_replies;
