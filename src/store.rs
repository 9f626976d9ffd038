//! The embedded database (SQLite, WAL, `synchronous=FULL`): feeds' validators, schedule and
//! backoff, the items already seen, and the alert outbox.
//!
//! The store owns every state change and makes each one a single transaction. An item is marked
//! seen in the same transaction that stores its verdicts, its outbox alerts and, when it is the
//! last item of a response, that response's validators: a crash can never keep a new ETag while
//! losing the items it covered. The store never deletes state it cannot rebuild, and it refuses a
//! corrupt database instead of recreating it (that would re-alert everything).

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The database file inside the state directory.
pub const DB_FILE: &str = "newswatch.db";
/// The lock file that keeps a second daemon off the same state directory.
pub const LOCK_FILE: &str = "newswatch.lock";

const SCHEMA: &str = r#"
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

// ---- Content fingerprints (issue 11): one table and its queries, kept together here so the
// schema migration can take them over as they are. A row says: this feed already had an item
// with this title and summary (`feed::fingerprint`), under `key`. Rows are only added, in the
// transaction that marks their item seen.
const FINGERPRINT_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS seen_fingerprints (
    feed          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    key           TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (feed, fingerprint)
) WITHOUT ROWID;
"#;

/// Whether `feed` already had an item with this fingerprint.
fn fingerprint_seen(conn: &Connection, feed: &str, fingerprint: Option<&str>) -> rusqlite::Result<bool> {
    match fingerprint {
        Some(fingerprint) => conn
            .prepare_cached("SELECT 1 FROM seen_fingerprints WHERE feed = ?1 AND fingerprint = ?2")?
            .exists([feed, fingerprint]),
        None => Ok(false),
    }
}

/// Remembers an item's fingerprint (the first item with it keeps the row).
fn insert_fingerprint(conn: &Connection, record: &ItemRecord, now: i64) -> rusqlite::Result<()> {
    if let Some(fingerprint) = &record.fingerprint {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO seen_fingerprints (feed, fingerprint, key, first_seen_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![record.feed, fingerprint, record.key, now])?;
    }
    Ok(())
}
// ---- end of content fingerprints

/// What went wrong with the state directory or database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create state directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another newswatch is already running on state directory {path} (it holds {lock}); stop it first"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state database {path} is unusable (corrupt or not a database): {detail}; it was left untouched — restore it from a backup or move it away knowingly (a new database re-baselines every feed)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("state database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database query failed")]
    Query(#[from] rusqlite::Error),
}

/// A feed's state as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    pub name: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the feed's first response was fully recorded (its baseline); None = never.
    pub first_polled_at: Option<i64>,
    pub last_fetch_at: Option<i64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub next_poll_at: Option<i64>,
    pub retry_after_until: Option<i64>,
    pub items_seen: i64,
}

/// The outcome of one fetch, written by the poller.
#[derive(Debug, Clone)]
pub struct FetchOutcome<'a> {
    pub feed: &'a str,
    pub url: &'a str,
    pub at: i64,
    /// e.g. "200", "304", "error"
    pub status: &'a str,
    /// None on success, which also resets the failure count.
    pub error: Option<&'a str>,
    pub consecutive_failures: u32,
    pub next_poll_at: i64,
    pub retry_after_until: Option<i64>,
}

/// Validators to store once every item of their response is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedCommit {
    pub feed: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// One item to record: seen, its verdicts, its alerts, maybe its response's validators.
#[derive(Debug, Clone, Default)]
pub struct ItemRecord {
    pub key: String,
    pub link: Option<String>,
    pub feed: String,
    /// JSON of the verdicts (topic, score, matched), kept for `feeds`/debugging.
    pub verdicts: Option<String>,
    /// (alert id, sink name, JSON line) for every alert of this item and every sink.
    pub alerts: Vec<OutboxAlert>,
    /// Set on the last item of a response.
    pub commit: Option<FeedCommit>,
    /// `feed::fingerprint` of the entry: an item of the same feed with the same fingerprint
    /// is a duplicate whatever its key.
    pub fingerprint: Option<String>,
}

