//! The story lock on PostgreSQL (issue 16): a session advisory lock, per schema, held by one
//! instance's recorder while it reads what the other instances filed in stories, clusters its
//! batch against it and records the batch; so story filing is serialised across instances and
//! each sees the others' items, counts, alert states and waiting newcomers before it decides.
//!
//! The lock is taken on a pooled connection of its own, in the same round trip as the reads
//! (the requests are pipelined: the server runs them in order, so every read runs with the lock
//! held), and released in one statement that also reads the marks the book has reached. A guard dropped without a release closes its connection instead of
//! returning it to the pool, which releases the lock on the server.

use super::PgStore;
use crate::store::StoreError;
use crate::store::stories::{PendingNewcomer, StoredPrint, StoryMarks, StorySummary, StorySync};

/// Takes the lock; its key is per schema (as the migration lock's), so schemas sharing a
/// database do not wait for each other.
const LOCK: &str = "SELECT pg_advisory_lock(hashtext('newswatch-stories:' || current_schema()))";

/// The marks now: the next slot (the stored mark, or after the highest stored slot) and the
/// newest story change.
const MARKS: &str = "SELECT GREATEST((SELECT next_slot FROM story_marks WHERE id = 1),
                                     (SELECT COALESCE(MAX(slot), -1) + 1 FROM story_prints)),
                            (SELECT COALESCE(MAX(change_seq), 0) FROM stories)";

/// Items filed at or after a slot, with their story and the story's first item's fingerprint.
const PRINTS: &str = "SELECT p.slot, p.story_slot, p.published, p.item_key, i.story, p.print, h.print
                        FROM story_prints p JOIN story_items i ON i.item_key = p.item_key
                        LEFT JOIN story_prints h ON h.slot = p.story_slot AND p.story_slot <> p.slot
                       WHERE p.slot >= $1 AND p.published >= $2 ORDER BY p.slot LIMIT $3";

/// Stories changed after a change mark, with their outlets, at most `$2`. Every read of the
/// changed stories walks the `change_seq` index with a limit, so the cached (generic) plan of
/// the statement is an index scan whatever the mark: the planner cannot know that nearly every
/// story is older than it.
const STORIES: &str = "SELECT s.id, s.title, s.items, s.last_item_at,
                              ARRAY(SELECT o.outlet FROM story_outlets o WHERE o.story = s.id ORDER BY o.outlet)
                         FROM stories s WHERE s.change_seq > $1 ORDER BY s.change_seq LIMIT $2";

/// The alert states of those stories.
const ALERTS: &str = "SELECT a.story, a.topic, a.first_alert_id, a.last_alert_at, a.sequence
                        FROM story_alerts a
                       WHERE a.story = ANY(ARRAY(SELECT id FROM stories WHERE change_seq > $1
                                                  ORDER BY change_seq LIMIT $2))
                       ORDER BY a.story, a.topic";

/// The newcomers waiting in those stories, oldest first.
const PENDING: &str = "SELECT n.story, n.topic, n.item_key, n.recorded_at, n.body
                         FROM story_pending n
                        WHERE n.story = ANY(ARRAY(SELECT id FROM stories WHERE change_seq > $1
                                                   ORDER BY change_seq LIMIT $2))
                        ORDER BY n.recorded_at, n.item_key";

/// Releases the lock and reads the marks. The reads see the statement's snapshot, taken with
/// the lock still held. Nothing is written, so the release costs no commit.
const RELEASE: &str = "SELECT pg_advisory_unlock(hashtext('newswatch-stories:' || current_schema())),
                              GREATEST((SELECT next_slot FROM story_marks WHERE id = 1),
                                       (SELECT COALESCE(MAX(slot), -1) + 1 FROM story_prints)),
                              (SELECT COALESCE(MAX(change_seq), 0) FROM stories)";

