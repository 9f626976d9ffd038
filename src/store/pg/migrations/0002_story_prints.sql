-- Story fingerprints in the store, as SQLite's migration 0008 (issues 12 and 15): each clustered
-- item's encoded fingerprint under the clusterer's slot, and its lookup keys (LSH bands, rarest
-- terms, actors, link) indexed, so start-up reads only the newest items and an older item of the
-- window is found through a key a new item shares. Rows leave with the window.
CREATE TABLE story_prints (
    slot       BIGINT PRIMARY KEY,
    item_key   TEXT NOT NULL,
    story_slot BIGINT NOT NULL,
    published  BIGINT NOT NULL,
    print      BYTEA NOT NULL
);
CREATE INDEX story_prints_published ON story_prints(published);
CREATE TABLE story_keys (
    key  BIGINT NOT NULL,
    slot BIGINT NOT NULL
);
CREATE INDEX story_keys_key ON story_keys(key, slot);
CREATE INDEX story_keys_slot ON story_keys(slot);
-- Items recorded before this version keep their text to be fingerprinted again at start-up.
CREATE INDEX story_items_text ON story_items(published) WHERE text <> '';
