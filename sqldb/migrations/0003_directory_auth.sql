-- The directory (部门, 行政村, 人员) as far as identity and authorization need it: who
-- belongs to which department, which county a village is in. Issue 5 fills it by import.
CREATE TABLE departments (
    code   TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    level  TEXT NOT NULL,          -- 市直 city or 县直 county
    county TEXT NOT NULL DEFAULT '' -- '' for city-level departments
);

CREATE TABLE villages (
    code                  TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    county                TEXT NOT NULL,
    township              TEXT NOT NULL,
    class                 INTEGER NOT NULL,
    collective_income_wan TEXT NOT NULL DEFAULT '0', -- exact decimal as text
    population            INTEGER NOT NULL DEFAULT 0,
    households            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX villages_county ON villages (county);

CREATE TABLE people (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    department_code TEXT NOT NULL REFERENCES departments (code),
    title           TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX people_department ON people (department_code);

-- Accounts. A user may be a person of the directory (and so of a department) or speak
-- for a village; roles live in casbin_rule.
CREATE TABLE users (
    id            {{ID}},
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,                    -- argon2id, PHC string form
    person_id     TEXT REFERENCES people (id),
    village_code  TEXT REFERENCES villages (code),
    disabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT NOT NULL DEFAULT '',         -- fixed-width UTC; '' when not locked
    created_at    TEXT NOT NULL
);

-- Bearer tokens and UI sessions, stored as SHA-256 of the secret: a leaked database
-- does not leak usable tokens.
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,        -- 'bearer' or 'session'
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_user ON tokens (user_id);

-- Casbin's policy: p rules (role permissions) and g rules (user, role, jurisdiction).
CREATE TABLE casbin_rule (
    id    {{ID}},
    ptype TEXT NOT NULL,
    v0    TEXT NOT NULL DEFAULT '',
    v1    TEXT NOT NULL DEFAULT '',
    v2    TEXT NOT NULL DEFAULT '',
    v3    TEXT NOT NULL DEFAULT '',
    v4    TEXT NOT NULL DEFAULT '',
    v5    TEXT NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);
INSERT INTO settings (key, value, updated_at) VALUES ('policy_version', '0', '');
