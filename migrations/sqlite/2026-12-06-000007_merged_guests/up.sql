-- A guest finished by signing in on the store (its conversation moved into the customer's) when
-- the account could not be deleted: its support room is closed for good. A guest banned by the
-- staff is not finished: the staff can still read and answer its conversation.
ALTER TABLE users ADD COLUMN merged_into BIGINT;
