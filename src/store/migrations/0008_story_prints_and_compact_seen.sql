-- Story fingerprints in the store (issues 12 and 15). Start-up used to fingerprint the stored
-- text of up to 50,000 window items again; now each clustered item's fingerprint is stored once,
-- encoded (`story::encode_fingerprint`), under the clusterer's slot number, and its lookup keys
-- (LSH bands of the body signature, rarest terms, main actors, link) go into an indexed table,
-- so start-up reads only the newest items and an older item is found through its keys when a
-- new item shares them. Both tables only hold the window: rows are deleted, oldest slot first,
-- once their items' published time left it. Slots grow with recording order.
CREATE TABLE IF NOT EXISTS story_prints (
    slot       INTEGER PRIMARY KEY,
    item_key   TEXT NOT NULL,
    story_slot INTEGER NOT NULL,
    published  INTEGER NOT NULL,
    print      BLOB NOT NULL
);
-- A plain rowid table plus an index on (key, slot): rows are appended in slot order, so the
-- expired ones are a prefix of the table and pruning costs what it deletes, not a scan.
CREATE TABLE IF NOT EXISTS story_keys (
    key  INTEGER NOT NULL,
    slot INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS story_keys_key ON story_keys(key, slot);
-- Items recorded before this version have their text (to be fingerprinted again at start-up)
-- and no stored fingerprint; newer ones have no text. Start-up finds the few old ones here.
CREATE INDEX IF NOT EXISTS story_items_text ON story_items(published) WHERE text <> '';
-- Fewer bytes per seen item (issue 15: at most 400 with indexes, from 560).
-- 1. Most items' key is their link: the link is stored only when it differs from the key (NULL
--    otherwise), and only stored links are in the unique link index. "Is this link seen?" asks
--    both the keys and the links (`sqlite.rs`, `unseen`, `record_items`).
DROP INDEX IF EXISTS seen_link;
UPDATE seen SET link = NULL WHERE link = key;
CREATE UNIQUE INDEX seen_link ON seen(link) WHERE link IS NOT NULL;
-- 2. Content fingerprints name their seen item by rowid instead of repeating its key, and keep
--    the 16-byte hash as bytes instead of 32 hex digits. Seen rowids are stable: rows are only
--    appended and deleted, never moved (retention already walks them in rowid order; nothing
--    runs VACUUM). A fingerprint whose item is gone is dropped here, as the sweep would.
CREATE TABLE IF NOT EXISTS seen_prints (
    feed          TEXT NOT NULL,
    print         BLOB NOT NULL,
    seen          INTEGER NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (feed, print)
) WITHOUT ROWID;
INSERT OR IGNORE INTO seen_prints (feed, print, seen, first_seen_at)
SELECT f.feed, unhex(f.fingerprint), s.rowid, f.first_seen_at
  FROM seen_fingerprints f JOIN seen s ON s.key = f.key
 WHERE unhex(f.fingerprint) IS NOT NULL;
DROP TABLE seen_fingerprints;
