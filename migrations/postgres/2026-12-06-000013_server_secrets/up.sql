-- Secrets every node of a deployment must share (issue 16): today the JWT secret, when none is
-- configured. On PostgreSQL the first node to start makes it (or brings the one its data folder
-- held) and every later node reads it, so a token from any node is good on all of them. SQLite
-- is one process's database: the secret stays in the data folder there.
CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