/// A held story lock: the connection that holds it.
pub(in crate::store) struct StoryLockConn {
    /// Taken on release (back to the pool) or on drop (closed).
    client: Option<deadpool_postgres::Object>,
}

impl Drop for StoryLockConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Detached from the pool and dropped: the connection closes and the server releases
            // the lock with the session. A pooled connection must never keep it.
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

impl StoryLockConn {
    /// Releases the lock (see [`RELEASE`]) and gives the connection back to the pool.
    pub(in crate::store) async fn release(mut self) -> Result<StoryMarks, StoreError> {
        // Set at construction, taken only here and in drop.
        let client = self.client.as_ref().expect("a held lock has its connection");
        let statement = client.prepare_cached(RELEASE).await?;
        // On an error `self` is dropped, which closes the connection: the lock goes with it.
        let row = client.query_one(&statement, &[]).await?;
        let marks = StoryMarks { next_slot: row.get(1), change: row.get(2) };
        // The lock is released: the connection may go back to the pool.
        self.client.take();
        Ok(marks)
    }
}

impl PgStore {
    pub(in crate::store) async fn lock_stories(
        &self,
        known: Option<StoryMarks>,
        since: i64,
        limit: usize,
    ) -> Result<(StoryLockConn, StorySync), StoreError> {
        self.writable()?;
        let held = StoryLockConn { client: Some(self.client().await?) };
        let client = held.client.as_ref().expect("just set");
        // Prepared once per connection (cached), so the round trip below is the only one.
        let lock = client.prepare_cached(LOCK).await?;
        let marks = client.prepare_cached(MARKS).await?;
        let prints = client.prepare_cached(PRINTS).await?;
        let stories = client.prepare_cached(STORIES).await?;
        let alerts = client.prepare_cached(ALERTS).await?;
        let pending = client.prepare_cached(PENDING).await?;
        // A book about to be rebuilt needs only the marks: nothing is at or after slot MAX.
        let (after_slot, after_change) =
            known.map_or((i64::MAX, i64::MAX), |known| (known.next_slot, known.change));
        let read_limit = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        // `try_join` polls its futures in order and each sends its request on its first poll,
        // so the lock request goes first; the server answers them in order, so every read runs
        // with the lock held. One round trip for all of them.
        let (_, (marks, prints, stories, alerts, pending)) = futures_util::future::try_join(
            client.execute(&lock, &[]),
            futures_util::future::try_join5(
                client.query_one(&marks, &[]),
                client.query(&prints, &[&after_slot, &since, &read_limit]),
                client.query(&stories, &[&after_change, &read_limit]),
                client.query(&alerts, &[&after_change, &read_limit]),
                client.query(&pending, &[&after_change, &read_limit]),
            ),
        )
        .await?;
        // More items or stories than the limit: catching up would cost more than a rebuild.
        let behind = prints.len() > limit || stories.len() > limit;
        let sync = StorySync {
            marks: StoryMarks { next_slot: marks.get(0), change: marks.get(1) },
            prints: prints
                .iter()
                .take(limit)
                .map(|row| StoredPrint {
                    slot: row.get(0),
                    story_slot: row.get(1),
                    published: row.get(2),
                    item_key: row.get(3),
                    story: row.get(4),
                    print: row.get(5),
                    head: row.get(6),
                    state: None,
                })
                .collect(),
            behind,
            stories: stories
                .iter()
                .map(|row| StorySummary {
                    id: row.get(0),
                    title: row.get(1),
                    items: row.get(2),
                    last_item_at: row.get(3),
                    outlets: row.get(4),
                })
                .collect(),
            alerts: alerts.iter().map(super::story_alert_state).collect(),
            pending: pending
                .iter()
                .map(|row| PendingNewcomer {
                    story: row.get(0),
                    topic: row.get(1),
                    item_key: row.get(2),
                    recorded_at: row.get(3),
                    body: row.get(4),
                })
                .collect(),
        };
        Ok((held, sync))
    }
}
