ALTER TABLE users DROP COLUMN merged_into;
