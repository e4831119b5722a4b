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
    accepted_by     TEXT NOT NULL DEFAULT '',
    acceptance_note TEXT NOT NULL DEFAULT '',  -- the inspector's opinion (验收意见)
    from_plan       INTEGER NOT NULL DEFAULT 0,
    reported_period INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_by      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX projects_pairing ON projects (pairing_id, id);
CREATE INDEX projects_cycle ON projects (cycle_id, kind);

-- Each period's residency counts, as its period.ended event carries them, and
-- their sums on the pairing: the statistics' compliance is a sum over the pairings,
-- not a read of every event.
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
ALTER TABLE pairings ADD COLUMN residency_member_months INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairings ADD COLUMN residency_short INTEGER NOT NULL DEFAULT 0;
UPDATE pairings SET
    residency_member_months = COALESCE((SELECT SUM(r.member_months) FROM pairing_residency r WHERE r.pairing_id = pairings.id), 0),
    residency_short = COALESCE((SELECT SUM(r.short_months) FROM pairing_residency r WHERE r.pairing_id = pairings.id), 0);

-- A cycle's open tasks, for its overdue and escalated counts.
CREATE INDEX tasks_cycle_status ON tasks (cycle_id, status);

-- A village's collective income's band (baocun.IncomeBands: 0 none, 1 under 1 万元,
-- 2 from 1 to under 5, 3 from 5 to under 10, 4 10 and more), kept beside the income
-- by every write of it, for the statistics; and the lagging villages counted by
-- county from an index alone.
ALTER TABLE villages ADD COLUMN income_band INTEGER NOT NULL DEFAULT 0;
UPDATE villages SET income_band = CASE
    WHEN CAST(NULLIF(collective_income_wan, '') AS NUMERIC) IS NULL OR CAST(NULLIF(collective_income_wan, '') AS NUMERIC) <= 0 THEN 0
    WHEN CAST(collective_income_wan AS NUMERIC) < 1 THEN 1
    WHEN CAST(collective_income_wan AS NUMERIC) < 5 THEN 2
    WHEN CAST(collective_income_wan AS NUMERIC) < 10 THEN 3
    ELSE 4 END;
CREATE INDEX villages_class ON villages (class, county);
