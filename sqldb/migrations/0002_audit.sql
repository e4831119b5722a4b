-- The audit trail: one hash chain of entries, its head, and signed checkpoints.
-- sqldb/audit.go documents the canonical form each hash covers; an auditor needs only
-- these three tables and the public key to check them (baocun audit verify).

-- seq is the chain position, 1, 2, 3… without gaps, assigned by the writer that holds
-- the head (never by the database: {{ID}} only makes seq the rowid on SQLite and a
-- BIGINT on PostgreSQL). Empty fields are '' so the canonical form has one spelling
-- of "absent"; idem_key alone is NULL when empty, so the unique index ignores it.
CREATE TABLE audit_entries (
    seq          {{ID}},
    at           TEXT NOT NULL,           -- fixed-width UTC, 2006-01-02T15:04:05.000000Z
    actor        TEXT NOT NULL,
    role         TEXT NOT NULL DEFAULT '',
    jurisdiction TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL DEFAULT '',
    cycle_id     TEXT NOT NULL DEFAULT '',
    pairing_id   TEXT NOT NULL DEFAULT '',
    department   TEXT NOT NULL DEFAULT '',
    village      TEXT NOT NULL DEFAULT '',
    decision     TEXT NOT NULL DEFAULT '',
    rule         TEXT NOT NULL DEFAULT '',
    status       INTEGER NOT NULL DEFAULT 0,
    request_id   TEXT NOT NULL DEFAULT '',
    source_ip    TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    summary      TEXT NOT NULL DEFAULT '',
    idem_key     TEXT,
    prev_hash    TEXT NOT NULL,           -- lowercase hex SHA-256; 64 zeros before seq 1
    hash         TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_entries_key ON audit_entries (idem_key);
-- Each filter of the audit search walks one of these backwards: newest first, a page
-- at a time, without sorting.
CREATE INDEX audit_entries_actor ON audit_entries (actor, seq DESC);
CREATE INDEX audit_entries_action ON audit_entries (action, seq DESC);
CREATE INDEX audit_entries_cycle ON audit_entries (cycle_id, seq DESC);
CREATE INDEX audit_entries_pairing ON audit_entries (pairing_id, seq DESC);
CREATE INDEX audit_entries_department ON audit_entries (department, seq DESC);
CREATE INDEX audit_entries_village ON audit_entries (village, seq DESC);
CREATE INDEX audit_entries_decision ON audit_entries (decision, seq DESC);
CREATE INDEX audit_entries_at ON audit_entries (at, seq DESC);

-- The head: the last entry's seq and hash, and the last checkpoint's seq. Every append
-- locks this one row, which is what keeps the chain single under concurrency; Verify
-- compares it with the last entry, so deleting entries at the tail shows.
CREATE TABLE audit_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    hash           TEXT NOT NULL,
    checkpoint_seq BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, checkpoint_seq)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- Signed checkpoints: the chain's (seq, hash) at a moment, signed with the
-- installation's Ed25519 key. Each names the previous checkpoint's seq inside the
-- signature, so a deleted checkpoint shows as a broken link.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        TEXT NOT NULL,
    prev_seq  BIGINT NOT NULL,
    key_id    TEXT NOT NULL,   -- hex of the first 8 bytes of SHA-256(public key)
    signature TEXT NOT NULL    -- base64 of the Ed25519 signature over CheckpointMessage
);
