//! The store: feeds' validators, schedule and backoff, the items already seen, and the alert
//! outbox, behind an async API that owns its concurrency.
//!
//! Callers never block and never spawn blocking tasks for it: every write goes over a bounded
//! channel to ONE writer thread, which commits what arrived together in one transaction (each
//! call in a savepoint of its own, so one failing call does not undo the others); reads go to a
//! small pool of reader threads with their own connections. The domain types here carry no
//! database type, so another backend (PostgreSQL, for several instances) can provide the same
//! API; `sqlite.rs` is the embedded one (WAL, `synchronous=FULL`; a batch of only lazy writes,
//! such as poll outcomes, is not synced on its own), with numbered migrations.
//!
//! An item is marked seen in the same transaction that stores its verdicts, its outbox alerts
//! and, when it is the last item of a response, that response's validators: a crash can never
//! keep a new ETag while losing the items it covered. Uniqueness (an item key, a link, an alert
//! per sink) is the database's: `INSERT … ON CONFLICT DO NOTHING`, never check-then-insert. The
//! store never deletes state it cannot rebuild, refuses a corrupt database instead of
//! recreating it (that would re-alert everything), and refuses one written by a newer schema.
//! The one deletion of seen items is [`retention`]'s: items no feed has carried for
//! `seen_retention`, in small batches between the other writes.

mod digest;
pub mod leases;
mod pg;
pub mod retention;
mod sqlite;
mod sqlite_stories;
mod stories;

pub use crate::model::FeedCommit;
pub use digest::Digest;
pub use leases::{InstanceStatus, LeaseRound, Leases};
pub use pg::PG_SCHEMA_VERSION;
pub use sqlite::SCHEMA_VERSION;
pub use stories::{
    PendingNewcomer, StoredPrint, StoryAlertState, StoryItemRow, StoryMarks, StoryMember, StoryOp,
    StorySummary, StorySync, StoryView, StoryWindow, WindowItem,
};

use crate::config::StoreConfig;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The database file inside the state directory.
pub const DB_FILE: &str = "newswatch.db";
/// The lock file that keeps a second daemon off the same state directory.
pub const LOCK_FILE: &str = "newswatch.lock";
/// Write calls waiting for the writer thread; a full queue makes callers wait.
const WRITE_QUEUE: usize = 256;
/// Read calls waiting for a reader thread.
const READ_QUEUE: usize = 256;
/// Reader threads (each with its own connection) for a daemon's store.
const READERS: usize = 2;
/// How long an outbox row claimed for delivery stays claimed when the claimer never reports.
pub const CLAIM_LEASE_SECS: i64 = 10 * 60;

