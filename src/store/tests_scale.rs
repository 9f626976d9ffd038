//! Tests of the store at scale (issue 15): the cheap start-up check, the full check on demand,
//! and the retention of seen items.

use super::*;

fn seen_record(n: usize) -> ItemRecord {
    ItemRecord {
        key: format!("https://news.example.org/world/2026/11/30/story-{n:07}"),
        link: Some(format!("https://news.example.org/world/2026/11/30/story-{n:07}?src=rss")),
        feed: "wire".into(),
        fingerprint: Some(format!("{n:016x}")),
        ..ItemRecord::default()
    }
}

#[tokio::test]
async fn damage_deep_in_the_file_is_found_by_the_full_check_not_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.record_items((0..3000).map(seen_record).collect(), 1).await.unwrap();
    drop(store);
    assert_eq!(Store::check_integrity(dir.path()).unwrap(), Some(Vec::new()), "healthy before");
    let db = dir.path().join(DB_FILE);
    checkpoint(&db);
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 20, "{pages} pages");
    // A page in the middle of the file holds seen rows or their index, which start-up never reads.
    let middle = pages / 2 * page;
    bytes[middle..middle + page].fill(0xAB);
    std::fs::write(&db, &bytes).unwrap();
    let store = Store::open(dir.path()).expect("start-up reads only the header and the schema");
    drop(store);
    let problems = Store::check_integrity(dir.path()).unwrap().expect("a database");
    assert!(!problems.is_empty(), "the full check reads every page");
}

#[test]
fn a_database_missing_a_table_of_its_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE feeds (name TEXT PRIMARY KEY, url TEXT NOT NULL)").unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("seen"), "{err}");
    assert!(Store::check_integrity(&dir.path().join("nothing-here")).unwrap().is_none());
}

/// Moves everything from the WAL into the database file, so its pages are where a test damages.
fn checkpoint(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
}

const DAY: i64 = 86_400;

fn item(key: &str, feed: &str) -> ItemRecord {
    ItemRecord {
        key: key.into(),
        feed: feed.into(),
        fingerprint: Some(format!("fp-{key}")),
        ..ItemRecord::default()
    }
}

fn answered(feed: &str, status: &str, at: i64) -> FetchOutcome {
    FetchOutcome {
        feed: feed.into(),
        url: format!("http://{feed}/"),
        at,
        status: status.into(),
        ..FetchOutcome::default()
    }
}

#[tokio::test]
async fn retention_prunes_only_old_rows_no_feed_still_carries() {
    for fresh in super::tests::fresh_stores().await {
        let store = &fresh.store;
        let retention = std::time::Duration::from_secs(180 * DAY as u64);
        // Day 0: "wire" lists a, b, e; "quiet" lists q (and then answers 304 for a year).
        store.record_fetch(answered("wire", "200", 0)).await.unwrap();
        store.record_fetch(answered("quiet", "200", 0)).await.unwrap();
        store
            .record_items(
                vec![item("a", "wire"), item("b", "wire"), item("e", "wire"), item("q", "quiet")],
                0,
            )
            .await
            .unwrap();
        store.mark_carried("wire".into(), vec!["a".into(), "b".into(), "e".into()], 0).await.unwrap();
        store.mark_carried("quiet".into(), vec!["q".into()], 0).await.unwrap();
        // Day 10: "wire" still lists b, and now "other" lists e (the same story from another feed).
        store.record_fetch(answered("wire", "200", 10 * DAY)).await.unwrap();
        store.mark_carried("wire".into(), vec!["b".into()], 10 * DAY).await.unwrap();
        store.record_fetch(answered("other", "200", 10 * DAY)).await.unwrap();
        store.mark_carried("other".into(), vec!["e".into()], 10 * DAY).await.unwrap();
        // Day 199: a young item y.
        store.record_items(vec![item("y", "wire")], 199 * DAY).await.unwrap();
        // Day 200: "wire" lists b and y; "quiet" answers 304; "other" answers 304 (still carries e).
        let now = 200 * DAY;
        store.record_fetch(answered("wire", "200", now)).await.unwrap();
        store.mark_carried("wire".into(), vec!["b".into(), "y".into()], now).await.unwrap();
        store.record_fetch(answered("quiet", "304", now)).await.unwrap();
        store.record_fetch(answered("other", "304", now)).await.unwrap();

        // One row per step, so the walk continues across many write calls.
        let swept = retention::sweep(store, retention, now, 1).await.unwrap();
        assert_eq!(swept, retention::Swept { seen: 1, fingerprints: 1 }, "only a: old and listed by no feed");
        let unseen = store
            .unseen(["a", "b", "e", "q", "y"].iter().map(|key| (key.to_string(), None)).collect())
            .await
            .unwrap();
        assert_eq!(unseen, [true, false, false, false, false]);
        assert_eq!(
            store
                .fingerprints_seen("wire".into(), vec![Some("fp-a".into()), Some("fp-b".into())])
                .await
                .unwrap(),
            [false, true]
        );

        // A year on, "other" has not answered for longer than the retention: e goes; "quiet" still
        // answers 304 and keeps q; "wire" keeps listing b and y.
        let later = 400 * DAY;
        store.record_fetch(answered("quiet", "304", later)).await.unwrap();
        store.record_fetch(answered("wire", "200", later)).await.unwrap();
        store.mark_carried("wire".into(), vec!["b".into(), "y".into()], later).await.unwrap();
        let swept = retention::sweep(store, retention, later, 2).await.unwrap();
        assert_eq!(swept.seen, 1);
        let unseen = store
            .unseen(["b", "e", "q", "y"].iter().map(|key| (key.to_string(), None)).collect())
            .await
            .unwrap();
        assert_eq!(unseen, [false, true, false, false]);
    }
}

#[test]
fn seen_retention_is_validated_and_may_be_off() {
    let config = |line: &str| {
        let text = format!(
            "[daemon]\n{line}\n[[feeds]]\nname = \"a\"\nurl = \"http://a.example/feed\"\n[[topics]]\nid = \"us-russia-talks\"\n"
        );
        crate::config::Config::from_toml(&text, "t.toml", std::path::Path::new("."))
    };
    let retention = |line: &str| config(line).map(|config| config.daemon.seen_retention);
    assert_eq!(retention("").unwrap(), Some(crate::config::DEFAULT_SEEN_RETENTION));
    assert_eq!(retention("seen_retention = \"off\"").unwrap(), None);
    assert_eq!(
        retention("seen_retention = \"30d\"").unwrap(),
        Some(std::time::Duration::from_secs(30 * 86_400))
    );
    for bad in ["seen_retention = \"1d\"", "seen_retention = \"soon\""] {
        let err = config(bad).expect_err("refused").to_string();
        assert!(err.contains("t.toml") && err.contains("daemon.seen_retention"), "{bad}: {err}");
    }
}
