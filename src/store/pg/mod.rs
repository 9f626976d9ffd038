//! The PostgreSQL backend: one database shared by any number of instances. A pool of
//! connections (deadpool-postgres over tokio-postgres) instead of SQLite's writer thread: the
//! server orders concurrent transactions, and the unique keys (an item key, a link, an alert per
//! sink) decide what is new with `INSERT … ON CONFLICT DO NOTHING`, whichever instance saw an
//! item first. Outbox rows are claimed with `FOR UPDATE SKIP LOCKED`, so each is delivered by one
//! instance; feeds are leased ([`leases`]). Migrations are numbered, applied at start-up in ONE
//! transaction under an advisory lock (several instances may start at once), and a database
//! written by a newer schema is refused untouched. Only this module knows tokio-postgres.

use super::stories::*;
use super::{
    CLAIM_LEASE_SECS, Digest, FeedCommit, FeedSchedule, FeedState, FetchOutcome, ItemRecord, OutboxAlert,
    Pending, Recorded, StoreError, StoryOp,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::path::PathBuf;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

pub(super) mod leases;
mod story_lock;

pub(super) use story_lock::StoryLockConn;

/// The numbered migrations; `newswatch_schema` records each one applied. Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_story_prints.sql")),
    (3, include_str!("migrations/0003_shared_stories.sql")),
];

/// The schema version this build writes (the last migration).
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// How often a transaction that lost a deadlock or a serialization conflict to another
/// instance is tried again before the error is returned.
const RETRIES: usize = 5;

/// Same as the SQLite backend's: a carried item's `last_carried_at` is rewritten at most daily.
const CARRIED_REFRESH_SECS: i64 = 86_400;

/// A handle on the shared database: a connection pool and who this instance is.
#[derive(Clone)]
pub(super) struct PgStore {
    pool: Pool,
    /// The URL without its password, for messages.
    pub(super) name: String,
    /// This process's instance id (host, pid and a random part): owner of leases and claims.
    pub(super) instance: String,
    pub(super) read_only: bool,
}

/// Whether an item's key or link is in `seen`: two lookups on unique indexes. Not one `key = $1
/// OR link = $2`: a cached statement keeps the generic plan it chose while the table was
/// empty, a sequential scan, which read `seen` whole for every item once it had grown (the
/// scale_out bench saw 130 M rows read for 15,000 items).
const SEEN_KEY_OR_LINK: &str = "SELECT EXISTS (SELECT 1 FROM seen WHERE key = $1)
        OR EXISTS (SELECT 1 FROM seen WHERE link = $2::text)";

fn query_error(err: tokio_postgres::Error) -> StoreError {
    StoreError::Query(Box::new(err))
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> StoreError {
        query_error(err)
    }
}

/// A transaction that lost to another instance's (deadlock, serialization) and may be retried.
fn retryable(err: &tokio_postgres::Error) -> bool {
    matches!(err.code(), Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Runs `$body` (an expression using `$tx`, returning `Result<T, tokio_postgres::Error>`) in a
/// transaction on a pooled connection and commits it; a deadlock or serialization failure
/// against another instance retries the whole transaction, up to [`RETRIES`] times.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            let mut client = $store.client().await?;
            let $tx = client.transaction().await?;
            let result = async { $body }.await;
            let finished = match result {
                Ok(value) => $tx.commit().await.map(|()| value),
                Err(err) => Err(err),
            };
            match finished {
                Err(err) if retryable(&err) && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %err, "transaction lost to another instance; retrying");
                }
                other => break other.map_err(StoreError::from),
            }
        }
    }};
}

impl PgStore {
    /// Connects (one connection first, so a wrong URL or a refused login is a start-up error)
    /// and applies pending migrations under the advisory lock. With a lease timeout, registers
    /// this process among the instances (a daemon); without, it is a reader (the CLI).
    pub(super) async fn connect(
        url: &str,
        pool_size: usize,
        lease_timeout: Option<std::time::Duration>,
    ) -> Result<PgStore, StoreError> {
        let read_only = lease_timeout.is_none();
        let name = crate::config::redact_url(url);
        let open_error =
            |source: BackendError| StoreError::Open { path: PathBuf::from(name.clone()), source };
        let mut pg_config: tokio_postgres::Config = url.parse().map_err(|err| open_error(Box::new(err)))?;
        if pg_config.get_application_name().is_none() {
            // So `pg_stat_activity` (and an operator) can tell newswatch's sessions apart.
            pg_config.application_name("newswatch");
        }
        let manager = Manager::from_config(
            pg_config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .build()
            .map_err(|err| open_error(Box::new(err)))?;
        let store = PgStore { pool, name: name.clone(), instance: instance_id(), read_only };
        let mut client = store.pool.get().await.map_err(|err| open_error(Box::new(err)))?;
        migrate(&mut client, &name, read_only).await?;
        drop(client);
        if let Some(lease_timeout) = lease_timeout {
            store.register(lease_timeout).await?;
        }
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|err| StoreError::Query(Box::new(err)))
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only { Err(StoreError::ReadOnly) } else { Ok(()) }
    }

