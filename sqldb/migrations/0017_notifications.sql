-- Notifications (issue 19): what a change tells people is written to the outbox in
-- the change's own transaction; a dispatcher fans each row out to the people it
-- concerns (one in-app notification each) and sends their email and webhook
-- deliveries, retrying with backoff.

-- fanned_at is '' until the row's notifications are made.
CREATE TABLE outbox (
    id          {{ID}},
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    task_id     TEXT NOT NULL DEFAULT '',
    pairing_id  BIGINT NOT NULL DEFAULT 0,
    cycle_id    BIGINT NOT NULL DEFAULT 0,
    actor       TEXT NOT NULL DEFAULT '',
    recipients  TEXT NOT NULL DEFAULT '',   -- JSON array of usernames the event names; '' for the kind's audience
    data        TEXT NOT NULL DEFAULT '',
    fanned_at   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_unfanned ON outbox (id) WHERE fanned_at = '';

-- The bell: one row per person an outbox row reaches, once (a fan-out tried again
-- after a crash adds nothing).
CREATE TABLE notifications (
    id          {{ID}},
    username    TEXT NOT NULL,
    outbox_id   BIGINT NOT NULL REFERENCES outbox (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    link        TEXT NOT NULL DEFAULT '',
    task_id     TEXT NOT NULL DEFAULT '',
    pairing_id  BIGINT NOT NULL DEFAULT 0,
    read_at     TEXT NOT NULL DEFAULT '',
    UNIQUE (outbox_id, username)
);
CREATE INDEX notifications_user ON notifications (username, id);
CREATE INDEX notifications_unread ON notifications (username, id) WHERE read_at = '';

-- Each email or webhook a notification is sent as: pending until the server took
-- it (sent) or given up (dead). A digest's wait for the user's digest time (next_at);
-- claimed_until is the lease of the instance sending it.
CREATE TABLE deliveries (
    id               {{ID}},
    notification_id  BIGINT NOT NULL REFERENCES notifications (id),
    username         TEXT NOT NULL,
    channel          TEXT NOT NULL,             -- email | webhook
    target           TEXT NOT NULL,             -- the address or URL at fan-out
    format           TEXT NOT NULL DEFAULT '',  -- a webhook's: dingtalk | wecom | json
    digest           INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL,             -- pending | sent | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_at          TEXT NOT NULL,
    claimed_until    TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    sent_at          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_due ON deliveries (digest, next_at) WHERE status = 'pending';
CREATE INDEX deliveries_notification ON deliveries (notification_id);

-- How each user is reached besides the bell, and what they want sent.
CREATE TABLE user_contacts (
    username         TEXT PRIMARY KEY REFERENCES users (username),
    email            TEXT NOT NULL DEFAULT '',
    email_enabled    INTEGER NOT NULL DEFAULT 0,
    webhook_url      TEXT NOT NULL DEFAULT '',
    webhook_format   TEXT NOT NULL DEFAULT 'json',
    webhook_enabled  INTEGER NOT NULL DEFAULT 0,
    mute             TEXT NOT NULL DEFAULT '[]', -- JSON array of kinds sent to neither
    digest           INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL
);
