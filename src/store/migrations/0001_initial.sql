-- The schema as it was before versioning (user_version 0). IF NOT EXISTS: a database written
-- before numbered migrations already has these tables, and keeps them as they are.
CREATE TABLE IF NOT EXISTS feeds (
    name                 TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    etag                 TEXT,
    last_modified        TEXT,
    first_polled_at      INTEGER,
    last_fetch_at        INTEGER,
    last_status          TEXT,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         INTEGER,
    retry_after_until    INTEGER,
    items_seen           INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    key           TEXT PRIMARY KEY,
    link          TEXT,
    feed          TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    verdicts      TEXT
);
CREATE INDEX IF NOT EXISTS seen_link ON seen(link) WHERE link IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id     TEXT NOT NULL,
    sink         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (alert_id, sink)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(sink, seq) WHERE delivered_at IS NULL;
