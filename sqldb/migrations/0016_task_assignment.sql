-- Running the programme day to day (issue 19): who a task is assigned to, who acts
-- for whom while away, deadlines extended, notes on a task, and inspection teams.

-- A task is its role's pool's (any account the policy lets act on it) until an
-- organiser reassigns it or someone delegates it: then it is assignee's (a username),
-- and whoever assignee has delegated it to.
ALTER TABLE tasks ADD COLUMN assignee TEXT NOT NULL DEFAULT '';
-- The due date as first set, when an organiser has extended it ('' otherwise).
ALTER TABLE tasks ADD COLUMN first_due_date TEXT NOT NULL DEFAULT '';

-- 代理: delegator's tasks are delegate's too from starts_at until until (real time,
-- fixed-width UTC): one task's (task_id) or all of them ('' for every task).
CREATE TABLE delegations (
    id          {{ID}},
    delegator   TEXT NOT NULL,
    delegate    TEXT NOT NULL,
    task_id     TEXT NOT NULL DEFAULT '',
    starts_at   TEXT NOT NULL,
    until       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX delegations_delegate ON delegations (delegate, until);
CREATE INDEX delegations_delegator ON delegations (delegator, until);
CREATE INDEX tasks_assignee ON tasks (assignee, status);

-- What was done about a task besides deciding it: reassigned, delegated, its due date
-- extended, reminded by hand, a note. Kept with the task; each is in the trail too.
CREATE TABLE task_actions (
    id       {{ID}},
    task_id  TEXT NOT NULL REFERENCES tasks (id),
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,          -- reassign | delegate | due | remind | note
    detail   TEXT NOT NULL DEFAULT '' -- JSON
);
CREATE INDEX task_actions_task ON task_actions (task_id, id);

-- 检查验收组: a cycle's named inspection teams of raters, and the pairings each
-- scores at acceptance.
CREATE TABLE inspection_teams (
    id          {{ID}},
    cycle_id    BIGINT NOT NULL REFERENCES cycles (id),
    name        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (cycle_id, name)
);
CREATE TABLE inspection_team_members (
    team_id   BIGINT NOT NULL REFERENCES inspection_teams (id),
    username  TEXT NOT NULL,
    PRIMARY KEY (team_id, username)
);
CREATE TABLE inspection_assignments (
    pairing_id  BIGINT PRIMARY KEY REFERENCES pairings (id),
    team_id     BIGINT NOT NULL REFERENCES inspection_teams (id)
);
CREATE INDEX inspection_assignments_team ON inspection_assignments (team_id);