    pub(super) async fn feed_state(&self, name: &str) -> Result<Option<FeedState>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt(&*format!("{FEED_SELECT} WHERE name = $1"), &[&name]).await?;
        Ok(row.as_ref().map(feed_from_row))
    }

    pub(super) async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(&*format!("{FEED_SELECT} ORDER BY name"), &[]).await?;
        Ok(rows.iter().map(feed_from_row).collect())
    }

    pub(super) async fn record_fetch(&self, outcome: FetchOutcome) -> Result<(), StoreError> {
        self.writable()?;
        let answered_at = matches!(outcome.status.as_str(), "200" | "304").then_some(outcome.at);
        let failures = i64::from(outcome.consecutive_failures);
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO feeds (name, url, last_fetch_at, last_status, last_error, consecutive_failures,
                                    next_poll_at, retry_after_until, answered_at, poll_interval_ms, feed_hint_secs)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (name) DO UPDATE SET
                    url = excluded.url, last_fetch_at = excluded.last_fetch_at,
                    last_status = excluded.last_status, last_error = excluded.last_error,
                    consecutive_failures = excluded.consecutive_failures,
                    next_poll_at = excluded.next_poll_at, retry_after_until = excluded.retry_after_until,
                    answered_at = COALESCE(excluded.answered_at, feeds.answered_at),
                    poll_interval_ms = CASE WHEN $12 THEN excluded.poll_interval_ms ELSE feeds.poll_interval_ms END,
                    feed_hint_secs = CASE WHEN $12 THEN excluded.feed_hint_secs ELSE feeds.feed_hint_secs END",
                &[
                    &outcome.feed,
                    &outcome.url,
                    &outcome.at,
                    &outcome.status,
                    &outcome.error,
                    &failures,
                    &outcome.next_poll_at,
                    &outcome.retry_after_until,
                    &answered_at,
                    &outcome.poll_interval_ms,
                    &outcome.feed_hint_secs,
                    // As in SQLite: an outcome without either leaves the schedule columns alone.
                    &(outcome.poll_interval_ms.is_some() || outcome.feed_hint_secs.is_some()),
                ],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn feed_schedule(&self, name: &str) -> Result<Option<FeedSchedule>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT next_poll_at, retry_after_until, poll_interval_ms, feed_hint_secs FROM feeds WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(row.map(|row| schedule_from_row(&row, 0)))
    }

    pub(super) async fn feed_schedules(&self) -> Result<Vec<(String, FeedSchedule)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, next_poll_at, retry_after_until, poll_interval_ms, feed_hint_secs FROM feeds",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), schedule_from_row(row, 1))).collect())
    }

    pub(super) async fn commit_feed(&self, commit: FeedCommit, now: i64) -> Result<(), StoreError> {
        self.writable()?;
        let client = self.client().await?;
        apply_commit(&**client, &commit, now).await?;
        Ok(())
    }

    pub(super) async fn unseen(&self, items: Vec<(String, Option<String>)>) -> Result<Vec<bool>, StoreError> {
        let client = self.client().await?;
        let mut out = Vec::with_capacity(items.len());
        let statement = client.prepare_cached(SEEN_KEY_OR_LINK).await?;
        for (key, link) in &items {
            let seen: bool = client.query_one(&statement, &[key, link]).await?.get(0);
            out.push(!seen);
        }
        Ok(out)
    }

    pub(super) async fn fingerprints_seen(
        &self,
        feed: String,
        fingerprints: Vec<Option<String>>,
    ) -> Result<Vec<bool>, StoreError> {
        let client = self.client().await?;
        let mut out = Vec::with_capacity(fingerprints.len());
        for fingerprint in &fingerprints {
            out.push(fingerprint_seen(&**client, &feed, fingerprint.as_deref()).await?);
        }
        Ok(out)
    }

    pub(super) async fn record_items(
        &self,
        records: Vec<ItemRecord>,
        now: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| record_items(&tx, &records, now).await)
    }

    pub(super) async fn pending(&self, sink: &str) -> Result<Vec<Pending>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, alert_id, body FROM outbox WHERE sink = $1 AND delivered_at IS NULL ORDER BY seq",
                &[&sink],
            )
            .await?;
        Ok(rows.iter().map(pending_from_row).collect())
    }

    /// Claims rows no live claim holds: unclaimed, claimed longer ago than the claim lease, or
    /// claimed by an instance whose heartbeat stopped (a crashed instance's rows are delivered
    /// by the others within its lease timeout, not after the ten-minute claim lease). `SKIP LOCKED`: two instances claiming at
    /// once take different rows instead of waiting for each other.
    pub(super) async fn claim(&self, sink: &str, limit: usize, now: i64) -> Result<Vec<Pending>, StoreError> {
        self.writable()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let instance = self.instance.clone();
        let mut claimed: Vec<Pending> = in_transaction!(self, |tx| {
            let rows = tx
                .query(
                    "UPDATE outbox SET claimed_at = $3, claimed_by = $5
                      WHERE seq IN (SELECT seq FROM outbox
                                     WHERE sink = $1 AND delivered_at IS NULL
                                       AND (claimed_at IS NULL OR claimed_at < $4
                                            OR claimed_by NOT IN (SELECT id FROM instances
                                                WHERE heartbeat_at_ms + lease_timeout_ms
                                                      >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint))
                                     ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
                     RETURNING seq, alert_id, body",
                    &[&sink, &limit, &now, &(now - CLAIM_LEASE_SECS), &instance],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(rows.iter().map(pending_from_row).collect())
        })?;
        claimed.sort_by_key(|row| row.seq);
        Ok(claimed)
    }

    pub(super) async fn release(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        self.writable()?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL WHERE seq = ANY($1) AND delivered_at IS NULL",
                &[&seqs],
            )
            .await?;
        Ok(())
    }

    /// Frees this instance's claims only: other instances' delivery tasks are still running.
    pub(super) async fn release_all(&self, sink: &str) -> Result<usize, StoreError> {
        self.writable()?;
        let client = self.client().await?;
        let freed = client
            .execute(
                "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL
                  WHERE sink = $1 AND claimed_at IS NOT NULL AND delivered_at IS NULL AND claimed_by = $2",
                &[&sink, &self.instance],
            )
            .await?;
        Ok(freed as usize)
    }

    pub(super) async fn mark_delivered(&self, seqs: Vec<i64>, now: i64) -> Result<(), StoreError> {
        self.writable()?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE outbox SET delivered_at = $2, claimed_at = NULL, claimed_by = NULL WHERE seq = ANY($1)",
                &[&seqs, &now],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn adopt_pending(&self, from: &str, to: &str) -> Result<usize, StoreError> {
        self.writable()?;
        // As SQLite's UPDATE OR IGNORE: an alert already queued under the new name stays.
        let client = self.client().await?;
        let moved = client
            .execute(
                "UPDATE outbox AS o SET sink = $2
                  WHERE o.sink = $1 AND o.delivered_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.alert_id = o.alert_id AND x.sink = $2)",
                &[&from, &to],
            )
            .await?;
        Ok(moved as usize)
    }

    pub(super) async fn prune_delivered(&self, before: i64) -> Result<usize, StoreError> {
        self.writable()?;
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1", &[&before])
            .await?;
        Ok(deleted as usize)
    }

    pub(super) async fn pending_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT sink, COUNT(*) FROM outbox WHERE delivered_at IS NULL GROUP BY sink ORDER BY sink",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    pub(super) async fn check_writable(&self) -> Result<(), StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| tx.execute("SELECT 1", &[]).await.map(|_| ()))
    }

    pub(super) async fn record_story_updates(
        &self,
        alerts: Vec<OutboxAlert>,
        ops: Vec<StoryOp>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| {
            for alert in &alerts {
                insert_alert(&tx, alert, now).await?;
            }
            apply_story_ops(&tx, &ops, now).await
        })
    }

    pub(super) async fn would_record(
        &self,
        items: Vec<(String, Option<String>, String, Option<String>)>,
    ) -> Result<Vec<bool>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(SEEN_KEY_OR_LINK).await?;
        let mut out = Vec::with_capacity(items.len());
        for (key, link, feed, fingerprint) in &items {
            let seen: bool = client.query_one(&statement, &[key, link]).await?.get(0);
            let seen = seen || fingerprint_seen(&**client, feed, fingerprint.as_deref()).await?;
            out.push(!seen);
        }
        Ok(out)
    }

    pub(super) async fn story_window(&self, since: i64, limit: usize) -> Result<StoryWindow, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let total: i64 = client
            .query_one("SELECT COUNT(*) FROM story_items WHERE published >= $1", &[&since])
            .await?
            .get(0);
        let window_item = |row: &tokio_postgres::Row| WindowItem {
            item_key: row.get(0),
            story: row.get(1),
            published: row.get(2),
            outlet: row.get(3),
            title: row.get(4),
            url: row.get(5),
            text: row.get(6),
            slot: row.get(7),
            story_slot: row.get(8),
            print: row.get(9),
        };
        // The newest items with a stored fingerprint, then (room permitting) items recorded
        // before fingerprints were stored, which keep their text.
        let mut items: Vec<WindowItem> = client
            .query(
                "SELECT i.item_key, i.story, p.published, i.outlet, i.title, i.url, '', p.slot, p.story_slot, p.print
                   FROM story_prints p JOIN story_items i ON i.item_key = p.item_key
                  WHERE p.published >= $1 ORDER BY p.slot DESC LIMIT $2",
                &[&since, &limit],
            )
            .await?
            .iter()
            .map(window_item)
            .collect();
        let room = limit - items.len() as i64;
        if room > 0 {
            let legacy = client
                .query(
                    "SELECT item_key, story, published, outlet, title, url, text,
                            NULL::BIGINT, NULL::BIGINT, NULL::BYTEA
                       FROM story_items WHERE text <> '' AND published >= $1 ORDER BY published DESC LIMIT $2",
                    &[&since, &room],
                )
                .await?;
            items.extend(legacy.iter().map(window_item));
        }
        items.sort_by_key(|item| (item.published, item.slot));
        let next_slot: i64 =
            client.query_one("SELECT COALESCE(MAX(slot), -1) + 1 FROM story_prints", &[]).await?.get(0);
        let restored: std::collections::HashSet<i64> = items.iter().filter_map(|item| item.slot).collect();
        let mut wanted: Vec<i64> =
            items.iter().filter_map(|item| item.story_slot).filter(|slot| !restored.contains(slot)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut heads = Vec::new();
        for slot in wanted {
            if let Some(row) =
                client.query_opt("SELECT print FROM story_prints WHERE slot = $1", &[&slot]).await?
            {
                heads.push((slot, row.get(0)));
            }
        }
        let pending: Vec<PendingNewcomer> = client
            .query(
                "SELECT story, topic, item_key, recorded_at, body FROM story_pending ORDER BY recorded_at, item_key",
                &[],
            )
            .await?
            .iter()
            .map(|row| PendingNewcomer {
                story: row.get(0),
                topic: row.get(1),
                item_key: row.get(2),
                recorded_at: row.get(3),
                body: row.get(4),
            })
            .collect();
        let mut wanted: Vec<&str> = items.iter().map(|item| item.story.as_str()).collect();
        wanted.extend(pending.iter().map(|newcomer| newcomer.story.as_str()));
        wanted.sort_unstable();
        wanted.dedup();
        let mut stories = Vec::with_capacity(wanted.len());
        let mut alerts = Vec::new();
        for id in wanted {
            if let Some((summary, states)) = story_state(&client, id).await? {
                stories.push(summary);
                alerts.extend(states);
            }
        }
        Ok(StoryWindow {
            items_left_out: (total - items.len() as i64).max(0),
            items,
            next_slot,
            heads,
            stories,
            alerts,
            pending,
        })
    }

    pub(super) async fn story_candidates(
        &self,
        keys: Vec<u64>,
        below_slot: i64,
        per_key: usize,
    ) -> Result<Vec<(u64, Vec<i64>)>, StoreError> {
        let client = self.client().await?;
        let per_key = i64::try_from(per_key).unwrap_or(i64::MAX);
        let lookup = client
            .prepare_cached(
                "SELECT slot FROM story_keys WHERE key = $1 AND slot < $2 ORDER BY slot DESC LIMIT $3",
            )
            .await?;
        let mut out = Vec::new();
        for key in keys {
            // BIGINT is signed: the key's bits are stored as they are.
            let stored = key as i64;
            let slots: Vec<i64> = client
                .query(&lookup, &[&stored, &below_slot, &per_key])
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if !slots.is_empty() {
                out.push((key, slots));
            }
        }
        Ok(out)
    }

    pub(super) async fn story_prints(
        &self,
        slots: Vec<i64>,
        since: i64,
    ) -> Result<Vec<StoredPrint>, StoreError> {
        let client = self.client().await?;
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            let Some(row) = client
                .query_opt(
                    "SELECT p.slot, p.story_slot, p.published, p.item_key, i.story, p.print
                       FROM story_prints p JOIN story_items i ON i.item_key = p.item_key
                      WHERE p.slot = $1 AND p.published >= $2",
                    &[&slot, &since],
                )
                .await?
            else {
                continue;
            };
            let mut found = StoredPrint {
                slot: row.get(0),
                story_slot: row.get(1),
                published: row.get(2),
                item_key: row.get(3),
                story: row.get(4),
                print: row.get(5),
                head: None,
                state: None,
            };
            if found.story_slot != found.slot {
                found.head = client
                    .query_opt("SELECT print FROM story_prints WHERE slot = $1", &[&found.story_slot])
                    .await?
                    .map(|row| row.get(0));
            }
            found.state = story_state(&client, &found.story).await?;
            out.push(found);
        }
        Ok(out)
    }

    pub(super) async fn prune_stories(
        &self,
        text_before: i64,
        drop_before: i64,
    ) -> Result<usize, StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| {
            tx.execute(
                "UPDATE story_items SET text = '' WHERE published < $1 AND text <> ''",
                &[&text_before],
            )
            .await?;
            // Fingerprints and keys of items that left the window.
            tx.execute(
                "DELETE FROM story_keys WHERE slot IN (SELECT slot FROM story_prints WHERE published < $1)",
                &[&text_before],
            )
            .await?;
            // The next slot outlives the fingerprints: slots never go back (`story_marks`).
            tx.execute(
                "UPDATE story_marks SET next_slot = GREATEST(next_slot, (SELECT MAX(slot) + 1 FROM story_prints))
                  WHERE id = 1",
                &[],
            )
            .await?;
            tx.execute("DELETE FROM story_prints WHERE published < $1", &[&text_before]).await?;
            let old = "SELECT id FROM stories WHERE last_item_at < $1 AND id NOT IN (SELECT story FROM story_pending)";
            for table in ["story_items", "story_outlets", "story_alerts"] {
                tx.execute(&*format!("DELETE FROM {table} WHERE story IN ({old})"), &[&drop_before]).await?;
            }
            let deleted =
                tx.execute(&*format!("DELETE FROM stories WHERE id IN ({old})"), &[&drop_before]).await?;
            Ok::<_, tokio_postgres::Error>(deleted as usize)
        })
    }

    pub(super) async fn stories_since(
        &self,
        since: i64,
        topic: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoryView>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut views: Vec<StoryView> = client
            .query(
                "SELECT s.id, s.title, s.started_at, s.last_item_at, s.items, s.outlets FROM stories s
                  WHERE s.id IN (SELECT story FROM story_items WHERE recorded_at >= $1)
                    AND ($2::text IS NULL OR s.id IN (SELECT story FROM story_alerts WHERE topic = $2::text))
                  ORDER BY s.last_item_at DESC, s.id LIMIT $3",
                &[&since, &topic, &limit],
            )
            .await?
            .iter()
            .map(|row| StoryView {
                id: row.get(0),
                title: row.get(1),
                started_at: row.get(2),
                last_item_at: row.get(3),
                items: row.get(4),
                outlets: row.get(5),
                alerts: Vec::new(),
                members: Vec::new(),
            })
            .collect();
        for view in &mut views {
            view.members = client
                .query(
                    "SELECT item_key, published, recorded_at, why, similarity, matched, feed, outlet, title, url, topics
                       FROM story_items WHERE story = $1 ORDER BY published, id",
                    &[&view.id],
                )
                .await?
                .iter()
                .map(|row| StoryMember {
                    key: row.get(0),
                    published: row.get(1),
                    recorded_at: row.get(2),
                    why: row.get(3),
                    similarity: row.get(4),
                    matched: row.get(5),
                    feed: row.get(6),
                    outlet: row.get(7),
                    title: row.get(8),
                    url: row.get(9),
                    topics: row.get::<_, String>(10).split_whitespace().map(str::to_string).collect(),
                })
                .collect();
            view.alerts = client
                .query(
                    "SELECT topic, sequence FROM story_alerts WHERE story = $1 ORDER BY topic",
                    &[&view.id],
                )
                .await?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
        }
        Ok(views)
    }

    pub(super) async fn mark_carried(
        &self,
        feed: String,
        keys: Vec<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| {
            let feed_id: i64 = tx
                .query_one(
                    "INSERT INTO feeds (name, url, listed_at) VALUES ($1, '', $2)
                     ON CONFLICT (name) DO UPDATE SET listed_at = excluded.listed_at RETURNING id",
                    &[&feed, &now],
                )
                .await?
                .get(0);
            // One statement for the whole listing; rows are locked in key order, so two
            // instances marking overlapping listings cannot deadlock each other.
            tx.execute(
                "UPDATE seen SET last_carried_at = $2, carried_by = $3
                  WHERE key IN (SELECT k FROM unnest($1::text[]) AS k ORDER BY k)
                    AND (COALESCE(last_carried_at, first_seen_at) < $2 - $4::bigint
                         OR COALESCE(carried_by, (SELECT f.id FROM feeds f WHERE f.name = seen.feed))
                            IS DISTINCT FROM $3)",
                &[&keys, &now, &feed_id, &CARRIED_REFRESH_SECS],
            )
            .await?;
            Ok::<_, tokio_postgres::Error>(())
        })
    }

    pub(super) async fn prune_seen(
        &self,
        after: i64,
        scan: usize,
        cutoff: i64,
    ) -> Result<(usize, Option<i64>), StoreError> {
        self.writable()?;
        let scan = i64::try_from(scan).unwrap_or(i64::MAX);
        in_transaction!(self, |tx| {
            let row = tx
                .query_one(
                    "SELECT MAX(id), COALESCE(bool_or(first_seen_at >= $3), false)
                       FROM (SELECT id, first_seen_at FROM seen WHERE id > $1 ORDER BY id LIMIT $2) AS batch",
                    &[&after, &scan, &cutoff],
                )
                .await?;
            let (last_id, young): (Option<i64>, bool) = (row.get(0), row.get(1));
            let Some(last_id) = last_id else { return Ok((0, None)) };
            let deleted = tx
                .execute(
                    "DELETE FROM seen WHERE id IN (
                        SELECT seen.id FROM seen
                          LEFT JOIN feeds AS carrier
                            ON carrier.id = COALESCE(seen.carried_by, (SELECT f.id FROM feeds f WHERE f.name = seen.feed))
                         WHERE seen.id > $1 AND seen.id <= $2
                           AND seen.first_seen_at < $3
                           AND COALESCE(seen.last_carried_at, seen.first_seen_at) < $3
                           AND NOT (carrier.id IS NOT NULL
                                    AND COALESCE(carrier.answered_at, carrier.last_fetch_at, 0) >= $3
                                    AND COALESCE(seen.last_carried_at, seen.first_seen_at)
                                        >= COALESCE(carrier.listed_at, 0) - $4::bigint))",
                    &[&after, &last_id, &cutoff, &CARRIED_REFRESH_SECS],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>((deleted as usize, (!young).then_some(last_id)))
        })
    }

    pub(super) async fn prune_fingerprints(&self, feed: String, cutoff: i64) -> Result<usize, StoreError> {
        self.writable()?;
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM seen_fingerprints
                  WHERE feed = $1 AND first_seen_at < $2
                    AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.key = seen_fingerprints.key)",
                &[&feed, &cutoff],
            )
            .await?;
        Ok(deleted as usize)
    }

    pub(super) async fn fingerprint_feeds(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("SELECT DISTINCT feed FROM seen_fingerprints", &[]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    pub(super) async fn counts(&self) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM seen)", &[])
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    pub(super) async fn unsent_digests(&self, sink: &str) -> Result<Vec<Digest>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, alert_id, body, digest_id FROM outbox
                  WHERE sink = $1 AND delivered_at IS NULL AND digest_id IS NOT NULL
                  ORDER BY digest_id, seq",
                &[&sink],
            )
            .await?;
        let mut digests: Vec<Digest> = Vec::new();
        for row in &rows {
            let id: i64 = row.get(3);
            let pending = pending_from_row(row);
            match digests.last_mut() {
                Some(digest) if digest.id == id => digest.rows.push(pending),
                _ => digests.push(Digest { id, rows: vec![pending] }),
            }
        }
        Ok(digests)
    }

    pub(super) async fn open_digest(
        &self,
        sink: &str,
        before: i64,
        limit: usize,
        now: i64,
    ) -> Result<Option<Digest>, StoreError> {
        self.writable()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        in_transaction!(self, |tx| {
            // Locked and skipped: two instances making digests of one sink at once take
            // different rows.
            let rows: Vec<Pending> = tx
                .query(
                    "SELECT seq, alert_id, body FROM outbox
                      WHERE sink = $1 AND delivered_at IS NULL AND digest_id IS NULL AND created_at < $2
                      ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED",
                    &[&sink, &before, &limit],
                )
                .await?
                .iter()
                .map(pending_from_row)
                .collect();
            if rows.is_empty() {
                return Ok(None);
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO digests (sink, created_at) VALUES ($1, $2) RETURNING id",
                    &[&sink, &now],
                )
                .await?
                .get(0);
            let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
            tx.execute("UPDATE outbox SET digest_id = $2 WHERE seq = ANY($1)", &[&seqs, &id]).await?;
            Ok::<_, tokio_postgres::Error>(Some(Digest { id, rows }))
        })
    }

    pub(super) async fn digest_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.writable()?;
        in_transaction!(self, |tx| {
            tx.execute("UPDATE digests SET sent_at = $2 WHERE id = $1", &[&id, &now]).await?;
            tx.execute(
                "UPDATE outbox SET delivered_at = $2, claimed_at = NULL, claimed_by = NULL
                  WHERE digest_id = $1 AND delivered_at IS NULL",
                &[&id, &now],
            )
            .await?;
            Ok::<_, tokio_postgres::Error>(())
        })
    }

    pub(super) async fn digest_sent_at(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT sent_at FROM digests WHERE id = $1", &[&id]).await?;
        Ok(row.and_then(|row| row.get(0)))
    }

    pub(super) async fn prune_digests(&self, before: i64) -> Result<usize, StoreError> {
        self.writable()?;
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM digests WHERE sent_at IS NOT NULL AND sent_at < $1
                    AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.digest_id = digests.id)",
                &[&before],
            )
            .await?;
        Ok(deleted as usize)
    }
}

