-- Bulletins (通报, issue 18): each published bulletin exactly as published (its JSON,
-- and that JSON's SHA-256, which the audit trail holds too); one a period a cycle.
CREATE TABLE bulletins (
    id           {{ID}},
    cycle_id     BIGINT NOT NULL REFERENCES cycles (id),
    period       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    content      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at TEXT NOT NULL,
    UNIQUE (cycle_id, period)
);
