-- Stories (issue 12): which recorded items report the same event, and what each topic has
-- alerted about each story. Rows are written only by the recorder, in the transaction that
-- marks their item seen (or that queues an update alert in the outbox).
--
-- One row per recorded item that was clustered. `text` is the start of the item's body (what
-- the fingerprint reads), kept so that start-up can rebuild the clusterer's window; it is
-- emptied once the item has left the window. `why` is NULL for the item that started the story.
CREATE TABLE IF NOT EXISTS story_items (
    item_key    TEXT PRIMARY KEY,
    story       TEXT NOT NULL,
    published   INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    why         TEXT,
    similarity  REAL,
    matched     TEXT,
    feed        TEXT NOT NULL,
    outlet      TEXT NOT NULL,
    title       TEXT NOT NULL,
    url         TEXT,
    topics      TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS story_items_story ON story_items(story, published);
CREATE INDEX IF NOT EXISTS story_items_published ON story_items(published);
-- One row per story: its first item and title, counts so far.
CREATE TABLE IF NOT EXISTS stories (
    id           TEXT PRIMARY KEY,
    first_item   TEXT NOT NULL,
    title        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    last_item_at INTEGER NOT NULL,
    items        INTEGER NOT NULL,
    outlets      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_last_item ON stories(last_item_at);
-- The distinct outlets (link hosts) of a story.
CREATE TABLE IF NOT EXISTS story_outlets (
    story  TEXT NOT NULL,
    outlet TEXT NOT NULL,
    PRIMARY KEY (story, outlet)
) WITHOUT ROWID;
-- Per story and topic: the `new_story` alert, when the last alert went out and how many
-- updates have (the next update's id is derived from story, topic and sequence + 1).
CREATE TABLE IF NOT EXISTS story_alerts (
    story          TEXT NOT NULL,
    topic          TEXT NOT NULL,
    first_alert_id TEXT NOT NULL,
    last_alert_at  INTEGER NOT NULL,
    sequence       INTEGER NOT NULL,
    PRIMARY KEY (story, topic)
) WITHOUT ROWID;
-- Matching newcomers waiting for the next update alert of their story and topic: the item's
-- own alert line (its title, feed, link, score and evidence).
CREATE TABLE IF NOT EXISTS story_pending (
    story       TEXT NOT NULL,
    topic       TEXT NOT NULL,
    item_key    TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (story, topic, item_key)
) WITHOUT ROWID;