type BackendError = super::BackendError;

/// A name for this process among the instances: host, pid and a random part (a restarted
/// process with a reused pid is still a new instance).
fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

/// Applies every migration newer than the database in ONE transaction that first takes an
/// advisory lock for this schema: instances starting together wait for the first, then find
/// nothing left to do. A newer schema is refused and nothing is written.
async fn migrate(
    client: &mut deadpool_postgres::Object,
    name: &str,
    read_only: bool,
) -> Result<(), StoreError> {
    let path = || PathBuf::from(name);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('newswatch-migrate:' || current_schema()))", &[])
        .await?;
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                             WHERE table_schema = current_schema() AND table_name = 'newswatch_schema')",
            &[],
        )
        .await?
        .get(0);
    let found: i64 = if exists {
        tx.query_one("SELECT COALESCE(MAX(version), 0) FROM newswatch_schema", &[]).await?.get(0)
    } else {
        0
    };
    if found > PG_SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { path: path(), found, supported: PG_SCHEMA_VERSION });
    }
    if found == PG_SCHEMA_VERSION {
        return Ok(());
    }
    if read_only {
        return Err(StoreError::Open {
            path: path(),
            source: format!("schema version {found}, older than {PG_SCHEMA_VERSION}; start `newswatch run` once to migrate it").into(),
        });
    }
    if !exists {
        tx.batch_execute(
            "CREATE TABLE newswatch_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
    }
    let now = chrono::Utc::now().timestamp();
    for &(version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > found) {
        let applied = async {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO newswatch_schema (version, applied_at) VALUES ($1, $2)",
                &[&version, &now],
            )
            .await
        }
        .await;
        applied.map_err(|source| StoreError::Migrate { path: path(), version, source: Box::new(source) })?;
        tracing::info!(database = %name, version, "state database migrated");
    }
    tx.commit().await?;
    Ok(())
}

