-- Settings of this installation that must outlive any one process: its identity and,
-- later, keys and bootstrap markers. Values are text.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