/// A boxed error from the database backend, kept as a source.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

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
    #[error(
        "state database {path} has schema version {found}, newer than this newswatch understands (up to {supported}); it was left untouched — run the newer newswatch that wrote it"
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error("cannot migrate state database {path} to schema version {version}")]
    Migrate {
        path: PathBuf,
        version: i64,
        #[source]
        source: BackendError,
    },
    #[error("state database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: BackendError,
    },
    #[error("state database query failed")]
    Query(#[source] BackendError),
    #[error("state database commit failed: {detail}")]
    Commit { detail: String },
    #[error("the state database is open read-only")]
    ReadOnly,
    #[error("the state database's worker threads have stopped")]
    Closed,
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
#[derive(Debug, Clone, Default)]
pub struct FetchOutcome {
    pub feed: String,
    pub url: String,
    pub at: i64,
    /// e.g. "200", "304", "error"
    pub status: String,
    /// None on success, which also resets the failure count.
    pub error: Option<String>,
    pub consecutive_failures: u32,
    pub next_poll_at: i64,
    pub retry_after_until: Option<i64>,
    /// The poller's adaptive interval after this outcome, in milliseconds (None: leave the
    /// stored schedule columns as they are).
    pub poll_interval_ms: Option<i64>,
    /// The longest wait the feed's last full document asked for (`<ttl>`, `<sy:updatePeriod>`).
    pub feed_hint_secs: Option<i64>,
}

/// What a poller needs from the store to resume its schedule after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedSchedule {
    pub next_poll_at: Option<i64>,
    pub retry_after_until: Option<i64>,
    /// The adaptive interval reached, in milliseconds; None: the configured interval.
    pub poll_interval_ms: Option<i64>,
    /// The wait the feed's last full document asked for, in seconds.
    pub feed_hint_secs: Option<i64>,
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
    /// `feed::fingerprint` of the entry: an item of the same feed with the same fingerprint is
    /// a duplicate whatever its key.
    pub fingerprint: Option<String>,
    /// Story changes, applied (in order) only when the item is new.
    pub story_ops: Vec<StoryOp>,
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

/// The store handle. Cheap to clone; every call is async and none blocks the runtime.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// The database behind a [`Store`]: every public call dispatches on it, so callers never know
/// which one they have.
#[derive(Clone)]
enum Backend {
    /// The embedded database of one instance (its writer and reader threads).
    Sqlite(Arc<Inner>),
    /// A PostgreSQL database shared by any number of instances.
    Postgres(pg::PgStore),
}

struct Inner {
    /// None for a read-only store.
    writer: Option<mpsc::Sender<sqlite::Queued>>,
    readers: mpsc::Sender<sqlite::ReadJob>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Held for the life of the store; released after the writer has stopped.
    _lock: Option<File>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channels ends the threads; waiting for them means the connections are
        // closed before the lock is released (a restart in the same process then finds the
        // database as a new process would).
        self.writer.take();
        let (closed, _) = mpsc::channel(1);
        self.readers = closed;
        for thread in self.threads.drain(..) {
            thread.join().ok();
        }
    }
}

/// The process id of the daemon holding `state_dir`'s lock, or None when no daemon holds it.
pub fn daemon_pid(state_dir: &Path) -> Option<u32> {
    let lock = File::open(state_dir.join(LOCK_FILE)).ok()?;
    match lock.try_lock_shared() {
        Ok(()) => None, // nobody holds it (dropping the file releases our shared lock)
        Err(_) => std::fs::read_to_string(state_dir.join(LOCK_FILE)).ok()?.trim().parse().ok(),
    }
}

