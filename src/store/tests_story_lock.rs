//! The story lock (`Store::lock_stories`) on every backend: nothing at all on SQLite (one
//! instance per state directory); on PostgreSQL one holder at a time across instances, the
//! reads of what others filed since a book's marks, marks that never go back, and a guard
//! dropped without release that still frees the lock.

use super::tests::{Fresh, fresh_stores, pg_store};
use super::*;

const TOPIC: &str = "talks";

/// An item filed in `story` under `slot` (the story's first item at `story_slot`), with a
/// one-byte fingerprint: the store keeps it as it is given.
fn filed(key: &str, story: &str, slot: i64, story_slot: i64, outlet: &str, published: i64) -> ItemRecord {
    let row = StoryItemRow {
        item_key: key.into(),
        story: story.into(),
        published,
        why: (slot != story_slot).then(|| "near_copy".to_string()),
        feed: format!("feed-{outlet}"),
        outlet: outlet.into(),
        title: format!("item {key}"),
        slot,
        story_slot,
        print: vec![slot as u8],
        keys: vec![7, 8],
        ..StoryItemRow::default()
    };
    ItemRecord {
        key: key.into(),
        feed: format!("feed-{outlet}"),
        story_ops: vec![StoryOp::Item(Box::new(row))],
        ..ItemRecord::default()
    }
}

#[tokio::test]
async fn the_story_lock_is_nothing_on_sqlite() {
    for fresh in fresh_stores().await.into_iter().filter(|fresh| fresh.backend() == "sqlite") {
        let (lock, sync) = fresh.store.lock_stories(None, 0, 10).await.unwrap();
        assert_eq!(sync, None, "no sync: this recorder is the only writer");
        // A second "lock" does not wait for the first: there is none.
        let (second, _) = fresh.store.lock_stories(None, 0, 10).await.unwrap();
        assert_eq!(lock.release().await.unwrap(), None);
        assert_eq!(second.release().await.unwrap(), None);
    }
}

