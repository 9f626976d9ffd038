//! Tests of the store: dedup, validators, the lock, corruption, claims, and the schema's
//! versions (migrating a database written before versioning, refusing a newer one).
//!
//! ONE suite for every backend: a test that asks [`fresh_stores`] runs against SQLite always
//! and against PostgreSQL when `NEWSWATCH_TEST_PG` names a database (each run in a schema of its
//! own, created for it and dropped after). Without the variable, the suite says once, on
//! stderr, that the PostgreSQL backend was not tested. Tests of SQLite's file (the lock, a
//! corrupt file, `user_version`) stay SQLite-only.

use super::*;

/// The environment variable naming a PostgreSQL database the tests may create schemas in.
pub(crate) const TEST_PG_VAR: &str = "NEWSWATCH_TEST_PG";

/// The lease timeout of the test instances.
const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// A fresh, empty store on one backend; dropping it removes what it created.
pub(crate) struct Fresh {
    pub(crate) store: Store,
    place: Place,
}

enum Place {
    Sqlite(tempfile::TempDir),
    /// The schema made for this test, and the URL whose `search_path` is it.
    Postgres {
        _schema: TestSchema,
        url: String,
    },
}

/// A schema made for one test, dropped with it.
pub(crate) struct TestSchema {
    admin_url: String,
    schema: String,
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        drop_schema(&self.admin_url, &self.schema);
    }
}

impl Fresh {
    /// "sqlite" or "postgres", for assertion messages.
    pub(crate) fn backend(&self) -> &'static str {
        match self.place {
            Place::Sqlite(_) => "sqlite",
            Place::Postgres { .. } => "postgres",
        }
    }

    /// The URL of this test's PostgreSQL schema (None on SQLite).
    pub(crate) fn pg_url(&self) -> Option<&str> {
        match &self.place {
            Place::Postgres { url, .. } => Some(url),
            Place::Sqlite(_) => None,
        }
    }

    /// The same database opened again, as a restarted daemon would (the old handle closed first).
    pub(crate) async fn reopen(self) -> Fresh {
        let Fresh { store, place } = self;
        // Dropping the only handle ends SQLite's threads and frees the lock.
        drop(store);
        let store = match &place {
            Place::Sqlite(dir) => Store::open(dir.path()).unwrap(),
            Place::Postgres { url, .. } => pg_store(url).await,
        };
        Fresh { store, place }
    }
}

/// Another handle on a PostgreSQL database (another instance, or a restart).
pub(crate) async fn pg_store(url: &str) -> Store {
    Store { backend: Backend::Postgres(pg::PgStore::connect(url, 4, Some(LEASE)).await.unwrap()) }
}

/// A new schema in the test database (dropped with the guard), and a URL that makes it the
/// connection's `search_path`.
pub(crate) async fn create_schema(admin_url: &str) -> (TestSchema, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let schema = format!(
        "nw_test_{}_{}_{:04x}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        fastrand::u16(..)
    );
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("{TEST_PG_VAR}: cannot connect: {err}"));
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    drop(client);
    let _ = connection.await;
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
    (TestSchema { admin_url: admin_url.to_string(), schema }, url)
}

/// Drops a test schema; on a thread of its own, as `Drop` cannot wait on the test's runtime.
fn drop_schema(admin_url: &str, schema: &str) {
    let (admin_url, name) = (admin_url.to_string(), schema.to_string());
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await?;
            drop(client);
            let _ = connection.await;
            Ok::<_, tokio_postgres::Error>(())
        })
    });
    if let Ok(Err(err)) = dropped.join() {
        eprintln!("could not drop test schema {schema}: {err}");
    }
}

/// The PostgreSQL test database's URL, or None after saying once that those tests do not run.
pub(crate) fn test_pg_url() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var(TEST_PG_VAR).ok().filter(|url| !url.trim().is_empty()) {
        Some(url) => Some(url),
        None => {
            SAID.call_once(|| {
                use std::io::Write;
                // Written past the test harness's capture, so it shows in every run's output.
                let _ = writeln!(
                    std::io::stderr(),
                    "note: {TEST_PG_VAR} is not set: the store tests ran on SQLite only; the PostgreSQL backend was NOT tested"
                );
            });
            None
        }
    }
}

