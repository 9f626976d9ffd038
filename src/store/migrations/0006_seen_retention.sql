-- Retention of seen items (issue 15). A seen item may be forgotten once no feed carries it and
-- it is older than `seen_retention`; these columns tell "still carried" cheaply:
--   seen.last_carried_at  the last time a full (200) listing of a feed named the item, refreshed
--                         at most once a day per item (NULL: never refreshed, use first_seen_at)
--   seen.carried_by       feeds.rowid of the feed whose listing refreshed it last (NULL: the feed
--                         it was first seen in, by name)
--   feeds.listed_at       the time of the feed's last full listing recorded
--   feeds.answered_at     the last time the feed answered at all (200 or 304): a feed that has
--                         not answered for the retention carries nothing any more
-- Added as NULL columns: no existing row is rewritten, so the migration costs nothing on a large
-- database.
ALTER TABLE seen ADD COLUMN last_carried_at INTEGER;
ALTER TABLE seen ADD COLUMN carried_by INTEGER;
ALTER TABLE feeds ADD COLUMN listed_at INTEGER;
ALTER TABLE feeds ADD COLUMN answered_at INTEGER;
