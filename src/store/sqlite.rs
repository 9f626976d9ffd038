//! The embedded SQLite backend: opening and checking the file, numbered migrations, the writer
//! thread that batches calls into transactions, the reader threads, and every query. Only this
//! file knows rusqlite.

use super::{
    CLAIM_LEASE_SECS, FeedCommit, FeedState, FetchOutcome, ItemRecord, Pending, Recorded, StoreError,
};
use rusqlite::{OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub(super) use rusqlite::Connection;
pub(super) use schedule::{feed_schedule, feed_schedules, record_schedule};

mod schedule;

pub(super) mod digest;

/// The numbered migrations, applied in order at start-up; `PRAGMA user_version` records the
/// last one applied. Append only: a released migration never changes.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_unique_links_and_claims.sql")),
    (3, include_str!("migrations/0003_seen_fingerprints.sql")),
    (4, include_str!("migrations/0004_email_digests.sql")),
    (5, include_str!("migrations/0005_poll_schedule.sql")),
    (6, include_str!("migrations/0006_seen_retention.sql")),
    (7, include_str!("migrations/0007_stories.sql")),
    (8, include_str!("migrations/0008_story_prints_and_compact_seen.sql")),
];

/// The schema version this build writes (the last migration).
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The most write calls committed in one transaction.
const WRITE_BATCH: usize = 128;

/// Compiled statements each connection keeps. Every statement this file runs (about 25,
/// counting the transaction control ones) fits, so nothing is compiled twice: rusqlite's default
/// of 16 would evict and recompile on every poll once the writer used more than 16.
const STATEMENT_CACHE: usize = 64;

/// Runs one parameterless statement through the connection's statement cache. `execute_batch`
/// would parse its text on every call; the writer runs BEGIN/SAVEPOINT/RELEASE/COMMIT for every
/// call and batch, so they are compiled once here.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

/// Called with the outcome of the transaction a write call was part of.
pub(super) type Finish = Box<dyn FnOnce(Result<(), &str>) + Send>;
/// A write call: applies its change inside the batch's transaction (or learns that the
/// transaction could not begin) and says whether it succeeded; its reply waits for the commit.
pub(super) type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> (bool, Finish) + Send>;
/// Whether a write call's commit must reach the disk before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Synced (`synchronous=FULL`): an alert, a seen item, a delivery.
    Synced,
    /// Committed, but a batch of only these is not synced on its own (`synchronous=NORMAL` in
    /// WAL mode: a power cut may lose it, never corrupt anything). Poll outcomes are lazy, so a
    /// round of 304s costs a few fsyncs, not one per poll.
    Lazy,
}
/// A write call as queued for the writer.
pub(super) type Queued = (Durability, WriteJob);
/// A read call.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        StoreError::Query(Box::new(err))
    }
}

