-- The PostgreSQL schema, version 1: the SQLite schema as of its migration 0007 (feeds, seen,
-- fingerprints, outbox with claims and digests, stories), with what several instances sharing
-- it need: an `id` where SQLite used its implicit rowid, who claimed an outbox row, the
-- instances alive (heartbeats) and the feed leases. Times are Unix seconds unless `_ms`.
CREATE TABLE feeds (
    id                   BIGSERIAL UNIQUE,
    name                 TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    etag                 TEXT,
    last_modified        TEXT,
    first_polled_at      BIGINT,
    last_fetch_at        BIGINT,
    last_status          TEXT,
    last_error           TEXT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    next_poll_at         BIGINT,
    retry_after_until    BIGINT,
    items_seen           BIGINT NOT NULL DEFAULT 0,
    poll_interval_ms     BIGINT,
    feed_hint_secs       BIGINT,
    listed_at            BIGINT,
    answered_at          BIGINT
);
-- Unique key and unique link: INSERT ... ON CONFLICT DO NOTHING decides what is new, whichever
-- instance saw the item first (NULL links are distinct, as in SQLite).
CREATE TABLE seen (
    id              BIGSERIAL UNIQUE,
    key             TEXT PRIMARY KEY,
    link            TEXT UNIQUE,
    feed            TEXT NOT NULL,
    first_seen_at   BIGINT NOT NULL,
    verdicts        TEXT,
    last_carried_at BIGINT,
    carried_by      BIGINT
);
CREATE TABLE seen_fingerprints (
    feed          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    key           TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (feed, fingerprint)
);
CREATE TABLE digests (
    id         BIGSERIAL PRIMARY KEY,
    sink       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT
);
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    alert_id     TEXT NOT NULL,
    sink         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    claimed_at   BIGINT,
    -- The instance whose delivery task claimed the row: a dead instance's claims are free.
    claimed_by   TEXT,
    digest_id    BIGINT REFERENCES digests(id),
    UNIQUE (alert_id, sink)
);
CREATE INDEX outbox_pending ON outbox(sink, seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_digest ON outbox(digest_id) WHERE digest_id IS NOT NULL;
CREATE TABLE story_items (
    id          BIGSERIAL UNIQUE,
    item_key    TEXT PRIMARY KEY,
    story       TEXT NOT NULL,
    published   BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    why         TEXT,
    similarity  DOUBLE PRECISION,
    matched     TEXT,
    feed        TEXT NOT NULL,
    outlet      TEXT NOT NULL,
    title       TEXT NOT NULL,
    url         TEXT,
    topics      TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX story_items_story ON story_items(story, published);
CREATE INDEX story_items_published ON story_items(published);
CREATE TABLE stories (
    id           TEXT PRIMARY KEY,
    first_item   TEXT NOT NULL,
    title        TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    last_item_at BIGINT NOT NULL,
    items        BIGINT NOT NULL,
    outlets      BIGINT NOT NULL
);
CREATE INDEX stories_last_item ON stories(last_item_at);
CREATE TABLE story_outlets (
    story  TEXT NOT NULL,
    outlet TEXT NOT NULL,
    PRIMARY KEY (story, outlet)
);
CREATE TABLE story_alerts (
    story          TEXT NOT NULL,
    topic          TEXT NOT NULL,
    first_alert_id TEXT NOT NULL,
    last_alert_at  BIGINT NOT NULL,
    sequence       BIGINT NOT NULL,
    PRIMARY KEY (story, topic)
);
CREATE TABLE story_pending (
    story       TEXT NOT NULL,
    topic       TEXT NOT NULL,
    item_key    TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (story, topic, item_key)
);
-- Instances alive: each renews its heartbeat every third of the lease timeout.
CREATE TABLE instances (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             BIGINT NOT NULL,
    started_at_ms   BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    lease_timeout_ms BIGINT NOT NULL
);
-- A host's feeds are polled by the instance holding the host's lease (so the per-host
-- politeness limits of that one instance hold for the host); a lease not renewed by
-- `expires_at_ms` is free for any instance to take.
CREATE TABLE leases (
    host          TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    taken_at_ms   BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX leases_owner ON leases(owner);
