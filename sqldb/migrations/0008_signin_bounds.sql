-- Sign-in under flood, after the second review (issue 14).

-- The credential epoch: bumped in the same transaction wherever an account's sessions
-- end (a new password, disabling, the last role revoked, an admin ending them). A
-- sign-in's token is issued only while the epoch its password was checked against
-- holds, so a sign-in in flight when the password changes gets no session.
ALTER TABLE users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;

-- When a row of login_failures may be forgotten: the later of a day after its last
-- failure and 30 days after its last success (its lock, 15 minutes at most, ends
-- before either). The upserts keep it, so the pruner finds its rows by one index.
ALTER TABLE login_failures ADD COLUMN forget_at BIGINT NOT NULL DEFAULT 0;
UPDATE login_failures SET forget_at = CASE
    WHEN last_success + 2592000000 > last_failure + 86400000 THEN last_success + 2592000000
    ELSE last_failure + 86400000 END;
CREATE INDEX login_failures_forget ON login_failures (forget_at);

-- A bucket whose theoretical arrival time has passed is full again: nothing to keep.
CREATE INDEX login_buckets_tat ON login_buckets (tat);

-- Expired tokens are pruned by expiry; an account's live tokens are capped and listed
-- newest first.
CREATE INDEX tokens_expires ON tokens (expires_at);
DROP INDEX tokens_user;
CREATE INDEX tokens_user_created ON tokens (user_id, created_at);