/// The writer: takes what is queued (up to [`WRITE_BATCH`] calls), applies each in a savepoint
/// of one transaction, commits once, then answers every caller. Ends when the store is dropped.
pub(super) fn writer_loop(conn: Connection, mut jobs: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    // open_writer left the connection at FULL.
    let mut synced = true;
    while let Some((durability, first)) = jobs.blocking_recv() {
        let mut durable = durability == Durability::Synced;
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match jobs.try_recv() {
                Ok((durability, job)) => {
                    durable |= durability == Durability::Synced;
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let mut level_set = Ok(());
        if durable != synced {
            let level = if durable { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" };
            match run_cached(&conn, level) {
                Ok(()) => synced = durable,
                // A durable batch that cannot be synced fails like one that cannot begin; a
                // lazy batch left at FULL merely syncs.
                Err(err) if durable => level_set = Err(err),
                Err(err) => tracing::warn!(error = %err, "cannot lower the sync level"),
            }
        }
        if let Err(err) = level_set.and_then(|()| run_cached(&conn, "BEGIN IMMEDIATE")) {
            let detail = err.to_string();
            for job in batch.drain(..) {
                let (_, finish) = job(Err(&detail));
                finish(Err(&detail));
            }
            continue;
        }
        let mut finishes = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            let (applied, finish) = match run_cached(&conn, "SAVEPOINT call") {
                Ok(()) => {
                    let (applied, finish) = job(Ok(&conn));
                    let end = if applied {
                        run_cached(&conn, "RELEASE call")
                    } else {
                        run_cached(&conn, "ROLLBACK TO call").and_then(|()| run_cached(&conn, "RELEASE call"))
                    };
                    match end {
                        Ok(()) => (applied, finish),
                        Err(err) => {
                            // The transaction is in an unknown state: let the commit decide.
                            tracing::error!(error = %err, "cannot end a savepoint");
                            (applied, finish)
                        }
                    }
                }
                Err(err) => job(Err(&err.to_string())),
            };
            let _ = applied;
            finishes.push(finish);
        }
        let committed = run_cached(&conn, "COMMIT").map_err(|err| err.to_string());
        if committed.is_err() {
            // Nothing of the batch was stored; SQLite may have rolled back already.
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishes {
            finish(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// A reader: answers read calls from the shared queue with its own connection.
pub(super) fn reader_loop(conn: Connection, jobs: Arc<Mutex<mpsc::Receiver<ReadJob>>>) {
    loop {
        // Only the wait for the next call is under the lock; the call runs outside it, so the
        // readers answer in parallel.
        let next = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).blocking_recv();
        match next {
            Some(job) => job(&conn),
            None => return,
        }
    }
}

/// Opens the database for the writer: checks it, refuses a newer schema, migrates, and frees
/// the outbox claims of earlier processes (the caller holds the state directory's lock).
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open_checked(path, flags)?;
    let open_err = |err: rusqlite::Error| open_error(path, err);
    conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
    // FULL: a committed alert survives power loss, not only a process crash.
    conn.pragma_update(None, "synchronous", "FULL").map_err(open_err)?;
    migrate(&conn, path)?;
    conn.execute(
        "UPDATE outbox SET claimed_at = NULL WHERE claimed_at IS NOT NULL AND delivered_at IS NULL",
        [],
    )
    .map_err(open_err)?;
    Ok(conn)
}

/// Opens the database for reading; refuses a newer schema too.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_checked(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let version = user_version(&conn).map_err(|err| open_error(path, err))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(conn)
}

fn open_error(path: &Path, err: rusqlite::Error) -> StoreError {
    if is_corruption(&err) {
        StoreError::Corrupt { path: path.to_path_buf(), detail: err.to_string() }
    } else {
        StoreError::Open { path: path.to_path_buf(), source: Box::new(err) }
    }
}

/// Opens the file and checks, cheaply, that it is a database newswatch can use: SQLite reads
/// and checks the header, the version is read from it, and the schema is parsed and must name
/// the tables its version promises. The cost does not grow with the file (a full
/// `quick_check` read every page: 0.57 s at a million seen items); [`integrity_check`] is the
/// full scan, run on demand by `newswatch check-store`.
fn open_checked(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|err| open_error(path, err))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|err| open_error(path, err))?;
    // The first statement that reads the file is where "file is not a database" shows up.
    let version = user_version(&conn).map_err(|err| open_error(path, err))?;
    let tables = schema_tables(&conn).map_err(|err| open_error(path, err))?;
    let missing: Vec<&str> = REQUIRED_TABLES
        .iter()
        .filter(|(since, until, table)| {
            (*since..=*until).contains(&version) && !tables.iter().any(|name| name == table)
        })
        .map(|(_, _, table)| *table)
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("schema version {version} but table {} is missing", missing.join(", ")),
        });
    }
    Ok(conn)
}

/// Tables a database at schema version `.0` up to `.1` must have.
const REQUIRED_TABLES: &[(i64, i64, &str)] = &[
    (1, i64::MAX, "feeds"),
    (1, i64::MAX, "seen"),
    (1, i64::MAX, "outbox"),
    (3, 7, "seen_fingerprints"),
    (8, i64::MAX, "seen_prints"),
];

