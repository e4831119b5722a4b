-- Leaders' contact villages (领导联系点, issue 18): a city or county leader
-- registered to a village; their visits are the village's pairings' visit records
-- in their name.
CREATE TABLE leader_contacts (
    id            {{ID}},
    village_code  TEXT NOT NULL REFERENCES villages (code),
    leader        TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    level         TEXT NOT NULL,          -- city | county
    registered_by TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE (village_code, leader)
);