/// A fresh store on every backend under test: SQLite, then PostgreSQL when configured.
pub(crate) async fn fresh_stores() -> Vec<Fresh> {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![Fresh { store: Store::open(dir.path()).unwrap(), place: Place::Sqlite(dir) }];
    if let Some(admin_url) = test_pg_url() {
        let (schema, url) = create_schema(&admin_url).await;
        let store = pg_store(&url).await;
        stores.push(Fresh { store, place: Place::Postgres { _schema: schema, url } });
    }
    stores
}

fn record(key: &str, link: Option<&str>, alert: Option<&str>) -> ItemRecord {
    ItemRecord {
        key: key.into(),
        link: link.map(str::to_string),
        feed: "f".into(),
        verdicts: None,
        alerts: alert
            .map(|id| OutboxAlert {
                alert_id: id.into(),
                sink: "s".into(),
                body: format!("{{\"id\":\"{id}\"}}"),
            })
            .into_iter()
            .collect(),
        commit: None,
        fingerprint: None,
        story_ops: Vec::new(),
    }
}

fn keys(items: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    items.iter().map(|(key, link)| (key.to_string(), link.map(str::to_string))).collect()
}

#[tokio::test]
async fn items_are_new_once_by_key_or_link() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        let first = store
            .record_items(vec![record("k1", Some("http://a/1"), Some("A1")), record("k2", None, None)], 1)
            .await
            .unwrap();
        assert_eq!(first, [Recorded::New, Recorded::New], "{}", fresh.backend());
        let again = store
            .record_items(
                vec![record("k1", None, Some("A1")), record("k3", Some("http://a/1"), Some("A3"))],
                2,
            )
            .await
            .unwrap();
        assert_eq!(again, [Recorded::Duplicate, Recorded::Duplicate]);
        // The same story twice in one batch: the second copy is a duplicate of the first.
        let twice = store
            .record_items(
                vec![record("k4", Some("http://a/4"), None), record("k5", Some("http://a/4"), None)],
                2,
            )
            .await
            .unwrap();
        assert_eq!(twice, [Recorded::New, Recorded::Duplicate]);
        assert_eq!(
            store.unseen(keys(&[("k1", None), ("k9", Some("http://a/1")), ("k9", None)])).await.unwrap(),
            [false, false, true]
        );
        let pending = store.pending("s").await.unwrap();
        assert_eq!(pending.len(), 1);
        store.mark_delivered(vec![pending[0].seq], 3).await.unwrap();
        assert!(store.pending("s").await.unwrap().is_empty());
        assert_eq!(store.prune_delivered(3).await.unwrap(), 0, "delivered at 3 is not before 3");
        assert_eq!(store.prune_delivered(4).await.unwrap(), 1);
        assert_eq!(store.counts().await.unwrap(), (0, 3), "seen items stay");
    }
}

#[tokio::test]
async fn an_item_with_a_fingerprint_its_feed_already_had_is_a_duplicate() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        let with = |key: &str, feed: &str| ItemRecord {
            feed: feed.into(),
            fingerprint: Some("fp".into()),
            ..record(key, None, None)
        };
        let outcomes =
            store.record_items(vec![with("k1", "f"), with("k2", "f"), with("k3", "g")], 1).await.unwrap();
        assert_eq!(outcomes, [Recorded::New, Recorded::Duplicate, Recorded::New], "per feed");
        assert_eq!(
            store
                .fingerprints_seen("f".into(), vec![Some("fp".into()), Some("other".into()), None])
                .await
                .unwrap(),
            [true, false, false]
        );
        let fresh = fresh.reopen().await;
        let store = &fresh.store;
        assert_eq!(
            store.record_items(vec![with("k4", "g")], 2).await.unwrap(),
            [Recorded::Duplicate],
            "kept across restarts"
        );
    }
}

#[tokio::test]
async fn validators_are_stored_with_the_last_item() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        let mut last = record("k1", None, None);
        last.commit = Some(FeedCommit {
            feed: "f".into(),
            url: "http://x/".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
        });
        store.record_items(vec![last], 10).await.unwrap();
        let state = store.feed_state("f").await.unwrap().unwrap();
        assert_eq!(state.etag.as_deref(), Some("\"v1\""));
        assert_eq!(state.first_polled_at, Some(10));
        assert_eq!(state.items_seen, 1);
    }
}

