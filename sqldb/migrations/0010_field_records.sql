-- Field records (issue 17): check-ins as they happen, located, confirmed; leave.

-- A village's point (its committee's office), for a check-in's distance: both or neither.
ALTER TABLE villages ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE villages ADD COLUMN lng DOUBLE PRECISION;

-- A check-in is stamped with the server's time (recorded_at); a position, when the
-- browser gave one, with its distance from the village and whether that lies within
-- the cycle's radius (NULL: unknown). A late one (day before today) carries a reason
-- and waits for the team leader (status pending → ok | refused); the village's word
-- on the month is village_status (confirmed | disputed).
ALTER TABLE checkins ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE checkins ADD COLUMN lng DOUBLE PRECISION;
ALTER TABLE checkins ADD COLUMN accuracy_m DOUBLE PRECISION;
ALTER TABLE checkins ADD COLUMN distance_m DOUBLE PRECISION;
ALTER TABLE checkins ADD COLUMN in_range INTEGER;
ALTER TABLE checkins ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkins ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE checkins ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE checkins ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE checkins ADD COLUMN confirmed_at TEXT NOT NULL DEFAULT '';
ALTER TABLE checkins ADD COLUMN village_status TEXT NOT NULL DEFAULT '';
ALTER TABLE checkins ADD COLUMN village_note TEXT NOT NULL DEFAULT '';
-- One village a day: a person checks in once a day, wherever. Before this rule a
-- person could record one day in two pairings: the earliest record of the day stays
-- (by recorded_at, then pairing), the others move to checkins_superseded, kept, not
-- counted.
CREATE TABLE checkins_superseded AS SELECT * FROM checkins WHERE 1 = 0;
INSERT INTO checkins_superseded SELECT * FROM checkins c WHERE EXISTS (SELECT 1 FROM checkins o
    WHERE o.person_id = c.person_id AND o.day = c.day
    AND (o.recorded_at < c.recorded_at OR (o.recorded_at = c.recorded_at AND o.pairing_id < c.pairing_id)));
DELETE FROM checkins WHERE EXISTS (SELECT 1 FROM checkins_superseded s
    WHERE s.pairing_id = checkins.pairing_id AND s.person_id = checkins.person_id AND s.day = checkins.day);
CREATE UNIQUE INDEX checkins_person_day ON checkins (person_id, day);

-- The village's confirmation of a month of a pairing's check-ins.
CREATE TABLE checkin_months (
    pairing_id   BIGINT NOT NULL REFERENCES pairings (id),
    month        TEXT NOT NULL,          -- YYYY-MM, programme time
    confirmed_by TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    disputed     INTEGER NOT NULL,       -- days disputed
    PRIMARY KEY (pairing_id, month)
);

-- Leave: requested by a member for themselves, decided by the department lead up to
-- the cycle's limit, by an organiser beyond it. Approved leave is excused in the
-- residency rule.
CREATE TABLE leave_requests (
    id           {{ID}},
    pairing_id   BIGINT NOT NULL REFERENCES pairings (id),
    person_id    TEXT NOT NULL,
    from_day     TEXT NOT NULL,
    to_day       TEXT NOT NULL,
    days         INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL,          -- requested | approved | refused
    requested_at TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    decided_by   TEXT NOT NULL DEFAULT '',
    decided_at   TEXT NOT NULL DEFAULT '',
    comment      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX leave_person ON leave_requests (person_id, from_day);
CREATE INDEX leave_pairing ON leave_requests (pairing_id, status);

-- Spot checks (暗访): an organiser's or reviewer's unannounced visit, who was there and
-- who was not. An absence is unexcused unless the member's approved leave covers the
-- day; an unexcused one voids that day's check-in in the residency count.
CREATE TABLE spot_checks (
    id          {{ID}},
    pairing_id  BIGINT NOT NULL REFERENCES pairings (id),
    day         TEXT NOT NULL,
    note        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX spot_checks_pairing ON spot_checks (pairing_id, day);
CREATE TABLE spot_check_people (
    spot_check_id BIGINT NOT NULL REFERENCES spot_checks (id),
    person_id     TEXT NOT NULL,
    present       INTEGER NOT NULL,
    excused       INTEGER NOT NULL,      -- an absence covered by approved leave
    PRIMARY KEY (spot_check_id, person_id)
);
CREATE INDEX spot_check_people_person ON spot_check_people (person_id);

-- The team's work log (民情日记): dated entries, optionally tied to a goal of the plan.
CREATE TABLE work_log (
    id          {{ID}},
    pairing_id  BIGINT NOT NULL REFERENCES pairings (id),
    day         TEXT NOT NULL,
    kind        TEXT NOT NULL,           -- visit | issue | action | meeting | other
    goal        TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX work_log_pairing ON work_log (pairing_id, day);

-- Evidence files: what each upload is; its content is kept by SHA-256 in the blob
-- store (a directory under the data dir, or S3), once however often it is sent. A
-- file belongs to the pairing it was uploaded to, and is read as that pairing is.
CREATE TABLE files (
    id           TEXT PRIMARY KEY,       -- random, 32 hex digits
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    name         TEXT NOT NULL,
    pairing_id   BIGINT NOT NULL REFERENCES pairings (id),
    thumb_sha256 TEXT NOT NULL DEFAULT '',
    uploaded_by  TEXT NOT NULL,
    uploaded_at  TEXT NOT NULL
);
CREATE INDEX files_pairing ON files (pairing_id, uploaded_at);

-- A file named as evidence by a record of its pairing: read as that record is read.
CREATE TABLE file_links (
    file_id TEXT NOT NULL REFERENCES files (id),
    kind    TEXT NOT NULL,                -- spot_check | work_log | leave | visit
    ref     TEXT NOT NULL,                -- the record's id
    PRIMARY KEY (file_id, kind, ref)
);
