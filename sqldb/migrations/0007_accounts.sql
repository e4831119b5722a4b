-- Accounts over their lifetime and sign-in under flood (issue 14).

-- The account's own department, which its own-department rules and inbox read. It was
-- the person's department read through people, so an organiser's directory edit moved
-- an account's scope; now only an admin sets it (docs/DESIGN.md "Scope is an admin's
-- decision"). '' for an account that is no person of the directory.
ALTER TABLE users ADD COLUMN department_code TEXT NOT NULL DEFAULT '';
UPDATE users SET department_code = COALESCE((SELECT p.department_code FROM people p WHERE p.id = users.person_id), '');

-- An admin's reset: the next sign-in may only change the password.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- Failures were counted per account, so one address could keep any account locked;
-- they are counted per (name, address) in login_failures now.
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;

-- Sign-in failures per name as typed (unknown names count like accounts, so a lock
-- tells nobody which exist) and source address. Times are Unix milliseconds: the
-- lock and the throttles do arithmetic on them in SQL, the same on both databases.
CREATE TABLE login_failures (
    username     TEXT NOT NULL,
    source       TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0, -- since the last success from this address
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_failure BIGINT NOT NULL DEFAULT 0,
    last_success BIGINT NOT NULL DEFAULT 0,  -- the owner's address: the account's throttle spares it
    PRIMARY KEY (username, source)
);

-- The shared throttles: one GCRA bucket per key ('address:<ip>', 'account:<name>'),
-- charged one interval a failure; tat is the bucket's theoretical arrival time.
CREATE TABLE login_buckets (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