/// Two instances on one PostgreSQL database: what one files under the lock, the other reads
/// back at its next lock (only what changed since its marks), and slots continue after both.
#[tokio::test]
async fn the_story_lock_reads_what_other_instances_filed() {
    for fresh in fresh_stores().await.into_iter().filter(|fresh| fresh.backend() == "postgres") {
        let other = pg_store(fresh.pg_url().unwrap()).await;
        let store = &fresh.store;
        let now = 1_000_000;

        // An empty database: marks at zero, nothing to read.
        let (lock, sync) = store.lock_stories(None, 0, 10).await.unwrap();
        let sync = sync.expect("a shared store syncs");
        assert_eq!(sync.marks, StoryMarks { next_slot: 0, change: 0 });
        assert!(sync.prints.is_empty() && sync.stories.is_empty());
        let start = lock.release().await.unwrap().unwrap();

        // The other instance files a story of two items with an alert and a waiting newcomer.
        let (lock, _) = other.lock_stories(Some(start), 0, 10).await.unwrap();
        let mut second = filed("b", "s1", 1, 0, "two.example", now + 5);
        second.story_ops.push(StoryOp::Pending {
            story: "s1".into(),
            topic: TOPIC.into(),
            item_key: "b".into(),
            body: "{\"id\":\"b\"}".into(),
        });
        let mut first = filed("a", "s1", 0, 0, "one.example", now);
        first.story_ops.push(StoryOp::AlertState {
            story: "s1".into(),
            topic: TOPIC.into(),
            first_alert_id: "A".into(),
            last_alert_at: now,
            sequence: 0,
        });
        other.record_items(vec![first, second], now).await.unwrap();
        let after_other = lock.release().await.unwrap().unwrap();
        assert_eq!(after_other.next_slot, 2);
        assert!(after_other.change > start.change);

        // This instance reads both items (the second with its story's first fingerprint), the
        // story's counts and outlets, its alert state and its newcomer.
        let (lock, sync) = store.lock_stories(Some(start), now - 100, 10).await.unwrap();
        let sync = sync.unwrap();
        assert_eq!(sync.marks, after_other);
        assert!(!sync.behind);
        let slots: Vec<(i64, i64, &str, Option<&[u8]>)> = sync
            .prints
            .iter()
            .map(|print| (print.slot, print.story_slot, print.story.as_str(), print.head.as_deref()))
            .collect();
        assert_eq!(slots, [(0, 0, "s1", None), (1, 0, "s1", Some(&[0u8][..]))]);
        assert_eq!(sync.stories.len(), 1);
        assert_eq!(
            (sync.stories[0].items, sync.stories[0].outlets.clone()),
            (2, vec!["one.example".to_string(), "two.example".to_string()])
        );
        assert_eq!(sync.alerts.len(), 1);
        assert_eq!((sync.alerts[0].first_alert_id.as_str(), sync.alerts[0].sequence), ("A", 0));
        assert_eq!(sync.pending.len(), 1);
        assert_eq!(sync.pending[0].item_key, "b");
        // Its own update of the story (newcomers sent): the other reads that back, this one
        // does not read its own change again.
        store
            .record_story_updates(
                Vec::new(),
                vec![
                    StoryOp::ClearPending { story: "s1".into(), topic: TOPIC.into() },
                    StoryOp::AlertState {
                        story: "s1".into(),
                        topic: TOPIC.into(),
                        first_alert_id: "A".into(),
                        last_alert_at: now + 10,
                        sequence: 1,
                    },
                ],
                now + 10,
            )
            .await
            .unwrap();
        let mine = lock.release().await.unwrap().unwrap();
        let (lock, sync) = store.lock_stories(Some(mine), now - 100, 10).await.unwrap();
        let sync = sync.unwrap();
        assert!(sync.prints.is_empty() && sync.stories.is_empty() && sync.pending.is_empty(), "{sync:?}");
        lock.release().await.unwrap();
        let (lock, sync) = other.lock_stories(Some(after_other), now - 100, 10).await.unwrap();
        let sync = sync.unwrap();
        assert!(sync.prints.is_empty());
        assert_eq!(sync.stories.len(), 1);
        assert!(sync.pending.is_empty());
        assert_eq!((sync.alerts[0].sequence, sync.alerts[0].last_alert_at), (1, now + 10));
        lock.release().await.unwrap();

        // A book too far behind is told so (it is rebuilt instead).
        let (lock, sync) = store.lock_stories(Some(start), now - 100, 1).await.unwrap();
        assert!(sync.unwrap().behind);
        lock.release().await.unwrap();
        // Items that left the window are not read; their slots still count.
        let (lock, sync) = store.lock_stories(Some(start), now + 1, 10).await.unwrap();
        let sync = sync.unwrap();
        assert_eq!(sync.prints.iter().map(|print| print.slot).collect::<Vec<_>>(), [1]);
        assert_eq!(sync.marks.next_slot, 2);
        lock.release().await.unwrap();

        // Slots never go back, even when every fingerprint has been pruned.
        store.prune_stories(now + 100, 0).await.unwrap();
        let (lock, sync) = other.lock_stories(None, 0, 10).await.unwrap();
        assert_eq!(sync.unwrap().marks.next_slot, 2);
        lock.release().await.unwrap();
    }
}

/// One holder at a time: a second instance's lock waits until the first releases it, or until
/// the first's guard is dropped without a release (its connection is closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_lock_has_one_holder_across_instances() {
    for fresh in fresh_stores().await.into_iter().filter(|fresh| fresh.backend() == "postgres") {
        let Fresh { store, .. } = &fresh;
        let other = pg_store(fresh.pg_url().unwrap()).await;
        for release in [true, false] {
            let (held, _) = store.lock_stories(None, 0, 10).await.unwrap();
            let waiting = {
                let other = other.clone();
                tokio::spawn(async move { other.lock_stories(None, 0, 10).await.map(|(lock, _)| lock) })
            };
            // Not a measure of speed: the waiter must still be waiting while the lock is held.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(!waiting.is_finished(), "a second holder while the lock is held");
            if release {
                held.release().await.unwrap();
            } else {
                drop(held);
            }
            let second = tokio::time::timeout(std::time::Duration::from_secs(30), waiting)
                .await
                .expect("the lock is free again")
                .unwrap()
                .unwrap();
            second.release().await.unwrap();
        }
    }
}
