DROP INDEX users_login_name;
CREATE UNIQUE INDEX users_login_name ON users (lower(username)) WHERE role <> 'guest';
DROP INDEX users_external_id;
ALTER TABLE users DROP COLUMN email;
ALTER TABLE users DROP COLUMN external_id;
