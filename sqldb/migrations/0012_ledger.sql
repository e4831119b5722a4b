-- The programme's ledger and figures (issue 18).

-- The project ledger (台账): one row a project, money by source in yuan (1 万元 =
-- 10,000 yuan: the 4 decimals of 万元 a form takes are exact), each status's
-- programme date, and the period whose report counted it.
CREATE TABLE projects (
    id              {{ID}},
    pairing_id      BIGINT NOT NULL REFERENCES pairings (id),
    cycle_id        BIGINT NOT NULL REFERENCES cycles (id),
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    quantity        TEXT NOT NULL,
    unit            TEXT NOT NULL,
    own_yuan        BIGINT NOT NULL DEFAULT 0,
    higher_yuan     BIGINT NOT NULL DEFAULT 0,
    social_yuan     BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,          -- planned | under_way | completed | accepted
    planned_on      TEXT NOT NULL,
    started_on      TEXT NOT NULL DEFAULT '',
    completed_on    TEXT NOT NULL DEFAULT '',
    accepted_on     TEXT NOT NULL DEFAULT '',
    from_plan       INTEGER NOT NULL DEFAULT 0,
    reported_period INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_by      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX projects_pairing ON projects (pairing_id, id);
CREATE INDEX projects_cycle ON projects (cycle_id, kind);

-- Each period's residency counts, as its period.ended event carries them: the
-- statistics' compliance is a sum over these, not a read of every event.
CREATE TABLE pairing_residency (
    pairing_id    BIGINT NOT NULL REFERENCES pairings (id),
    period        INTEGER NOT NULL,
    member_months INTEGER NOT NULL,
    short_months  INTEGER NOT NULL,
    PRIMARY KEY (pairing_id, period)
);
INSERT INTO pairing_residency (pairing_id, period, member_months, short_months)
    SELECT pairing_id, period, MAX(COALESCE({{JSON_INT data member_months}}, 0)), MAX(COALESCE({{JSON_INT data member_months_short}}, 0))
    FROM pairing_events WHERE kind = 'period.ended' GROUP BY pairing_id, period;

-- A cycle's open tasks, for its overdue and escalated counts.
CREATE INDEX tasks_cycle_status ON tasks (cycle_id, status);
