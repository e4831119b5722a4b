-- A step's write after its workflow commits it (issue 16). The Pairing workflow numbers
-- each step's change; the highest number written is kept here, in the transaction
-- that writes the change, so the workflow can forget changes the database holds and a
-- change is never written ahead of an earlier one.
ALTER TABLE pairings ADD COLUMN applied_seq BIGINT NOT NULL DEFAULT 0;