impl Store {
    /// Opens (creating if needed) the state directory for the daemon: takes the exclusive lock,
    /// opens the database, checks it, applies pending migrations, and starts the writer and the
    /// readers. Refuses a corrupt database and one written by a newer schema.
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
        // The lock file names the daemon holding it, for `feeds add --reload` and operators.
        // Best effort: the lock itself is what excludes a second daemon.
        let _ =
            lock.set_len(0).and_then(|()| (&lock).write_all(format!("{}\n", std::process::id()).as_bytes()));
        let path = state_dir.join(DB_FILE);
        let writer_conn = sqlite::open_writer(&path)?;
        let mut threads = Vec::with_capacity(READERS + 1);
        let (writer, write_jobs) = mpsc::channel(WRITE_QUEUE);
        threads
            .push(spawn_thread("newswatch-db-writer", move || sqlite::writer_loop(writer_conn, write_jobs))?);
        let (readers, read_jobs) = mpsc::channel(READ_QUEUE);
        let read_jobs = Arc::new(std::sync::Mutex::new(read_jobs));
        for _ in 0..READERS {
            let conn = sqlite::open_reader(&path)?;
            let jobs = read_jobs.clone();
            threads.push(spawn_thread("newswatch-db-reader", move || sqlite::reader_loop(conn, jobs))?);
        }
        Ok(Store {
            backend: Backend::Sqlite(Arc::new(Inner {
                writer: Some(writer),
                readers,
                threads,
                _lock: Some(lock),
            })),
        })
    }

    /// Opens the store `[store]` names: SQLite in `state_dir` (locked for this daemon), or the
    /// shared PostgreSQL database (connected, migrated under its advisory lock; the state
    /// directory is then only where file sinks write).
    pub async fn connect(config: &StoreConfig, state_dir: &Path) -> Result<Store, StoreError> {
        match config {
            StoreConfig::Sqlite => Store::open(state_dir),
            StoreConfig::Postgres(pg) => Ok(Store {
                backend: Backend::Postgres(
                    pg::PgStore::connect(&pg.url, pg.pool_size, Some(pg.lease_timeout)).await?,
                ),
            }),
        }
    }

    /// Opens the store `[store]` names for reading only (the CLI while daemons run); None when
    /// a SQLite state directory has no database yet.
    pub async fn connect_read_only(
        config: &StoreConfig,
        state_dir: &Path,
    ) -> Result<Option<Store>, StoreError> {
        match config {
            StoreConfig::Sqlite => Store::open_read_only(state_dir),
            StoreConfig::Postgres(pg) => {
                Ok(Some(Store { backend: Backend::Postgres(pg::PgStore::connect(&pg.url, 2, None).await?) }))
            }
        }
    }

    /// Which database this is, for messages: the SQLite file or the PostgreSQL URL (without
    /// its password).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite".to_string(),
            Backend::Postgres(pg) => pg.name.clone(),
        }
    }

    /// Whether several instances may share this store (PostgreSQL): feeds are then leased.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Opens an existing database for reading only (for `feeds list` while a daemon runs).
    /// Returns None when there is no database yet.
    pub fn open_read_only(state_dir: &Path) -> Result<Option<Store>, StoreError> {
        let path = state_dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let conn = sqlite::open_reader(&path)?;
        let (readers, read_jobs) = mpsc::channel(READ_QUEUE);
        let read_jobs = Arc::new(std::sync::Mutex::new(read_jobs));
        let thread = spawn_thread("newswatch-db-reader", move || sqlite::reader_loop(conn, read_jobs))?;
        Ok(Some(Store {
            backend: Backend::Sqlite(Arc::new(Inner {
                writer: None,
                readers,
                threads: vec![thread],
                _lock: None,
            })),
        }))
    }

    /// Runs the full integrity check (every page, index and constraint) on the state
    /// directory's database, read-only: None when there is no database yet, else the problems
    /// found (empty: healthy). Reads the whole file, unlike the cheap check every open makes.
    pub fn check_integrity(state_dir: &Path) -> Result<Option<Vec<String>>, StoreError> {
        let path = state_dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        sqlite::integrity_check(&path).map(Some)
    }

    /// The stored state of one feed.
    pub async fn feed_state(&self, name: &str) -> Result<Option<FeedState>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.feed_state(name).await,
            Backend::Sqlite(db) => db,
        };
        let name = name.to_string();
        db.read(move |conn| sqlite::feed_state(conn, &name)).await
    }

    /// Every stored feed.
    pub async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.feed_states().await,
            Backend::Sqlite(db) => db,
        };
        db.read(sqlite::feed_states).await
    }

    /// Stores the outcome of a fetch: status, error, failure count and schedule. Validators are
    /// not touched here; they go with the items (see [`Store::record_items`]).
    pub async fn record_fetch(&self, outcome: FetchOutcome) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.record_fetch(outcome).await,
            Backend::Sqlite(db) => db,
        };
        // A poll outcome is cheap to lose (the feed is polled again): no fsync of its own.
        db.write_lazy(move |conn| {
            sqlite::record_fetch(conn, &outcome)?;
            sqlite::record_schedule(conn, &outcome)
        })
        .await
    }

    /// A feed's stored schedule (next poll, Retry-After deadline, adaptive interval, document
    /// hint), read once when its poller starts; None for a feed never polled.
    pub async fn feed_schedule(&self, name: &str) -> Result<Option<FeedSchedule>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.feed_schedule(name).await,
            Backend::Sqlite(db) => db,
        };
        let name = name.to_string();
        db.read(move |conn| sqlite::feed_schedule(conn, &name)).await
    }

    /// Every stored feed's schedule, by name (for `feeds list`).
    pub async fn feed_schedules(&self) -> Result<Vec<(String, FeedSchedule)>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.feed_schedules().await,
            Backend::Sqlite(db) => db,
        };
        db.read(sqlite::feed_schedules).await
    }

    /// Stores validators for a response that carried no new item (so nothing else to wait for).
    pub async fn commit_feed(&self, commit: FeedCommit, now: i64) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.commit_feed(commit, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::apply_commit(conn, &commit, now)).await
    }

    /// For each (key, link), whether it has never been seen (by key, or by link).
    pub async fn unseen(&self, items: Vec<(String, Option<String>)>) -> Result<Vec<bool>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.unseen(items).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite::unseen(conn, &items)).await
    }

    /// For each fingerprint, whether `feed` already had an item with it (None: never).
    pub async fn fingerprints_seen(
        &self,
        feed: String,
        fingerprints: Vec<Option<String>>,
    ) -> Result<Vec<bool>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.fingerprints_seen(feed, fingerprints).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite::fingerprints_seen(conn, &feed, &fingerprints)).await
    }

    /// Records items in ONE transaction: each is marked seen (unless its key or link already
    /// is), with its verdicts and outbox alerts; validators of completed responses are stored.
    pub async fn record_items(
        &self,
        records: Vec<ItemRecord>,
        now: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.record_items(records, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::record_items(conn, &records, now)).await
    }

    /// Every undelivered alert of a sink, oldest first, claimed or not.
    pub async fn pending(&self, sink: &str) -> Result<Vec<Pending>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.pending(sink).await,
            Backend::Sqlite(db) => db,
        };
        let sink = sink.to_string();
        db.read(move |conn| sqlite::pending(conn, &sink)).await
    }

    /// Claims up to `limit` undelivered, unclaimed alerts of a sink for delivery, oldest first.
    /// A claim lapses after [`CLAIM_LEASE_SECS`]; [`Store::release`] gives rows back at once.
    pub async fn claim(&self, sink: &str, limit: usize, now: i64) -> Result<Vec<Pending>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.claim(sink, limit, now).await,
            Backend::Sqlite(db) => db,
        };
        let sink = sink.to_string();
        db.write(move |conn| sqlite::claim(conn, &sink, limit, now)).await
    }

    /// Gives claimed rows back (their delivery failed; they are retried).
    pub async fn release(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.release(seqs).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::release(conn, &seqs)).await
    }

    /// Frees every claim of a sink: for the start of a run, when no delivery task of this
    /// process is running for it (a reload ended the previous one mid-delivery). Returns how many.
    pub async fn release_all(&self, sink: &str) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.release_all(sink).await,
            Backend::Sqlite(db) => db,
        };
        let sink = sink.to_string();
        db.write(move |conn| sqlite::release_all(conn, &sink)).await
    }

    /// Marks outbox rows delivered, in one transaction.
    pub async fn mark_delivered(&self, seqs: Vec<i64>, now: i64) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.mark_delivered(seqs, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::mark_delivered(conn, &seqs, now)).await
    }

    /// Moves the undelivered alerts of sink `from` to sink `to` (a sink given a name of its own
    /// keeps what it had pending under its derived name). Returns how many moved.
    pub async fn adopt_pending(&self, from: &str, to: &str) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.adopt_pending(from, to).await,
            Backend::Sqlite(db) => db,
        };
        let (from, to) = (from.to_string(), to.to_string());
        db.write(move |conn| sqlite::adopt_pending(conn, &from, &to)).await
    }

    /// Deletes outbox rows delivered before `before` (unix seconds): once an alert is in every
    /// sink's log, its row is only history. (Seen items are kept for `seen_retention` after the
    /// last feed carrying them dropped them; see [`retention`].) Returns the number of rows deleted.
    pub async fn prune_delivered(&self, before: i64) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.prune_delivered(before).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::prune_delivered(conn, before)).await
    }

    /// Undelivered alerts per sink name (sinks with none are absent): for `/metrics`.
    pub async fn pending_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.pending_counts().await,
            Backend::Sqlite(db) => db,
        };
        db.read(sqlite::pending_counts).await
    }

    /// Proves the writer can still commit: an empty call through the writer thread, which opens
    /// a write transaction (`BEGIN IMMEDIATE`) and commits it. Errs when the database cannot be
    /// written; waits while the writer is busy or stuck (callers bound it with a timeout).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.check_writable().await,
            Backend::Sqlite(db) => db,
        };
        db.write(|_| Ok(())).await
    }

    /// Queues update alerts with their story changes in ONE transaction (the recorder's timer).
    pub async fn record_story_updates(
        &self,
        alerts: Vec<OutboxAlert>,
        ops: Vec<StoryOp>,
        now: i64,
    ) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.record_story_updates(alerts, ops, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite_stories::record_updates(conn, &alerts, &ops, now)).await
    }

    /// For each item (key, link, feed, content fingerprint), whether recording it now would mark
    /// it seen: neither its key nor its link is seen and its feed never had its fingerprint. The
    /// recorder, the only writer of `seen`, asks before it clusters a batch.
    pub async fn would_record(
        &self,
        items: Vec<(String, Option<String>, String, Option<String>)>,
    ) -> Result<Vec<bool>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.would_record(items).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite::would_record(conn, &items)).await
    }

    /// Takes the story lock: while it is held, no other instance files items in stories or
    /// queues story updates, so the recorder can read what the others filed, cluster its batch
    /// against it and record it, with slots numbered after everyone's. On PostgreSQL it is a
    /// session advisory lock on a connection of its own (the key is per schema), taken in the
    /// same round trip as the reads of what other instances filed since `known` (None: only
    /// the marks, for a book about to be rebuilt), at most `limit` items published at or after
    /// `since`. On SQLite (one instance per state directory) it is nothing: no I/O, no sync.
    /// Release it with [`StoryLock::release`] once the batch is committed or has failed.
    pub async fn lock_stories(
        &self,
        known: Option<StoryMarks>,
        since: i64,
        limit: usize,
    ) -> Result<(StoryLock, Option<StorySync>), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok((StoryLock { held: None }, None)),
            Backend::Postgres(pg) => {
                let (held, sync) = pg.lock_stories(known, since, limit).await?;
                Ok((StoryLock { held: Some(held) }, Some(sync)))
            }
        }
    }

    /// What start-up needs to rebuild the story clusterer: the newest `limit` items published at
    /// or after `since`, their stories, alert states and pending newcomers.
    pub async fn story_window(&self, since: i64, limit: usize) -> Result<StoryWindow, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.story_window(since, limit).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite_stories::load_window(conn, since, limit)).await
    }

    /// For each lookup key, the slots below `below_slot` filed under it, newest first, at most
    /// `per_key`: the story window's older items that share a key with a new item.
    pub async fn story_candidates(
        &self,
        keys: Vec<u64>,
        below_slot: i64,
        per_key: usize,
    ) -> Result<Vec<(u64, Vec<i64>)>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.story_candidates(keys, below_slot, per_key).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite_stories::candidates(conn, &keys, below_slot, per_key)).await
    }

    /// The stored fingerprints of these slots, for those published at or after `since`.
    pub async fn story_prints(&self, slots: Vec<i64>, since: i64) -> Result<Vec<StoredPrint>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.story_prints(slots, since).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite_stories::prints(conn, &slots, since)).await
    }

    /// Forgets the text of items published before `text_before` and the stories whose last item
    /// was published before `drop_before` (unless an update is pending). Returns stories deleted.
    pub async fn prune_stories(&self, text_before: i64, drop_before: i64) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.prune_stories(text_before, drop_before).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite_stories::prune(conn, text_before, drop_before)).await
    }

    /// Stories with an item recorded since `since`, newest first, with their items.
    pub async fn stories_since(
        &self,
        since: i64,
        topic: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoryView>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.stories_since(since, topic, limit).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite_stories::stories_since(conn, since, topic.as_deref(), limit)).await
    }

    /// Records that a full (200) listing of `feed` at `now` named these item keys: the items
    /// already seen are still carried, so retention keeps them (see [`retention`]).
    pub async fn mark_carried(&self, feed: String, keys: Vec<String>, now: i64) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.mark_carried(feed, keys, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write_lazy(move |conn| sqlite::mark_carried(conn, &feed, &keys, now)).await
    }

    /// One small step of the retention sweep: among the next `scan` seen rows after rowid
    /// `after`, deletes those first seen and last carried before `cutoff` that no feed carries.
    /// Returns (deleted, where to continue; None when the sweep is done).
    pub async fn prune_seen(
        &self,
        after: i64,
        scan: usize,
        cutoff: i64,
    ) -> Result<(usize, Option<i64>), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.prune_seen(after, scan, cutoff).await,
            Backend::Sqlite(db) => db,
        };
        db.write_lazy(move |conn| sqlite::prune_seen(conn, after, scan, cutoff)).await
    }

    /// Deletes one feed's fingerprints older than `cutoff` whose item was pruned.
    pub async fn prune_fingerprints(&self, feed: String, cutoff: i64) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.prune_fingerprints(feed, cutoff).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::prune_fingerprints(conn, &feed, cutoff)).await
    }

    /// Feeds that have fingerprints stored.
    pub async fn fingerprint_feeds(&self) -> Result<Vec<String>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.fingerprint_feeds().await,
            Backend::Sqlite(db) => db,
        };
        db.read(sqlite::fingerprint_feeds).await
    }

    /// Number of outbox rows (delivered or not) and of seen items: for tests and `feeds list`.
    pub async fn counts(&self) -> Result<(i64, i64), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.counts().await,
            Backend::Sqlite(db) => db,
        };
        db.read(sqlite::counts).await
    }
}

