-- The store's customers: an account bound to the store's own id for the customer (identify),
-- and an email address to be answered by.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;
-- Login names stay unique, but a store's customers are named by the store (two may share a
-- name) and never sign in with a password: they are outside the index.
DROP INDEX users_login_name;
CREATE UNIQUE INDEX users_login_name ON users (lower(username))
    WHERE role <> 'guest' AND external_id IS NULL;