/// One pending alert for one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAlert {
    pub alert_id: String,
    pub sink: String,
    pub body: String,
}

/// What recording an item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First sighting: marked seen, alerts (if any) queued.
    New,
    /// Its key or link was already seen (e.g. the same story from two feeds): nothing queued.
    Duplicate,
}

/// A pending outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: i64,
    pub alert_id: String,
    pub body: String,
}

/// The database handle. Cheap to clone; calls are short and synchronous (wrap them in
/// `spawn_blocking` on the async side).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Held for the life of the process; dropping it releases the state directory.
    _lock: Option<Arc<File>>,
}

impl Store {
    /// Opens (creating if needed) the state directory for the daemon: takes the exclusive lock,
    /// opens the database, checks it and applies the schema.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|source| StoreError::CreateDir { path: state_dir.to_path_buf(), source })?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Lock { path: lock_path.clone(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: state_dir.to_path_buf(), lock: lock_path });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Lock { path: lock_path, source });
            }
        }
        let conn = open_checked(&state_dir.join(DB_FILE), false)?;
        Ok(Store { conn: Arc::new(Mutex::new(conn)), _lock: Some(Arc::new(lock)) })
    }

    /// Opens an existing database for reading only (for `feeds list` while a daemon runs).
    /// Returns None when there is no database yet.
    pub fn open_read_only(state_dir: &Path) -> Result<Option<Store>, StoreError> {
        let path = state_dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let conn = open_checked(&path, true)?;
        Ok(Some(Store { conn: Arc::new(Mutex::new(conn)), _lock: None }))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied (SQLite rolls
        // back an unfinished transaction when the statement is dropped), so a poisoned lock is
        // still safe to use.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stored state of one feed.
    pub fn feed_state(&self, name: &str) -> Result<Option<FeedState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{FEED_SELECT} WHERE name = ?1"))?;
        Ok(stmt.query_row([name], feed_from_row).optional()?)
    }

    /// Every stored feed.
    pub fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{FEED_SELECT} ORDER BY name"))?;
        let rows = stmt.query_map([], feed_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores the outcome of a fetch: status, error, failure count and schedule. Validators are
    /// not touched here; they go with the items (see [`Store::record_items`]).
    pub fn record_fetch(&self, outcome: &FetchOutcome<'_>) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO feeds (name, url, last_fetch_at, last_status, last_error,
                                consecutive_failures, next_poll_at, retry_after_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(name) DO UPDATE SET
                url = excluded.url, last_fetch_at = excluded.last_fetch_at,
                last_status = excluded.last_status, last_error = excluded.last_error,
                consecutive_failures = excluded.consecutive_failures,
                next_poll_at = excluded.next_poll_at, retry_after_until = excluded.retry_after_until",
            params![
                outcome.feed,
                outcome.url,
                outcome.at,
                outcome.status,
                outcome.error,
                outcome.consecutive_failures,
                outcome.next_poll_at,
                outcome.retry_after_until
            ],
        )?;
        Ok(())
    }

    /// Stores validators for a response that carried no new item (so nothing else to wait for).
    pub fn commit_feed(&self, commit: &FeedCommit, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        apply_commit(&tx, commit, now)?;
        tx.commit()?;
        Ok(())
    }

    /// For each (key, link), whether it has never been seen (by key, or by link).
    pub fn unseen(&self, items: &[(&str, Option<&str>)]) -> Result<Vec<bool>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::with_capacity(items.len());
        for (key, link) in items {
            out.push(!is_seen(&conn, key, *link)?);
        }
        Ok(out)
    }

    /// For each fingerprint, whether `feed` already had an item with it (None: never).
    pub fn fingerprints_seen(
        &self,
        feed: &str,
        fingerprints: &[Option<&str>],
    ) -> Result<Vec<bool>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::with_capacity(fingerprints.len());
        for fingerprint in fingerprints {
            out.push(fingerprint_seen(&conn, feed, *fingerprint)?);
        }
        Ok(out)
    }

    /// Records items in ONE transaction: each is marked seen (unless its key or link already
    /// is, or its feed already had its fingerprint), with its verdicts and outbox alerts;
    /// validators of completed responses are stored.
    pub fn record_items(&self, records: &[ItemRecord], now: i64) -> Result<Vec<Recorded>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut outcomes = Vec::with_capacity(records.len());
        {
            let mut insert_seen = tx.prepare_cached(
                "INSERT INTO seen (key, link, feed, first_seen_at, verdicts) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut insert_alert = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox (alert_id, sink, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut count_seen = tx.prepare_cached(
                "INSERT INTO feeds (name, url, items_seen) VALUES (?1, '', 1)
                 ON CONFLICT(name) DO UPDATE SET items_seen = items_seen + 1",
            )?;
            for record in records {
                if is_seen(&tx, &record.key, record.link.as_deref())?
                    || fingerprint_seen(&tx, &record.feed, record.fingerprint.as_deref())?
                {
                    outcomes.push(Recorded::Duplicate);
                } else {
                    insert_seen.execute(params![
                        record.key,
                        record.link,
                        record.feed,
                        now,
                        record.verdicts
                    ])?;
                    insert_fingerprint(&tx, record, now)?;
                    count_seen.execute([&record.feed])?;
                    for alert in &record.alerts {
                        insert_alert.execute(params![alert.alert_id, alert.sink, alert.body, now])?;
                    }
                    outcomes.push(Recorded::New);
                }
            }
        }
        for record in records {
            if let Some(commit) = &record.commit {
                apply_commit(&tx, commit, now)?;
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// Undelivered alerts for a sink, oldest first.
    pub fn pending(&self, sink: &str) -> Result<Vec<Pending>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, alert_id, body FROM outbox WHERE sink = ?1 AND delivered_at IS NULL ORDER BY seq",
        )?;
        let rows = stmt.query_map([sink], |row| {
            Ok(Pending { seq: row.get(0)?, alert_id: row.get(1)?, body: row.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks outbox rows delivered, in one transaction.
    pub fn mark_delivered(&self, seqs: &[i64], now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("UPDATE outbox SET delivered_at = ?2 WHERE seq = ?1")?;
            for seq in seqs {
                stmt.execute(params![seq, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes outbox rows delivered before `before` (unix seconds): once an alert is in every
    /// sink's log, its row is only history. Seen items are kept forever, so a story that leaves a
    /// feed and comes back months later is still known. Returns the number of rows deleted.
    pub fn prune_delivered(&self, before: i64) -> Result<usize, StoreError> {
        let conn = self.conn();
        Ok(conn
            .execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1", [before])?)
    }

    /// Number of outbox rows (delivered or not) and of seen items: for tests and `feeds list`.
    pub fn counts(&self) -> Result<(i64, i64), StoreError> {
        let conn = self.conn();
        let outbox = conn.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))?;
        let seen = conn.query_row("SELECT COUNT(*) FROM seen", [], |row| row.get(0))?;
        Ok((outbox, seen))
    }
}

/// Whether an item was seen before, by its key or by its canonical link. Inside a transaction it
/// also sees the rows that transaction inserted (the same story twice in one batch).
fn is_seen(conn: &Connection, key: &str, link: Option<&str>) -> rusqlite::Result<bool> {
    if conn.prepare_cached("SELECT 1 FROM seen WHERE key = ?1")?.exists([key])? {
        return Ok(true);
    }
    match link {
        Some(link) => conn.prepare_cached("SELECT 1 FROM seen WHERE link = ?1")?.exists([link]),
        None => Ok(false),
    }
}

const FEED_SELECT: &str = "SELECT name, url, etag, last_modified, first_polled_at, last_fetch_at,
    last_status, last_error, consecutive_failures, next_poll_at, retry_after_until, items_seen FROM feeds";

fn feed_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FeedState> {
    Ok(FeedState {
        name: row.get(0)?,
        url: row.get(1)?,
        etag: row.get(2)?,
        last_modified: row.get(3)?,
        first_polled_at: row.get(4)?,
        last_fetch_at: row.get(5)?,
        last_status: row.get(6)?,
        last_error: row.get(7)?,
        consecutive_failures: row.get(8)?,
        next_poll_at: row.get(9)?,
        retry_after_until: row.get(10)?,
        items_seen: row.get(11)?,
    })
}

fn apply_commit(tx: &rusqlite::Transaction<'_>, commit: &FeedCommit, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO feeds (name, url, etag, last_modified, first_polled_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(name) DO UPDATE SET url = excluded.url, etag = excluded.etag,
            last_modified = excluded.last_modified,
            first_polled_at = COALESCE(feeds.first_polled_at, excluded.first_polled_at)",
        params![commit.feed, commit.url, commit.etag, commit.last_modified, now],
    )?;
    Ok(())
}

/// Opens the database, checks that it is one and is healthy, and applies the schema.
fn open_checked(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    let corrupt = |detail: String| StoreError::Corrupt { path: path.to_path_buf(), detail };
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
    // The first statement that reads the file is where "file is not a database" shows up.
    let check: Result<String, rusqlite::Error> = conn.query_row("PRAGMA quick_check", [], |row| row.get(0));
    match check {
        Ok(result) if result == "ok" => {}
        Ok(result) => return Err(corrupt(result)),
        Err(err) if is_corruption(&err) => return Err(corrupt(err.to_string())),
        Err(err) => return Err(open_err(err)),
    }
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        // FULL: a committed alert survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
        conn.execute_batch(SCHEMA)
            .and_then(|()| conn.execute_batch(FINGERPRINT_SCHEMA))
            .map_err(|err| if is_corruption(&err) { corrupt(err.to_string()) } else { open_err(err) })?;
    }
    Ok(conn)
}

fn is_corruption(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    #[test]
    fn items_are_new_once_by_key_or_link() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store
            .record_items(&[record("k1", Some("http://a/1"), Some("A1")), record("k2", None, None)], 1)
            .unwrap();
        assert_eq!(first, [Recorded::New, Recorded::New]);
        let again = store
            .record_items(&[record("k1", None, Some("A1")), record("k3", Some("http://a/1"), Some("A3"))], 2)
            .unwrap();
        assert_eq!(again, [Recorded::Duplicate, Recorded::Duplicate]);
        assert_eq!(
            store.unseen(&[("k1", None), ("k9", Some("http://a/1")), ("k9", None)]).unwrap(),
            [false, false, true]
        );
        let pending = store.pending("s").unwrap();
        assert_eq!(pending.len(), 1);
        store.mark_delivered(&[pending[0].seq], 3).unwrap();
        assert!(store.pending("s").unwrap().is_empty());
        assert_eq!(store.prune_delivered(3).unwrap(), 0, "delivered at 3 is not before 3");
        assert_eq!(store.prune_delivered(4).unwrap(), 1);
        assert_eq!(store.counts().unwrap(), (0, 2), "seen items stay");
    }

    #[test]
    fn an_item_with_a_fingerprint_its_feed_already_had_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let with = |key: &str, feed: &str| ItemRecord {
            feed: feed.into(),
            fingerprint: Some("fp".into()),
            ..record(key, None, None)
        };
        let outcomes = store.record_items(&[with("k1", "f"), with("k2", "f"), with("k3", "g")], 1).unwrap();
        assert_eq!(outcomes, [Recorded::New, Recorded::Duplicate, Recorded::New], "per feed");
        assert_eq!(
            store.fingerprints_seen("f", &[Some("fp"), Some("other"), None]).unwrap(),
            [true, false, false]
        );
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.record_items(&[with("k4", "g")], 2).unwrap(),
            [Recorded::Duplicate],
            "kept across restarts"
        );
    }

    #[test]
    fn validators_are_stored_with_the_last_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut last = record("k1", None, None);
        last.commit = Some(FeedCommit {
            feed: "f".into(),
            url: "http://x/".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
        });
        store.record_items(&[last], 10).unwrap();
        let state = store.feed_state("f").unwrap().unwrap();
        assert_eq!(state.etag.as_deref(), Some("\"v1\""));
        assert_eq!(state.first_polled_at, Some(10));
        assert_eq!(state.items_seen, 1);
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
}