/// The tables the schema names; parsing the schema is where a damaged one shows up.
fn schema_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    rows.collect()
}

/// The full check of every page, index and constraint (`PRAGMA integrity_check`): an empty list
/// when the database is healthy, else SQLite's description of each problem. Reads the whole
/// file, so it runs only on demand, on a read-only connection (a running daemon is not held up:
/// WAL lets it write meanwhile).
pub(super) fn integrity_check(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_checked(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let check = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect()
    };
    match check() {
        Ok(lines) => Ok(lines.into_iter().filter(|line| line != "ok").collect()),
        // Damage bad enough to stop the check is itself the finding.
        Err(err) if is_corruption(&err) => Ok(vec![err.to_string()]),
        Err(err) => Err(open_error(path, err)),
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies every migration newer than the database, each in its own transaction with the
/// version it reaches. A database newer than this build is refused untouched.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn).map_err(|err| open_error(path, err))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > found) {
        let apply = || -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let applied =
                conn.execute_batch(sql).and_then(|()| conn.pragma_update(None, "user_version", version));
            match applied {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(err) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(err)
                }
            }
        };
        apply().map_err(|err| {
            if is_corruption(&err) {
                StoreError::Corrupt { path: path.to_path_buf(), detail: err.to_string() }
            } else {
                StoreError::Migrate { path: path.to_path_buf(), version, source: Box::new(err) }
            }
        })?;
        tracing::info!(path = %path.display(), version, "state database migrated");
    }
    Ok(())
}

fn is_corruption(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
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

pub(super) fn feed_state(conn: &Connection, name: &str) -> Result<Option<FeedState>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{FEED_SELECT} WHERE name = ?1"))?;
    Ok(stmt.query_row([name], feed_from_row).optional()?)
}

pub(super) fn feed_states(conn: &Connection) -> Result<Vec<FeedState>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{FEED_SELECT} ORDER BY name"))?;
    let rows = stmt.query_map([], feed_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn record_fetch(conn: &Connection, outcome: &FetchOutcome) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO feeds (name, url, last_fetch_at, last_status, last_error,
                            consecutive_failures, next_poll_at, retry_after_until, answered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(name) DO UPDATE SET
            url = excluded.url, last_fetch_at = excluded.last_fetch_at,
            last_status = excluded.last_status, last_error = excluded.last_error,
            consecutive_failures = excluded.consecutive_failures,
            next_poll_at = excluded.next_poll_at, retry_after_until = excluded.retry_after_until,
            answered_at = COALESCE(excluded.answered_at, feeds.answered_at)",
    )?
    .execute(params![
        outcome.feed,
        outcome.url,
        outcome.at,
        outcome.status,
        outcome.error,
        outcome.consecutive_failures,
        outcome.next_poll_at,
        outcome.retry_after_until,
        // The feed answered: what it carries is still known (a 304 carries its last listing).
        matches!(outcome.status.as_str(), "200" | "304").then_some(outcome.at),
    ])?;
    Ok(())
}

pub(super) fn apply_commit(conn: &Connection, commit: &FeedCommit, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO feeds (name, url, etag, last_modified, first_polled_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(name) DO UPDATE SET url = excluded.url, etag = excluded.etag,
            last_modified = excluded.last_modified,
            first_polled_at = COALESCE(feeds.first_polled_at, excluded.first_polled_at)",
    )?
    .execute(params![commit.feed, commit.url, commit.etag, commit.last_modified, now])?;
    Ok(())
}

pub(super) fn unseen(conn: &Connection, items: &[(String, Option<String>)]) -> Result<Vec<bool>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    for (key, link) in items {
        out.push(!(key_seen(conn, key)? || link_seen(conn, link.as_deref())?));
    }
    Ok(out)
}

fn key_seen(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM seen WHERE key = ?1")?.exists([key])
}

