-- Publicity, appeal and commendation (issue 6).

-- A result becomes final after its publicity and appeal: the appeal (JSON: who,
-- why, the decision) and the final scores, which an upheld appeal leaves as they were.
ALTER TABLE acceptance_results ADD COLUMN appeal TEXT NOT NULL DEFAULT '';
ALTER TABLE acceptance_results ADD COLUMN final_total TEXT NOT NULL DEFAULT '';
ALTER TABLE acceptance_results ADD COLUMN final_grade TEXT NOT NULL DEFAULT '';
ALTER TABLE acceptance_results ADD COLUMN final_result TEXT NOT NULL DEFAULT '';
ALTER TABLE acceptance_results ADD COLUMN finalized_at TEXT NOT NULL DEFAULT '';

-- A cycle's commendation has tasks of its own, not of one pairing: a task's pairing
-- becomes optional. SQLite cannot drop a NOT NULL, so the table is rebuilt (nothing
-- references it).
CREATE TABLE tasks_v6 (
    id              TEXT PRIMARY KEY,    -- <pairing id>-<sequence>, or c<cycle id>-<sequence>
    kind            TEXT NOT NULL,
    pairing_id      BIGINT REFERENCES pairings (id),
    cycle_id        BIGINT NOT NULL,
    role            TEXT NOT NULL,
    jurisdiction    TEXT NOT NULL,
    department_code TEXT NOT NULL,
    village_code    TEXT NOT NULL,
    period          INTEGER NOT NULL DEFAULT 0,
    subject         TEXT NOT NULL DEFAULT '',
    due_at          TEXT NOT NULL,
    due_date        TEXT NOT NULL,
    remind_at       TEXT NOT NULL,
    status          TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    reminded_at     TEXT NOT NULL DEFAULT '',
    escalated_at    TEXT NOT NULL DEFAULT '',
    closed_at       TEXT NOT NULL DEFAULT '',
    closed_by       TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL DEFAULT ''
);
INSERT INTO tasks_v6 SELECT id, kind, pairing_id, cycle_id, role, jurisdiction, department_code, village_code, period, subject,
    due_at, due_date, remind_at, status, opened_at, reminded_at, escalated_at, closed_at, closed_by, outcome FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v6 RENAME TO tasks;
CREATE INDEX tasks_inbox ON tasks (status, role, due_at);
CREATE INDEX tasks_escalated ON tasks (status, escalated_at);
CREATE INDEX tasks_pairing ON tasks (pairing_id);

-- 表彰: a cycle's commendation, from its ranking to the published list. The list is
-- kept as published (JSON), so it never changes after.
CREATE TABLE commendations (
    cycle_id     BIGINT PRIMARY KEY REFERENCES cycles (id),
    status       TEXT NOT NULL,          -- proposing | approving | published
    list         TEXT NOT NULL DEFAULT '',
    approved_by  TEXT NOT NULL DEFAULT '',
    published_at TEXT NOT NULL DEFAULT ''
);

-- 优秀包村干部: the cadres the department leads propose.
CREATE TABLE commendation_cadres (
    cycle_id        BIGINT NOT NULL REFERENCES cycles (id),
    person_id       TEXT NOT NULL REFERENCES people (id),
    department_code TEXT NOT NULL,
    pairing_id      BIGINT NOT NULL REFERENCES pairings (id),
    reason          TEXT NOT NULL,
    proposed_by     TEXT NOT NULL,
    proposed_at     TEXT NOT NULL,
    status          TEXT NOT NULL,       -- proposed | approved | excluded
    PRIMARY KEY (cycle_id, person_id)
);