#[tokio::test]
async fn writes_that_arrive_together_are_all_answered() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        let writes: Vec<_> = (0..300)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let outcome = FetchOutcome {
                        feed: format!("feed{n}"),
                        url: "http://x/".into(),
                        at: n,
                        status: "200".into(),
                        ..FetchOutcome::default()
                    };
                    store.record_fetch(outcome).await
                })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        assert_eq!(store.feed_states().await.unwrap().len(), 300);
        assert_eq!(store.feed_state("feed299").await.unwrap().unwrap().last_fetch_at, Some(299));
    }
}

#[tokio::test]
async fn claimed_rows_are_not_claimed_twice_until_released_or_stale() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        store
            .record_items(vec![record("k1", None, Some("A1")), record("k2", None, Some("A2"))], 1)
            .await
            .unwrap();
        let first = store.claim("s", 1, 100).await.unwrap();
        assert_eq!(first.iter().map(|row| row.alert_id.as_str()).collect::<Vec<_>>(), ["A1"]);
        let second = store.claim("s", 10, 100).await.unwrap();
        assert_eq!(second.iter().map(|row| row.alert_id.as_str()).collect::<Vec<_>>(), ["A2"]);
        assert!(store.claim("s", 10, 100).await.unwrap().is_empty(), "both are claimed");
        store.release(vec![first[0].seq]).await.unwrap();
        assert_eq!(store.claim("s", 10, 101).await.unwrap()[0].alert_id, "A1");
        let stale = store.claim("s", 10, 102 + CLAIM_LEASE_SECS).await.unwrap();
        assert_eq!(stale.len(), 2, "claims older than the lease are free again");
        assert_eq!(store.pending("s").await.unwrap().len(), 2, "claimed is still pending");
        assert_eq!(store.release_all("s").await.unwrap(), 2, "a new round frees every claim");
        assert_eq!(store.claim("s", 10, 103).await.unwrap().len(), 2);
        store.mark_delivered(stale.iter().map(|row| row.seq).collect(), 200).await.unwrap();
        assert!(store.claim("s", 10, 10_000).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_renamed_sink_adopts_what_was_pending_under_its_old_name() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        store.record_items(vec![record("k1", None, Some("A1"))], 1).await.unwrap();
        assert_eq!(store.adopt_pending("s", "main").await.unwrap(), 1);
        assert!(store.pending("s").await.unwrap().is_empty());
        assert_eq!(store.pending("main").await.unwrap()[0].alert_id, "A1");
    }
}

#[test]
fn second_open_of_the_same_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let second = Store::open(dir.path()).err().expect("second open must fail");
    assert!(matches!(second, StoreError::Locked { .. }), "{second}");
    assert!(second.to_string().contains("already running"));
}

#[test]
fn a_corrupt_database_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    std::fs::write(&db, vec![0x42; 8192]).unwrap();
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x42; 8192], "file left untouched");
}

/// The schema exactly as the store wrote it before versioning (commit 2a0a34c), with no
/// `user_version`: the shape of every database in the field before migrations existed.
const SCHEMA_BEFORE_VERSIONING: &str = r#"
CREATE TABLE IF NOT EXISTS feeds (
    name                 TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    etag                 TEXT,
    last_modified        TEXT,
    first_polled_at      INTEGER,
    last_fetch_at        INTEGER,
    last_status          TEXT,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         INTEGER,
    retry_after_until    INTEGER,
    items_seen           INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    key           TEXT PRIMARY KEY,
    link          TEXT,
    feed          TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    verdicts      TEXT
);
CREATE INDEX IF NOT EXISTS seen_link ON seen(link) WHERE link IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id     TEXT NOT NULL,
    sink         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (alert_id, sink)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(sink, seq) WHERE delivered_at IS NULL;
"#;