/// The story lock of [`Store::lock_stories`]. Dropping it without [`StoryLock::release`] (a
/// panic, a cancelled task) closes its connection, which releases the lock on the server: a
/// lock is never left behind in the pool.
pub struct StoryLock {
    /// None on SQLite.
    held: Option<pg::StoryLockConn>,
}

impl StoryLock {
    /// Releases the lock. Returns the marks the book has reached (None on SQLite): they are
    /// read with the lock still held, so every story change up to them is the book's own or
    /// one it has read.
    pub async fn release(mut self) -> Result<Option<StoryMarks>, StoreError> {
        match self.held.take() {
            None => Ok(None),
            Some(held) => held.release().await.map(Some),
        }
    }
}

impl Inner {
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&sqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: sqlite::ReadJob = Box::new(move |conn| {
            let _ = reply.send(query(conn));
        });
        self.readers.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// A durable write: its reply waits for a commit synced to disk (`synchronous=FULL`).
    async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&sqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(sqlite::Durability::Synced, change).await
    }

    /// A write whose loss in a power cut costs nothing but repeated work (a poll outcome, a
    /// retention step): committed like any other, atomically, but a transaction of only such
    /// writes is not synced on its own; the next durable commit syncs it along (WAL order).
    async fn write_lazy<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&sqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_with(sqlite::Durability::Lazy, change).await
    }

    async fn write_with<T, F>(&self, durability: sqlite::Durability, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&sqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        let (reply, answer) = oneshot::channel();
        let job: sqlite::WriteJob = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => change(conn),
                Err(detail) => Err(StoreError::Commit { detail: detail.to_string() }),
            };
            let applied = result.is_ok();
            let finish: sqlite::Finish = Box::new(move |committed| {
                let _ = reply.send(match committed {
                    Ok(()) => result,
                    // The change was fine but its transaction did not commit.
                    Err(detail) if applied => Err(StoreError::Commit { detail: detail.to_string() }),
                    Err(_) => result,
                });
            });
            (applied, finish)
        });
        writer.send((durability, job)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn spawn_thread(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map_err(|source| StoreError::Query(Box::new(source)))
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_compact;
#[cfg(test)]
mod tests_scale;
#[cfg(test)]
mod tests_story_lock;