/// Whether an item with this link is seen: a stored link, or the key of an item whose link was
/// its key (stored as NULL, see migration 0008).
fn link_seen(conn: &Connection, link: Option<&str>) -> rusqlite::Result<bool> {
    let Some(link) = link else { return Ok(false) };
    Ok(conn.prepare_cached("SELECT 1 FROM seen WHERE link = ?1")?.exists([link])? || key_seen(conn, link)?)
}

/// A content fingerprint as stored: its bytes (a fingerprint is hex; anything else is kept as
/// its UTF-8 bytes, which cannot collide with a 16-byte hash of hex).
fn print_bytes(fingerprint: &str) -> Vec<u8> {
    hex::decode(fingerprint).unwrap_or_else(|_| fingerprint.as_bytes().to_vec())
}

/// Whether `feed` already had an item with this fingerprint.
fn fingerprint_seen(conn: &Connection, feed: &str, fingerprint: Option<&str>) -> rusqlite::Result<bool> {
    match fingerprint {
        Some(fingerprint) => conn
            .prepare_cached("SELECT 1 FROM seen_prints WHERE feed = ?1 AND print = ?2")?
            .exists(params![feed, print_bytes(fingerprint)]),
        None => Ok(false),
    }
}

/// Remembers an item's fingerprint (the first item with it keeps the row).
fn insert_fingerprint(conn: &Connection, record: &ItemRecord, seen: i64, now: i64) -> rusqlite::Result<()> {
    if let Some(fingerprint) = &record.fingerprint {
        conn.prepare_cached(
            "INSERT INTO seen_prints (feed, print, seen, first_seen_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![record.feed, print_bytes(fingerprint), seen, now])?;
    }
    Ok(())
}

/// For each fingerprint, whether `feed` already had an item with it (None: never).
pub(super) fn fingerprints_seen(
    conn: &Connection,
    feed: &str,
    fingerprints: &[Option<String>],
) -> Result<Vec<bool>, StoreError> {
    let mut out = Vec::with_capacity(fingerprints.len());
    for fingerprint in fingerprints {
        out.push(fingerprint_seen(conn, feed, fingerprint.as_deref())?);
    }
    Ok(out)
}

pub(super) fn record_items(
    conn: &Connection,
    records: &[ItemRecord],
    now: i64,
) -> Result<Vec<Recorded>, StoreError> {
    // The UNIQUE key and link decide what is new: an item whose key or link is already there
    // (from another feed, or earlier in this very batch) inserts nothing and returns no row.
    let mut insert_seen = conn.prepare_cached(
        "INSERT INTO seen (key, link, feed, first_seen_at, verdicts) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING RETURNING rowid",
    )?;
    let mut insert_alert = conn.prepare_cached(
        "INSERT INTO outbox (alert_id, sink, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    let mut count_seen = conn.prepare_cached(
        "INSERT INTO feeds (name, url, items_seen) VALUES (?1, '', 1)
         ON CONFLICT(name) DO UPDATE SET items_seen = items_seen + 1",
    )?;
    let mut outcomes = Vec::with_capacity(records.len());
    for record in records {
        // A feed's repeat of a title and summary it already had is a duplicate whatever its key.
        // A link equal to the key is not stored (migration 0008), so the unique link index
        // cannot see it: links are checked against keys and links first.
        let stored_link = record.link.as_deref().filter(|link| *link != record.key);
        let inserted = if fingerprint_seen(conn, &record.feed, record.fingerprint.as_deref())?
            || link_seen(conn, record.link.as_deref())?
        {
            None
        } else {
            insert_seen
                .query_row(params![record.key, stored_link, record.feed, now, record.verdicts], |row| {
                    row.get::<_, i64>(0)
                })
                .optional()?
        };
        if let Some(seen_rowid) = inserted {
            insert_fingerprint(conn, record, seen_rowid, now)?;
            count_seen.execute([&record.feed])?;
            for alert in &record.alerts {
                insert_alert.execute(params![alert.alert_id, alert.sink, alert.body, now])?;
            }
            super::sqlite_stories::apply(conn, &record.story_ops, now)?;
            outcomes.push(Recorded::New);
        } else {
            outcomes.push(Recorded::Duplicate);
        }
    }
    for record in records {
        if let Some(commit) = &record.commit {
            apply_commit(conn, commit, now)?;
        }
    }
    Ok(outcomes)
}

fn pending_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    Ok(Pending { seq: row.get(0)?, alert_id: row.get(1)?, body: row.get(2)? })
}