const FEED_SELECT: &str = "SELECT name, url, etag, last_modified, first_polled_at, last_fetch_at,
    last_status, last_error, consecutive_failures, next_poll_at, retry_after_until, items_seen FROM feeds";

fn feed_from_row(row: &Row) -> FeedState {
    FeedState {
        name: row.get(0),
        url: row.get(1),
        etag: row.get(2),
        last_modified: row.get(3),
        first_polled_at: row.get(4),
        last_fetch_at: row.get(5),
        last_status: row.get(6),
        last_error: row.get(7),
        consecutive_failures: u32::try_from(row.get::<_, i64>(8)).unwrap_or(u32::MAX),
        next_poll_at: row.get(9),
        retry_after_until: row.get(10),
        items_seen: row.get(11),
    }
}

fn schedule_from_row(row: &Row, first: usize) -> FeedSchedule {
    FeedSchedule {
        next_poll_at: row.get(first),
        retry_after_until: row.get(first + 1),
        poll_interval_ms: row.get(first + 2),
        feed_hint_secs: row.get(first + 3),
    }
}

fn pending_from_row(row: &Row) -> Pending {
    Pending { seq: row.get(0), alert_id: row.get(1), body: row.get(2) }
}

async fn apply_commit(
    client: &impl tokio_postgres::GenericClient,
    commit: &FeedCommit,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO feeds (name, url, etag, last_modified, first_polled_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, etag = excluded.etag,
                last_modified = excluded.last_modified,
                first_polled_at = COALESCE(feeds.first_polled_at, excluded.first_polled_at)",
            &[&commit.feed, &commit.url, &commit.etag, &commit.last_modified, &now],
        )
        .await?;
    Ok(())
}

