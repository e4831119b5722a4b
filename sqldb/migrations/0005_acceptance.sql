-- Acceptance (issue 6): each pairing's confirmed result, kept beyond any workflow
-- history: the combined scores as exact decimals, the grade, the village's new class.
CREATE TABLE acceptance_results (
    pairing_id   BIGINT PRIMARY KEY REFERENCES pairings (id),
    cycle_id     BIGINT NOT NULL REFERENCES cycles (id),
    total        TEXT NOT NULL,      -- exact decimal, two places
    grade        TEXT NOT NULL,
    result       TEXT NOT NULL,      -- JSON: each good's score, raters, trimmed
    new_class    INTEGER NOT NULL,
    confirmed_by TEXT NOT NULL,
    confirmed_at TEXT NOT NULL
);
CREATE INDEX acceptance_results_cycle ON acceptance_results (cycle_id);
