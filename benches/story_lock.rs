//! The story lock's cost on PostgreSQL (issue 16): what a recorder's batch pays to file its
//! stories under the lock shared by every instance (`Store::lock_stories`, then
//! `StoryLock::release`), against recording the same batch without it. Two store handles on one
//! fresh schema stand for two instances; batches of 16 items, each item its own story with an
//! alert state, a 3 KiB fingerprint and 40 lookup keys (the recorder's real row shapes). Prints
//! the median and 90th percentile per batch of:
//! - `record only`: `record_items` alone (what a batch cost before stories were shared);
//! - `lock + record + release`, one instance (its syncs find nothing new);
//! - the same alternating between the two instances (each sync reads the other's last batch:
//!   16 fingerprints, 16 stories with their alert states);
//! - `lock + release` alone (the idle recorder's once-a-second check);
//! - one round trip (`SELECT 1`), the unit the lock's cost is counted in.
//!
//! `NEWSWATCH_TEST_PG=postgres://… cargo bench --bench story_lock [-- BATCHES]` (default 300).
//! Without the variable it says so and measures nothing.

use newswatch::config::{PostgresConfig, StoreConfig};
use newswatch::store::{ItemRecord, Store, StoryItemRow, StoryMarks, StoryOp};
use std::time::{Duration, Instant};

const ITEMS_PER_BATCH: usize = 16;

/// One batch of new items, each starting a story, with slots from `first_slot`.
fn batch(number: usize, first_slot: i64, now: i64) -> Vec<ItemRecord> {
    (0..ITEMS_PER_BATCH)
        .map(|n| {
            let key = format!("https://news-{}.example/2026/story-{number}-{n}", n % 7);
            let story = format!("story-{number}-{n}");
            let slot = first_slot + n as i64;
            let row = StoryItemRow {
                item_key: key.clone(),
                story: story.clone(),
                published: now,
                feed: format!("feed-{}", n % 7),
                outlet: format!("news-{}.example", n % 7),
                title: format!("Headline number {number} {n}"),
                url: Some(key.clone()),
                topics: vec!["talks".into()],
                slot,
                story_slot: slot,
                print: vec![(slot % 251) as u8; 3_000],
                keys: (0..40).map(|k| (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k).collect(),
                ..StoryItemRow::default()
            };
            ItemRecord {
                key: key.clone(),
                link: Some(key),
                feed: format!("feed-{}", n % 7),
                story_ops: vec![
                    StoryOp::Item(Box::new(row)),
                    StoryOp::AlertState {
                        story,
                        topic: "talks".into(),
                        first_alert_id: format!("alert-{number}-{n}"),
                        last_alert_at: now,
                        sequence: 0,
                    },
                ],
                ..ItemRecord::default()
            }
        })
        .collect()
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort_unstable();
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize].as_secs_f64() * 1000.0;
    println!("{name:<44} median {:>6.2} ms   p90 {:>6.2} ms   ({} batches)", at(0.5), at(0.9), times.len());
}

/// Records `batches` batches, with the lock when `locked`, alternating between the stores.
async fn run(
    stores: &[&Store],
    marks: &mut [Option<StoryMarks>],
    batches: usize,
    locked: bool,
    next: &mut i64,
    number: &mut usize,
) -> Vec<Duration> {
    let now = chrono::Utc::now().timestamp();
    let mut times = Vec::with_capacity(batches);
    for round in 0..batches {
        let which = round % stores.len();
        let store = stores[which];
        *number += 1;
        let started = Instant::now();
        if locked {
            let (lock, sync) = store.lock_stories(marks[which], now - 3_600, 2_000).await.expect("locked");
            let sync = sync.expect("a shared store syncs");
            let first_slot = sync.marks.next_slot.max(*next);
            store.record_items(batch(*number, first_slot, now), now).await.expect("recorded");
            *next = first_slot + ITEMS_PER_BATCH as i64;
            marks[which] = lock.release().await.expect("released");
        } else {
            store.record_items(batch(*number, *next, now), now).await.expect("recorded");
            *next += ITEMS_PER_BATCH as i64;
        }
        times.push(started.elapsed());
    }
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(admin_url) = std::env::var("NEWSWATCH_TEST_PG").ok().filter(|url| !url.is_empty()) else {
        eprintln!("NEWSWATCH_TEST_PG is not set: the story lock was not measured");
        return;
    };
    let batches: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(300);
    let schema = format!("nw_bench_story_lock_{}", std::process::id());
    let (admin, connection) =
        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("a schema");
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let config = StoreConfig::Postgres(PostgresConfig {
        url: format!("{admin_url}{separator}options=-c%20search_path%3D{schema}"),
        pool_size: 8,
        lease_timeout: Duration::from_secs(60),
    });
    let dir = tempfile::tempdir().unwrap();
    let first = Store::connect(&config, dir.path()).await.expect("the first instance");
    let second = Store::connect(&config, dir.path()).await.expect("the second instance");
    let (mut next, mut number) = (0, 0);
    let mut marks = [None, None];
    // Warm-up: connections opened, statements prepared.
    run(&[&first, &second], &mut marks, 20, true, &mut next, &mut number).await;
    run(&[&first], &mut marks, 20, false, &mut next, &mut number).await;

    println!("story lock on {} ({ITEMS_PER_BATCH} items per batch)", first.describe());
    // The unit of the lock's cost: one round trip to the server.
    let mut round_trips = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        admin.query_one("SELECT 1", &[]).await.expect("a round trip");
        round_trips.push(started.elapsed());
    }
    summary("one round trip (SELECT 1)", round_trips);
    summary("record only", run(&[&first], &mut marks, batches, false, &mut next, &mut number).await);
    summary(
        "lock + record + release, one instance",
        run(&[&first], &mut marks, batches, true, &mut next, &mut number).await,
    );
    summary(
        "lock + record + release, two alternating",
        run(&[&first, &second], &mut marks, batches, true, &mut next, &mut number).await,
    );
    let mut idle = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        let (lock, _) = first.lock_stories(marks[0], 0, 2_000).await.expect("locked");
        marks[0] = lock.release().await.expect("released");
        idle.push(started.elapsed());
    }
    summary("lock + release (idle check)", idle);
    drop((first, second));
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("dropped");
}
