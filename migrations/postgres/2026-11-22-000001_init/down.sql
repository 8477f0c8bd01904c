DROP TABLE room_members;
DROP TABLE messages;
DROP TABLE rooms;
DROP TABLE users;