#[tokio::test]
async fn a_database_from_before_versioning_is_migrated_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(SCHEMA_BEFORE_VERSIONING).unwrap();
        conn.execute_batch(
            "INSERT INTO feeds (name, url, etag, first_polled_at, items_seen) VALUES ('wire', 'http://w/', '\"e1\"', 5, 2);
             INSERT INTO seen (key, link, feed, first_seen_at) VALUES ('id:a', 'http://w/a', 'wire', 5);
             INSERT INTO seen (key, link, feed, first_seen_at) VALUES ('id:b', NULL, 'wire', 5);
             INSERT INTO outbox (alert_id, sink, body, created_at) VALUES ('A1', 'jsonl:alerts.jsonl', '{\"id\":\"A1\"}', 5);
             INSERT INTO outbox (alert_id, sink, body, created_at, delivered_at) VALUES ('A0', 'jsonl:alerts.jsonl', '{\"id\":\"A0\"}', 4, 4);",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
    assert_eq!(
        store.unseen(keys(&[("id:a", None), ("id:x", Some("http://w/a")), ("id:b", None)])).await.unwrap(),
        [false, false, false],
        "seen items stay seen, by key and by link"
    );
    let pending = store.pending("jsonl:alerts.jsonl").await.unwrap();
    assert_eq!(pending.iter().map(|row| row.alert_id.as_str()).collect::<Vec<_>>(), ["A1"]);
    let state = store.feed_state("wire").await.unwrap().unwrap();
    assert_eq!((state.etag.as_deref(), state.items_seen), (Some("\"e1\""), 2));
    // The migrated schema enforces link uniqueness itself.
    let outcome = store.record_items(vec![record("id:c", Some("http://w/a"), None)], 6).await.unwrap();
    assert_eq!(outcome, [Recorded::Duplicate]);
    assert_eq!(store.claim("jsonl:alerts.jsonl", 10, 7).await.unwrap()[0].alert_id, "A1");
    drop(store);
    // Opening again applies nothing twice.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.counts().await.unwrap(), (2, 2));
}

#[tokio::test]
async fn a_database_from_a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let db = dir.path().join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x INTEGER)").unwrap();
    }
    let err = Store::open(dir.path()).err().expect("a newer schema must be refused");
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{text}");
    assert!(text.contains(&format!("up to {SCHEMA_VERSION}")), "{text}");
    let read_only = Store::open_read_only(dir.path()).err().expect("read-only too");
    assert!(matches!(read_only, StoreError::NewerSchema { .. }), "{read_only}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1, "left untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_reading_and_writing_at_once_are_all_answered() {
    for fresh in fresh_stores().await {
        let store = &fresh.store;
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    for round in 0..20 {
                        let key = format!("k{n}-{round}");
                        store.unseen(vec![(key.clone(), None)]).await.unwrap();
                        store.feed_state("f").await.unwrap();
                        let outcome = FetchOutcome {
                            feed: format!("feed{n}"),
                            status: "200".into(),
                            ..FetchOutcome::default()
                        };
                        store.record_fetch(outcome).await.unwrap();
                        store.record_items(vec![record(&key, None, Some(&key))], round).await.unwrap();
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), all).await.expect("every call answered");
        assert_eq!(store.counts().await.unwrap(), (4000, 4000), "{}", fresh.backend());
    }
}

/// A PostgreSQL schema written by a newer newswatch is refused and left as it was, by the
/// daemon and by the CLI's read-only open alike.
#[tokio::test]
async fn a_postgres_schema_from_a_newer_version_is_refused_untouched() {
    let Some(admin_url) = test_pg_url() else { return };
    let (_schema, url) = create_schema(&admin_url).await;
    drop(pg_store(&url).await);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO newswatch_schema (version, applied_at) VALUES ($1, 0)",
            &[&(PG_SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let err = pg::PgStore::connect(&url, 2, Some(LEASE)).await.err().expect("a newer schema must be refused");
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == PG_SCHEMA_VERSION + 1), "{err}");
    let read_only = pg::PgStore::connect(&url, 2, None).await.err().expect("read-only too");
    assert!(matches!(read_only, StoreError::NewerSchema { .. }), "{read_only}");
    let versions: i64 = client.query_one("SELECT COUNT(*) FROM newswatch_schema", &[]).await.unwrap().get(0);
    assert_eq!(versions, PG_SCHEMA_VERSION + 1, "nothing applied, nothing dropped");
}

