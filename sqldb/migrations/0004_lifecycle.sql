-- The lifecycle (issue 5): cycles, their pairings and teams, the tasks of every open
-- human step, the pairings' timelines and the residency check-ins. Workflows write
-- through activities; lists and inboxes read here, never from workflow state.
CREATE TABLE cycles (
    id           {{ID}},
    name         TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,          -- '*' or a county
    settings     TEXT NOT NULL,          -- JSON, frozen at launch
    status       TEXT NOT NULL,          -- running | cancelled | closed
    launched_by  TEXT NOT NULL,
    launched_at  TEXT NOT NULL           -- real time: the programme clock's launch
);

CREATE TABLE pairings (
    id              {{ID}},
    cycle_id        BIGINT NOT NULL REFERENCES cycles (id),
    ordinal         INTEGER NOT NULL,    -- position in the launch; batches are ranges of it
    department_code TEXT NOT NULL REFERENCES departments (code),
    village_code    TEXT NOT NULL REFERENCES villages (code),
    kind            TEXT NOT NULL,       -- support | model
    county          TEXT NOT NULL,       -- the village's, at launch
    baseline_class  INTEGER NOT NULL,    -- the village's class at launch
    baseline_income_wan TEXT NOT NULL,   -- its collective income at launch, exact decimal
    stage           TEXT NOT NULL,
    period          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (cycle_id, village_code),
    UNIQUE (cycle_id, ordinal)
);
CREATE INDEX pairings_cycle_stage ON pairings (cycle_id, stage);
CREATE INDEX pairings_cycle_county ON pairings (cycle_id, county);
CREATE INDEX pairings_department ON pairings (department_code);

-- The approved team of each pairing.
CREATE TABLE team_members (
    pairing_id BIGINT NOT NULL REFERENCES pairings (id),
    person_id  TEXT NOT NULL REFERENCES people (id),
    leader     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pairing_id, person_id)
);
CREATE INDEX team_members_person ON team_members (person_id);

CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,    -- <pairing id>-<sequence>
    kind            TEXT NOT NULL,
    pairing_id      BIGINT NOT NULL REFERENCES pairings (id),
    cycle_id        BIGINT NOT NULL,
    role            TEXT NOT NULL,
    jurisdiction    TEXT NOT NULL,       -- the village's county
    department_code TEXT NOT NULL,
    village_code    TEXT NOT NULL,
    period          INTEGER NOT NULL DEFAULT 0,
    subject         TEXT NOT NULL DEFAULT '',
    due_at          TEXT NOT NULL,       -- real time
    due_date        TEXT NOT NULL,       -- programme date
    remind_at       TEXT NOT NULL,
    status          TEXT NOT NULL,       -- open | done | cancelled | expired
    opened_at       TEXT NOT NULL,
    reminded_at     TEXT NOT NULL DEFAULT '',
    escalated_at    TEXT NOT NULL DEFAULT '',
    closed_at       TEXT NOT NULL DEFAULT '',
    closed_by       TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_inbox ON tasks (status, role, due_at);
CREATE INDEX tasks_escalated ON tasks (status, escalated_at);
CREATE INDEX tasks_pairing ON tasks (pairing_id);

CREATE TABLE pairing_events (
    id           {{ID}},
    pairing_id   BIGINT NOT NULL REFERENCES pairings (id),
    at           TEXT NOT NULL,
    programme_at TEXT NOT NULL,
    actor        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    task_id      TEXT NOT NULL DEFAULT '',
    period       INTEGER NOT NULL DEFAULT 0,
    data         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pairing_events_pairing ON pairing_events (pairing_id, id);

-- 驻村打卡: one row per member per programme day.
CREATE TABLE checkins (
    pairing_id  BIGINT NOT NULL REFERENCES pairings (id),
    person_id   TEXT NOT NULL,
    day         TEXT NOT NULL,           -- programme date YYYY-MM-DD
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (pairing_id, person_id, day)
);

-- Keys of the workflow changes already applied: a retried activity applies nothing twice.
CREATE TABLE applied_changes (
    key        TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
);