async fn fingerprint_seen(
    client: &impl tokio_postgres::GenericClient,
    feed: &str,
    fingerprint: Option<&str>,
) -> Result<bool, tokio_postgres::Error> {
    match fingerprint {
        Some(fingerprint) => Ok(client
            .query_opt(
                "SELECT 1 FROM seen_fingerprints WHERE feed = $1 AND fingerprint = $2",
                &[&feed, &fingerprint],
            )
            .await?
            .is_some()),
        None => Ok(false),
    }
}

async fn insert_alert(
    tx: &tokio_postgres::Transaction<'_>,
    alert: &OutboxAlert,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO outbox (alert_id, sink, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[&alert.alert_id, &alert.sink, &alert.body, &now],
    )
    .await?;
    Ok(())
}

/// The recorder's batch, inside one transaction. The unique key and link decide what is new;
/// a concurrent transaction of another instance inserting the same key makes this insert wait
/// for its outcome, then do nothing. The fingerprint is inserted after the item and, should
/// another instance have taken it meanwhile, the item is withdrawn (a duplicate), so two
/// instances never both record one feed's repeat under two keys.
async fn record_items(
    tx: &tokio_postgres::Transaction<'_>,
    records: &[ItemRecord],
    now: i64,
) -> Result<Vec<Recorded>, tokio_postgres::Error> {
    let insert_seen = tx
        .prepare(
            "INSERT INTO seen (key, link, feed, first_seen_at, verdicts) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING RETURNING 1",
        )
        .await?;
    let mut outcomes = Vec::with_capacity(records.len());
    for record in records {
        let mut inserted = !fingerprint_seen(tx, &record.feed, record.fingerprint.as_deref()).await?
            && tx
                .query_opt(&insert_seen, &[&record.key, &record.link, &record.feed, &now, &record.verdicts])
                .await?
                .is_some();
        if inserted && let Some(fingerprint) = &record.fingerprint {
            let taken = tx
                .query_opt(
                    "INSERT INTO seen_fingerprints (feed, fingerprint, key, first_seen_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING RETURNING 1",
                    &[&record.feed, fingerprint, &record.key, &now],
                )
                .await?
                .is_some();
            if !taken {
                tx.execute("DELETE FROM seen WHERE key = $1", &[&record.key]).await?;
                inserted = false;
            }
        }
        if inserted {
            tx.execute(
                "INSERT INTO feeds (name, url, items_seen) VALUES ($1, '', 1)
                 ON CONFLICT (name) DO UPDATE SET items_seen = feeds.items_seen + 1",
                &[&record.feed],
            )
            .await?;
            for alert in &record.alerts {
                insert_alert(tx, alert, now).await?;
            }
            apply_story_ops(tx, &record.story_ops, now).await?;
            outcomes.push(Recorded::New);
        } else {
            outcomes.push(Recorded::Duplicate);
        }
    }
    for record in records {
        if let Some(commit) = &record.commit {
            apply_commit(tx, commit, now).await?;
        }
    }
    Ok(outcomes)
}

