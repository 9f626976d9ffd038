//! Retention of seen items: forgets the items no feed has carried for `seen_retention`, in
//! small steps between the other writes, so the database stops growing with time while nothing
//! a feed still lists is ever forgotten (forgetting it would alert on it again).
//!
//! "Still carried" is known cheaply: every full (200) listing refreshes, at most once a day per
//! item, the listed items' `last_carried_at` and which feed carries them
//! ([`Store::mark_carried`]); a 304 says the feed still carries its last listing. An item is
//! pruned when it was first seen and last carried before the cutoff AND its carrying feed's last
//! listing no longer named it (or that feed has not answered since the cutoff). The sweep walks
//! the seen table in rowid order ([`SCAN_ROWS`] rows per write call) and stops at the first row
//! younger than the cutoff, so it reads only what is old enough to go. It never blocks the
//! recorder: each step is one call in the writer's queue like any other.

use super::{Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Seen rows looked at per write call: a step takes about a millisecond.
pub const SCAN_ROWS: usize = 2_000;
/// How often the daemon sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// The first sweep waits this long after start-up, which is busy enough with the first polls.
pub const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub seen: usize,
    pub fingerprints: usize,
}

/// One whole sweep at `now` (unix seconds): every seen item older than `retention` that no feed
/// carries, and the fingerprints of items pruned.
pub async fn sweep(
    store: &Store,
    retention: Duration,
    now: i64,
    scan_rows: usize,
) -> Result<Swept, StoreError> {
    let cutoff = now.saturating_sub(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
    let mut swept = Swept::default();
    let mut after = 0;
    loop {
        let (deleted, next) = store.prune_seen(after, scan_rows.max(1), cutoff).await?;
        swept.seen += deleted;
        match next {
            Some(last) => after = last,
            None => break,
        }
    }
    for feed in store.fingerprint_feeds().await? {
        swept.fingerprints += store.prune_fingerprints(feed, cutoff).await?;
    }
    Ok(swept)
}

/// The daemon's retention task: sweeps [`FIRST_SWEEP_AFTER`] after start-up, then every
/// [`SWEEP_EVERY`], until `shutdown`. With `once`, one sweep now and return (`run --once`).
pub async fn run(store: Store, retention: Duration, shutdown: CancellationToken, once: bool) {
    let mut wait = if once { Duration::ZERO } else { FIRST_SWEEP_AFTER };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match sweep(&store, retention, chrono::Utc::now().timestamp(), SCAN_ROWS).await {
            Ok(swept) if swept.seen > 0 || swept.fingerprints > 0 => {
                tracing::info!(
                    seen = swept.seen,
                    fingerprints = swept.fingerprints,
                    "forgot items no feed carries"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), "retention sweep failed; retrying later")
            }
        }
        if once {
            return;
        }
        wait = SWEEP_EVERY;
    }
}