pub(super) fn pending(conn: &Connection, sink: &str) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, alert_id, body FROM outbox WHERE sink = ?1 AND delivered_at IS NULL ORDER BY seq",
    )?;
    let rows = stmt.query_map([sink], pending_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn claim(
    conn: &Connection,
    sink: &str,
    limit: usize,
    now: i64,
) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE outbox SET claimed_at = ?3
          WHERE seq IN (SELECT seq FROM outbox
                         WHERE sink = ?1 AND delivered_at IS NULL
                           AND (claimed_at IS NULL OR claimed_at < ?4)
                         ORDER BY seq LIMIT ?2)
         RETURNING seq, alert_id, body",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![sink, limit, now, now - CLAIM_LEASE_SECS], pending_from_row)?;
    let mut claimed: Vec<Pending> = rows.collect::<Result<_, _>>()?;
    // RETURNING gives no order; delivery keeps the order alerts were recorded in.
    claimed.sort_by_key(|row| row.seq);
    Ok(claimed)
}

pub(super) fn release(conn: &Connection, seqs: &[i64]) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare_cached("UPDATE outbox SET claimed_at = NULL WHERE seq = ?1 AND delivered_at IS NULL")?;
    for seq in seqs {
        stmt.execute([seq])?;
    }
    Ok(())
}

pub(super) fn release_all(conn: &Connection, sink: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET claimed_at = NULL WHERE sink = ?1 AND claimed_at IS NOT NULL AND delivered_at IS NULL",
        )?
        .execute([sink])?)
}

pub(super) fn mark_delivered(conn: &Connection, seqs: &[i64], now: i64) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare_cached("UPDATE outbox SET delivered_at = ?2, claimed_at = NULL WHERE seq = ?1")?;
    for seq in seqs {
        stmt.execute(params![seq, now])?;
    }
    Ok(())
}

pub(super) fn adopt_pending(conn: &Connection, from: &str, to: &str) -> Result<usize, StoreError> {
    // OR IGNORE: an alert already queued under the new name stays as it is (the old row stays
    // behind, undelivered under a name no sink has; it is history, not lost work).
    Ok(conn
        .prepare_cached("UPDATE OR IGNORE outbox SET sink = ?2 WHERE sink = ?1 AND delivered_at IS NULL")?
        .execute([from, to])?)
}

pub(super) fn prune_delivered(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1")?
        .execute([before])?)
}

pub(super) fn pending_counts(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT sink, COUNT(*) FROM outbox WHERE delivered_at IS NULL GROUP BY sink ORDER BY sink",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn counts(conn: &Connection) -> Result<(i64, i64), StoreError> {
    let outbox = conn.prepare_cached("SELECT COUNT(*) FROM outbox")?.query_row([], |row| row.get(0))?;
    let seen = conn.prepare_cached("SELECT COUNT(*) FROM seen")?.query_row([], |row| row.get(0))?;
    Ok((outbox, seen))
}

/// For each item, whether `record_items` would mark it seen now.
pub(super) fn would_record(
    conn: &Connection,
    items: &[(String, Option<String>, String, Option<String>)],
) -> Result<Vec<bool>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    for (key, link, feed, fingerprint) in items {
        let seen = key_seen(conn, key)?
            || link_seen(conn, link.as_deref())?
            || fingerprint_seen(conn, feed, fingerprint.as_deref())?;
        out.push(!seen);
    }
    Ok(out)
}

/// A carried item's `last_carried_at` is rewritten at most this often, so a feed listing the
/// same items every poll costs index lookups, not page writes.
pub(super) const CARRIED_REFRESH_SECS: i64 = 86_400;

