-- Content fingerprints (issue 11): this feed already had an item with this title and summary
-- (`feed::fingerprint`), under `key`. An item whose guid changes on every poll but whose text
-- does not is then a duplicate. Rows are only added, in the transaction that marks their item
-- seen.
CREATE TABLE IF NOT EXISTS seen_fingerprints (
    feed          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    key           TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (feed, fingerprint)
) WITHOUT ROWID;
