//! Leases: with several instances on one PostgreSQL store, a feed is polled only by the
//! instance holding the lease of its host ([`lease_key`]). Leasing hosts rather than feeds
//! makes the per-host politeness a shared budget: one instance polls all of a host's feeds, so
//! its `per_host_rate` and `per_host_concurrency` are the host's whole allowance. The keeper
//! ([`run`]) renews this instance's heartbeat and leases every third of `lease_timeout`, gives
//! back what exceeds its fair share and takes free or expired leases (see `pg/leases.rs`); the
//! pollers ask [`Leases`] before each poll. A crashed instance stops renewing, so its feeds are
//! taken over within `lease_timeout` plus one round.
//!
//! On SQLite there is one instance by construction (the state directory's lock): every lease
//! is always held and no keeper runs.

use super::{Backend, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The lease a feed is polled under: its URL's host, lower case, as the fetcher's per-host
/// limits key it (a URL without a host leases on its whole text).
pub fn lease_key(url: &url::Url) -> String {
    url.host_str().map_or_else(|| url.as_str().to_string(), str::to_ascii_lowercase)
}

/// What one lease round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseRound {
    /// The lease keys (hosts) this instance holds after the round.
    pub held: Vec<String>,
    /// Instances alive (this one included).
    pub alive: usize,
    /// Leases given back because this instance held more than its share.
    pub released: usize,
    /// Leases newly taken.
    pub taken: usize,
}

/// One instance as `newswatch status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at_ms: i64,
    /// Since its last heartbeat.
    pub heartbeat_age_ms: i64,
    /// Its heartbeat is younger than its lease timeout.
    pub alive: bool,
    /// Hosts it holds leases on now.
    pub leases: i64,
    /// How overdue the most overdue feed of its hosts is (0: on schedule).
    pub lag_secs: i64,
    /// This process.
    pub this: bool,
}

/// Which hosts' feeds this instance may poll now, shared by the keeper and the pollers.
#[derive(Debug)]
pub struct Leases {
    state: Mutex<State>,
    changed: Notify,
    round: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Host -> when our lease on it lapses unless renewed (a little before the database's
    /// expiry, so a stalled keeper stops polling before another instance may start).
    held: HashMap<String, Instant>,
    /// Hosts with a feed being polled now (how many): never given back mid-poll.
    busy: HashMap<String, usize>,
}

impl Leases {
    /// Leases renewed every third of `lease_timeout`.
    pub fn new(lease_timeout: Duration) -> Leases {
        Leases { state: Mutex::new(State::default()), changed: Notify::new(), round: lease_timeout / 3 }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this instance holds the lease `key` now.
    pub fn holds(&self, key: &str) -> bool {
        self.lock().held.get(key).is_some_and(|until| *until > Instant::now())
    }

    /// Starts a poll under lease `key` if it is held (and marks it busy, so the keeper keeps
    /// it until the matching [`Leases::end_poll`]); false when it is another instance's turn.
    pub fn begin_poll(&self, key: &str) -> bool {
        let mut state = self.lock();
        let held = state.held.get(key).is_some_and(|until| *until > Instant::now());
        if held {
            *state.busy.entry(key.to_string()).or_insert(0) += 1;
        }
        held
    }

    /// A poll under `key` is over (its outcome and schedule stored).
    pub fn end_poll(&self, key: &str) {
        let mut state = self.lock();
        if let Some(count) = state.busy.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                state.busy.remove(key);
            }
        }
    }

    /// Waits for the next lease round (or at most one round's time).
    pub async fn changed(&self) {
        let _ = tokio::time::timeout(self.round, self.changed.notified()).await;
    }

    fn busy(&self) -> Vec<String> {
        self.lock().busy.keys().cloned().collect()
    }

    /// Replaces the held set after a round that started at `started`: the leases last a
    /// timeout from then, less one round as a margin.
    fn update(&self, held: &[String], started: Instant, lease_timeout: Duration) {
        let until = started + lease_timeout.saturating_sub(self.round);
        {
            let mut state = self.lock();
            state.held = held.iter().map(|key| (key.clone(), until)).collect();
        }
        self.changed.notify_waiters();
    }
}

impl Store {
    /// One lease round over `keys` (the hosts of every configured feed); on SQLite, every key,
    /// always.
    pub async fn lease_round(
        &self,
        keys: &[String],
        busy: &[String],
        lease_timeout: Duration,
    ) -> Result<LeaseRound, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.lease_round(keys, busy, lease_timeout).await,
            Backend::Sqlite(_) => Ok(LeaseRound { held: keys.to_vec(), alive: 1, released: 0, taken: 0 }),
        }
    }

    /// Gives every lease of this instance back (a clean stop).
    pub async fn release_leases(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.release_leases().await,
            Backend::Sqlite(_) => Ok(()),
        }
    }

    /// The instances sharing this store (empty on SQLite, which has one by construction).
    pub async fn instances(&self) -> Result<Vec<InstanceStatus>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.instances().await,
            Backend::Sqlite(_) => Ok(Vec::new()),
        }
    }

    /// Hosts leased now and their owners (empty on SQLite).
    pub async fn host_leases(&self) -> Result<Vec<(String, String)>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.leases().await,
            Backend::Sqlite(_) => Ok(Vec::new()),
        }
    }

    /// This process's instance id on a shared store.
    pub fn instance_id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Postgres(pg) => Some(&pg.instance),
            Backend::Sqlite(_) => None,
        }
    }
}

/// The first round, before any poller starts, so the pollers find their leases.
pub async fn first_round(store: &Store, leases: &Leases, keys: &[String], lease_timeout: Duration) {
    let started = Instant::now();
    match store.lease_round(keys, &[], lease_timeout).await {
        Ok(round) => {
            tracing::info!(held = round.held.len(), alive = round.alive, "host leases taken");
            leases.update(&round.held, started, lease_timeout);
        }
        Err(err) => tracing::warn!(error = %crate::error::chain(&err), "cannot take host leases; retrying"),
    }
}

/// The keeper: a lease round every third of `lease_timeout` until `shutdown`, then gives the
/// leases back. `tick` is called after every round (the sinks look for alerts other instances
/// recorded, or a dead one left).
pub async fn run(
    store: Store,
    leases: std::sync::Arc<Leases>,
    keys: Vec<String>,
    lease_timeout: Duration,
    shutdown: CancellationToken,
    tick: impl Fn() + Send,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(leases.round) => {}
        }
        let started = Instant::now();
        match store.lease_round(&keys, &leases.busy(), lease_timeout).await {
            Ok(round) => {
                if round.released > 0 || round.taken > 0 {
                    tracing::info!(
                        held = round.held.len(),
                        alive = round.alive,
                        taken = round.taken,
                        released = round.released,
                        "host leases changed hands"
                    );
                }
                leases.update(&round.held, started, lease_timeout);
            }
            // The leases lapse on their own (`holds` turns false) if this goes on.
            Err(err) => tracing::warn!(error = %crate::error::chain(&err), "cannot renew host leases"),
        }
        tick();
    }
    leases.update(&[], Instant::now(), lease_timeout);
    if let Err(err) = store.release_leases().await {
        tracing::warn!(error = %crate::error::chain(&err), "cannot give host leases back; they expire");
    }
}