/// Several instances starting at once on an empty schema: one migrates under the advisory
/// lock, the others wait and find nothing to do; then they record the same items at the same
/// time and each item is new for exactly one of them, its alert queued once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_postgres_record_each_item_once() {
    let Some(admin_url) = test_pg_url() else { return };
    let (_schema, url) = create_schema(&admin_url).await;
    let opened =
        futures_util::future::join_all((0..3).map(|_| pg::PgStore::connect(&url, 4, Some(LEASE)))).await;
    let instances: Vec<Store> =
        opened.into_iter().map(|pg| Store { backend: Backend::Postgres(pg.unwrap()) }).collect();
    let tasks: Vec<_> = instances
        .iter()
        .enumerate()
        .map(|(n, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut new = 0;
                for batch in 0..50 {
                    // Every instance records the same 200 items in batches of 4, in its own
                    // order, the way three pollers of one story from three feeds would.
                    let mut records: Vec<ItemRecord> = (0..4)
                        .map(|k| {
                            let key = format!("k{}", (batch * 4 + k + n * 67) % 200);
                            record(&key, Some(&format!("http://a/{key}")), Some(&format!("A-{key}")))
                        })
                        .collect();
                    if n == 1 {
                        records.reverse();
                    }
                    let outcomes = store.record_items(records, batch as i64).await.unwrap();
                    new += outcomes.iter().filter(|outcome| **outcome == Recorded::New).count();
                }
                new
            })
        })
        .collect();
    let mut total_new = 0;
    for task in tasks {
        total_new += task.await.unwrap();
    }
    assert_eq!(total_new, 200, "every item new for exactly one instance");
    assert_eq!(instances[0].counts().await.unwrap(), (200, 200));
    // Claims: two instances claiming at once take different rows.
    let (a, b) = tokio::join!(instances[0].claim("s", 150, 10), instances[1].claim("s", 150, 10));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 200, "{} + {}", a.len(), b.len());
    let mut ids: Vec<&str> = a.iter().chain(&b).map(|row| row.alert_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "no row claimed twice");
}

/// Leases: on SQLite the one instance holds every feed. On PostgreSQL the instances alive
/// split the feeds (a newcomer gets its share as the others give back their excess, never a
/// feed held twice), and a stopped instance's feeds and outbox claims pass to the others once
/// its lease timeout has run out.
#[tokio::test]
async fn leases_split_the_feeds_and_pass_on_when_an_instance_stops() {
    let feeds: Vec<String> = (0..10).map(|n| format!("feed{n}")).collect();
    for fresh in fresh_stores().await {
        let round = fresh.store.lease_round(&feeds, &[], LEASE).await.unwrap();
        assert_eq!(round.held.len(), 10, "{}: the first instance takes every feed", fresh.backend());
        let Some(url) = fresh.pg_url() else { continue };
        let short = std::time::Duration::from_secs(2);
        let a = &fresh.store;
        let b =
            Store { backend: Backend::Postgres(pg::PgStore::connect(url, 2, Some(short)).await.unwrap()) };
        let first_b = b.lease_round(&feeds, &[], short).await.unwrap();
        assert_eq!((first_b.alive, first_b.held.len()), (2, 0), "everything is held by a");
        // a gives back its excess, but never a feed it is polling right now.
        let a_round = a.lease_round(&feeds, &["feed3".to_string()], LEASE).await.unwrap();
        assert_eq!((a_round.held.len(), a_round.released), (5, 5));
        assert!(a_round.held.contains(&"feed3".to_string()), "busy feed kept");
        let b_round = b.lease_round(&feeds, &[], short).await.unwrap();
        assert_eq!(b_round.taken, 5);
        let mut all: Vec<&String> = a_round.held.iter().chain(&b_round.held).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10, "each feed held by exactly one instance");
        let owners = a.host_leases().await.unwrap();
        assert_eq!(owners.len(), 10);
        let instances = a.instances().await.unwrap();
        assert_eq!(instances.iter().filter(|instance| instance.alive).count(), 2, "{instances:?}");
        assert_eq!(instances.iter().map(|instance| instance.leases).sum::<i64>(), 10);

        // b claims an alert, then stops renewing (killed): after its lease timeout a takes its
        // feeds and may deliver what it had claimed.
        a.record_items(vec![record("k1", None, Some("A1"))], 1).await.unwrap();
        assert_eq!(b.claim("s", 10, 2).await.unwrap().len(), 1);
        assert!(a.claim("s", 10, 2).await.unwrap().is_empty(), "b's claim is live");
        drop(b);
        tokio::time::sleep(short + std::time::Duration::from_millis(500)).await;
        let a_round = a.lease_round(&feeds, &[], LEASE).await.unwrap();
        assert_eq!((a_round.alive, a_round.held.len()), (1, 10), "a holds every feed again");
        assert_eq!(a.claim("s", 10, 3).await.unwrap().len(), 1, "a dead instance's claim is free");
        // A clean stop gives the leases back at once.
        a.release_leases().await.unwrap();
        assert!(a.host_leases().await.unwrap().is_empty());
    }
}
