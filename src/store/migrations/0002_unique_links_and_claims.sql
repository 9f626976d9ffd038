-- A link is seen once: the uniqueness the recorder relied on by checking first is now the
-- database's, so INSERT ... ON CONFLICT DO NOTHING decides, and a second writer cannot race.
-- Earlier code never stored a link twice; should a copy exist anyway, the first row keeps it.
UPDATE seen SET link = NULL
 WHERE link IS NOT NULL
   AND rowid NOT IN (SELECT MIN(rowid) FROM seen WHERE link IS NOT NULL GROUP BY link);
DROP INDEX IF EXISTS seen_link;
CREATE UNIQUE INDEX seen_link ON seen(link);
-- A sink claims the rows it is about to deliver; a claim older than the lease is free again
-- (a delivery task that died), and a start-up with the state directory locked frees them all.
ALTER TABLE outbox ADD COLUMN claimed_at INTEGER;