/// Records a full listing of `feed` at `now`: the feed's `listed_at`, and for each listed key
/// already seen, that this feed carries it (written only when stale or carried by another feed).
pub(super) fn mark_carried(
    conn: &Connection,
    feed: &str,
    keys: &[String],
    now: i64,
) -> Result<(), StoreError> {
    let feed_id: i64 = conn
        .prepare_cached(
            "INSERT INTO feeds (name, url, listed_at) VALUES (?1, '', ?2)
             ON CONFLICT(name) DO UPDATE SET listed_at = excluded.listed_at RETURNING rowid",
        )?
        .query_row(params![feed, now], |row| row.get(0))?;
    let mut refresh = conn.prepare_cached(
        "UPDATE seen SET last_carried_at = ?2, carried_by = ?3
          WHERE key = ?1
            AND (COALESCE(last_carried_at, first_seen_at) < ?2 - ?4
                 OR COALESCE(carried_by, (SELECT rowid FROM feeds WHERE name = seen.feed)) IS NOT ?3)",
    )?;
    for key in keys {
        refresh.execute(params![key, now, feed_id, CARRIED_REFRESH_SECS])?;
    }
    Ok(())
}

/// Prunes, among seen rows with rowid in `(after, after + scan]`, those first seen and last
/// carried before `cutoff` whose carrying feed no longer lists them (or has not answered since
/// `cutoff`); their fingerprints go with them. Returns (rows deleted, the last rowid scanned, or
/// None when the scan reached rows younger than the cutoff or the end of the table).
pub(super) fn prune_seen(
    conn: &Connection,
    after: i64,
    scan: usize,
    cutoff: i64,
) -> Result<(usize, Option<i64>), StoreError> {
    let scan = i64::try_from(scan).unwrap_or(i64::MAX);
    // Rowids grow with first_seen_at (rows are only appended), so the walk stops at the first
    // young row: a sweep reads only what is old enough to be pruned.
    let (last_rowid, young): (Option<i64>, bool) = conn
        .prepare_cached(
            "SELECT MAX(rowid), COALESCE(MAX(first_seen_at >= ?3), 0)
               FROM (SELECT rowid, first_seen_at FROM seen WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)",
        )?
        .query_row(params![after, scan, cutoff], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let Some(last_rowid) = last_rowid else { return Ok((0, None)) };
    let deleted = conn
        .prepare_cached(
            "DELETE FROM seen WHERE rowid IN (
                SELECT seen.rowid FROM seen
                  LEFT JOIN feeds AS carrier
                    ON carrier.rowid = COALESCE(seen.carried_by, (SELECT rowid FROM feeds WHERE name = seen.feed))
                 WHERE seen.rowid > ?1 AND seen.rowid <= ?2
                   AND seen.first_seen_at < ?3
                   AND COALESCE(seen.last_carried_at, seen.first_seen_at) < ?3
                   AND NOT (carrier.rowid IS NOT NULL
                            AND COALESCE(carrier.answered_at, carrier.last_fetch_at, 0) >= ?3
                            AND COALESCE(seen.last_carried_at, seen.first_seen_at)
                                >= COALESCE(carrier.listed_at, 0) - ?4))",
        )?
        .execute(params![after, last_rowid, cutoff, CARRIED_REFRESH_SECS])?;
    Ok((deleted, (!young).then_some(last_rowid)))
}

/// Prunes one feed's fingerprints recorded before `cutoff` whose item is no longer seen (the
/// fingerprint only ever stood for that item). Returns the rows deleted.
pub(super) fn prune_fingerprints(conn: &Connection, feed: &str, cutoff: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM seen_prints
              WHERE feed = ?1 AND first_seen_at < ?2
                AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.rowid = seen_prints.seen)",
        )?
        .execute(params![feed, cutoff])?)
}

/// The names of every feed with fingerprints, for the fingerprint sweep.
pub(super) fn fingerprint_feeds(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT feed FROM seen_prints")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
