//! Migration 0008 (issue 15): a database at schema 7 is upgraded in place — links equal to their
//! key are no longer stored, content fingerprints name their item by rowid — and everything it
//! knew is still known: seen keys and links, fingerprints, the story window.

use super::*;

/// Schema 7 as the migrations of that release built it.
fn schema_7(conn: &rusqlite::Connection) {
    for sql in [
        include_str!("migrations/0001_initial.sql"),
        include_str!("migrations/0002_unique_links_and_claims.sql"),
        include_str!("migrations/0003_seen_fingerprints.sql"),
        include_str!("migrations/0004_email_digests.sql"),
        include_str!("migrations/0005_poll_schedule.sql"),
        include_str!("migrations/0006_seen_retention.sql"),
        include_str!("migrations/0007_stories.sql"),
    ] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 7).unwrap();
}

fn item(key: &str, link: Option<&str>, fingerprint: Option<&str>) -> ItemRecord {
    ItemRecord {
        key: key.into(),
        link: link.map(Into::into),
        feed: "wire".into(),
        fingerprint: fingerprint.map(Into::into),
        ..ItemRecord::default()
    }
}

const PRINT_A: &str = "00112233445566778899aabbccddeeff";

#[tokio::test]
async fn a_schema_7_database_is_upgraded_in_place_and_still_knows_what_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        schema_7(&conn);
        conn.execute_batch(&format!(
            "INSERT INTO seen (key, link, feed, first_seen_at) VALUES
                ('https://w.example/a', 'https://w.example/a', 'wire', 5),
                ('id:b', 'https://w.example/b', 'wire', 5),
                ('id:c', NULL, 'wire', 5);
             INSERT INTO seen_fingerprints (feed, fingerprint, key, first_seen_at) VALUES
                ('wire', '{PRINT_A}', 'id:b', 5),
                ('wire', 'ffeeddccbbaa99887766554433221100', 'id:gone', 5);
             INSERT INTO story_items (item_key, story, published, recorded_at, feed, outlet, title, url, text)
             VALUES ('id:b', 'story-b', {now}, {now}, 'wire', 'w.example', 'Lavrov and Rubio meet in Riyadh',
                     'https://w.example/b', 'Sergei Lavrov and Marco Rubio met in Riyadh on Tuesday.');
             INSERT INTO stories (id, first_item, title, started_at, last_item_at, items, outlets)
             VALUES ('story-b', 'id:b', 'Lavrov and Rubio meet in Riyadh', {now}, {now}, 1, 1);"
        ))
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let links: Vec<Option<String>> = conn
            .prepare("SELECT link FROM seen ORDER BY rowid")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            links,
            [None, Some("https://w.example/b".into()), None],
            "a link equal to its key is dropped"
        );
        let prints: i64 = conn.query_row("SELECT COUNT(*) FROM seen_prints", [], |row| row.get(0)).unwrap();
        assert_eq!(prints, 1, "the fingerprint of an item no longer seen goes");
        let old_table: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'seen_fingerprints'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(old_table, 0);
    }
    // Seen by key, by stored link, and by a link that was the key.
    let asked = vec![
        ("https://w.example/a".to_string(), None),
        ("id:x".to_string(), Some("https://w.example/a".to_string())),
        ("id:y".to_string(), Some("https://w.example/b".to_string())),
        ("id:c".to_string(), None),
        ("id:new".to_string(), Some("https://w.example/new".to_string())),
    ];
    assert_eq!(store.unseen(asked).await.unwrap(), [false, false, false, false, true]);
    let outcomes = store
        .record_items(
            vec![
                item("id:x", Some("https://w.example/a"), None),
                item("id:other-key", Some("https://w.example/other"), Some(PRINT_A)),
                item("https://w.example/new", Some("https://w.example/new"), None),
                item("id:again", Some("https://w.example/new"), None),
                item("id:fresh", None, Some("99999999999999999999999999999999")),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [Recorded::Duplicate, Recorded::Duplicate, Recorded::New, Recorded::Duplicate, Recorded::New],
        "a link that was a key, a fingerprint the feed had, a link equal to a key just recorded"
    );
    let fresh = item("id:fresh-2", None, Some("99999999999999999999999999999999"));
    assert_eq!(store.record_items(vec![fresh], now).await.unwrap(), [Recorded::Duplicate]);
    // The story item recorded before the upgrade has text, no stored fingerprint: start-up
    // fingerprints it again.
    let window = store.story_window(now - 3600, 10).await.unwrap();
    assert_eq!(window.items.len(), 1);
    assert!(window.items[0].print.is_none() && !window.items[0].text.is_empty());
    assert_eq!((window.items[0].story.as_str(), window.stories.len()), ("story-b", 1));
    // Fingerprints whose item retention removed are swept by rowid.
    assert_eq!(store.prune_fingerprints("wire".into(), now + 10).await.unwrap(), 0, "their items are seen");
}
