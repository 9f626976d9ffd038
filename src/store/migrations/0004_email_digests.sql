-- E-mail digests (issue 13): one row per message that lists several alerts. The outbox rows
-- that go into a digest get its id in the same transaction that creates it, before the message
-- is sent; a digest whose send failed or was cut short by a crash is sent again with the same
-- rows, so the same Message-ID. `sent_at` and the rows' `delivered_at` are set together.
CREATE TABLE IF NOT EXISTS digests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sink       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
ALTER TABLE outbox ADD COLUMN digest_id INTEGER REFERENCES digests(id);
CREATE INDEX IF NOT EXISTS outbox_digest ON outbox(digest_id) WHERE digest_id IS NOT NULL;