/// Story changes in order, as `sqlite_stories::apply` does them. Each also stamps its story
/// with the next `story_change`, so the other instances read the story back
/// (`Store::lock_stories`).
async fn apply_story_ops(
    tx: &tokio_postgres::Transaction<'_>,
    ops: &[StoryOp],
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    for op in ops {
        match op {
            StoryOp::Item(row) => file_story_item(tx, row, now).await?,
            StoryOp::AlertState { story, topic, first_alert_id, last_alert_at, sequence } => {
                tx.execute(
                    "WITH changed AS (UPDATE stories SET change_seq = nextval('story_change') WHERE id = $1)
                     INSERT INTO story_alerts (story, topic, first_alert_id, last_alert_at, sequence)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (story, topic) DO UPDATE SET
                        last_alert_at = excluded.last_alert_at, sequence = excluded.sequence",
                    &[story, topic, first_alert_id, last_alert_at, sequence],
                )
                .await?;
            }
            StoryOp::Pending { story, topic, item_key, body } => {
                tx.execute(
                    "WITH changed AS (UPDATE stories SET change_seq = nextval('story_change') WHERE id = $1)
                     INSERT INTO story_pending (story, topic, item_key, recorded_at, body)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[story, topic, item_key, &now, body],
                )
                .await?;
            }
            StoryOp::ClearPending { story, topic } => {
                tx.execute(
                    "WITH changed AS (UPDATE stories SET change_seq = nextval('story_change') WHERE id = $1)
                     DELETE FROM story_pending WHERE story = $1 AND topic = $2",
                    &[story, topic],
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn file_story_item(
    tx: &tokio_postgres::Transaction<'_>,
    row: &StoryItemRow,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    let inserted = tx
        .execute(
            "INSERT INTO story_items (item_key, story, published, recorded_at, why, similarity, matched,
                                      feed, outlet, title, url, topics, text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            &[
                &row.item_key,
                &row.story,
                &row.published,
                &now,
                &row.why,
                &row.similarity,
                &row.matched,
                &row.feed,
                &row.outlet,
                &row.title,
                &row.url,
                &row.topics.join(" "),
                &row.text,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(());
    }
    if !row.print.is_empty() {
        let filed = tx
            .execute(
                "INSERT INTO story_prints (slot, item_key, story_slot, published, print) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[&row.slot, &row.item_key, &row.story_slot, &row.published, &row.print],
            )
            .await?;
        if filed > 0 {
            let keys: Vec<i64> = row.keys.iter().map(|key| *key as i64).collect();
            tx.execute(
                "INSERT INTO story_keys (key, slot) SELECT key, $2 FROM UNNEST($1::BIGINT[]) AS key",
                &[&keys, &row.slot],
            )
            .await?;
        }
    }
    let new_outlet = tx
        .execute(
            "INSERT INTO story_outlets (story, outlet) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&row.story, &row.outlet],
        )
        .await? as i64;
    tx.execute(
        "INSERT INTO stories (id, first_item, title, started_at, last_item_at, items, outlets, change_seq)
         VALUES ($1, $2, $3, $4, $4, 1, $5, nextval('story_change'))
         ON CONFLICT (id) DO UPDATE SET items = stories.items + 1, outlets = stories.outlets + $5,
            change_seq = excluded.change_seq,
            last_item_at = GREATEST(stories.last_item_at, excluded.last_item_at),
            started_at = LEAST(stories.started_at, excluded.started_at)",
        &[&row.story, &row.item_key, &row.title, &row.published, &new_outlet],
    )
    .await?;
    Ok(())
}

/// A story's counts and outlets and its alert state per topic (None: no such story).
async fn story_state(
    client: &tokio_postgres::Client,
    id: &str,
) -> Result<Option<(StorySummary, Vec<StoryAlertState>)>, tokio_postgres::Error> {
    let Some(row) =
        client.query_opt("SELECT id, title, items, last_item_at FROM stories WHERE id = $1", &[&id]).await?
    else {
        return Ok(None);
    };
    let mut summary = StorySummary {
        id: row.get(0),
        title: row.get(1),
        items: row.get(2),
        outlets: Vec::new(),
        last_item_at: row.get(3),
    };
    summary.outlets = client
        .query("SELECT outlet FROM story_outlets WHERE story = $1 ORDER BY outlet", &[&id])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let states = client
        .query(
            "SELECT story, topic, first_alert_id, last_alert_at, sequence FROM story_alerts WHERE story = $1 ORDER BY topic",
            &[&id],
        )
        .await?
        .iter()
        .map(story_alert_state)
        .collect();
    Ok(Some((summary, states)))
}

/// A `story_alerts` row read as `story, topic, first_alert_id, last_alert_at, sequence`.
pub(super) fn story_alert_state(row: &Row) -> StoryAlertState {
    StoryAlertState {
        story: row.get(0),
        topic: row.get(1),
        first_alert_id: row.get(2),
        last_alert_at: row.get(3),
        sequence: row.get(4),
    }
}
