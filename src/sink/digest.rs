//! The delivery task of a sink that sends digests (an e-mail sink with `digest = "1h"`): at the
//! end of every period it ties the alerts recorded during the periods that ended and not yet in
//! a digest to one new digest (one transaction, in the store), sends it as ONE message, then
//! marks the digest sent and its alerts delivered (another transaction).
//!
//! Periods are aligned to the Unix epoch in UTC (`"1h"`: on the hour; `"24h"`: at midnight UTC),
//! so a restart keeps the same boundaries without storing a schedule. A digest that could not
//! be sent (or that a crash cut short) keeps its alerts: it is sent again, with the same alerts
//! and so the same Message-ID, before any new digest is made, with backoff up to `max_backoff`,
//! across restarts. No alert is dropped; a digest holds at most [`DIGEST_MAX_ALERTS`] alerts, the
//! rest go into the next message at once.
//!
//! `run --once` (cron) sends one digest at the end of the run, holding everything pending
//! whatever its period: with cron, the cron schedule is the digest period.

use super::{FIRST_RETRY, Sink};
use crate::error::chain as error_chain;
use crate::model::RunMode;
use crate::store::{Digest, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info};

/// The most alerts one digest message lists; more make another message at once.
pub const DIGEST_MAX_ALERTS: usize = 500;
/// Sent digests are forgotten once their alerts are pruned from the outbox and this old.
const SENT_DIGEST_RETENTION_SECS: i64 = 60 * 24 * 60 * 60;

/// The start (unix seconds) of the period that holds `now_secs`.
pub fn period_start(now_secs: i64, period: Duration) -> i64 {
    let period_secs = i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1);
    now_secs - now_secs.rem_euclid(period_secs)
}

/// How long from `now_millis` (unix milliseconds) to the start of the next period.
fn until_next_period(now_millis: i64, period: Duration) -> Duration {
    let period_millis = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let next = (now_millis.div_euclid(period_millis) + 1).saturating_mul(period_millis);
    Duration::from_millis(u64::try_from(next - now_millis).unwrap_or(0))
}

/// The delivery task of a digest sink; see the module doc. Returns when the recorder is gone
/// (after the final digest in [`RunMode::Once`]).
pub async fn run(
    sink: Arc<dyn Sink>,
    store: Store,
    mut recorded: watch::Receiver<u64>,
    max_backoff: Duration,
    period: Duration,
    mode: RunMode,
) {
    let forget_before = Utc::now().timestamp() - SENT_DIGEST_RETENTION_SECS;
    if let Err(err) = store.prune_digests(forget_before).await {
        error!(sink = %sink.name(), error = %error_chain(&err), "cannot prune old digests");
    }
    let mut retry = FIRST_RETRY;
    // Once: only the final digest. Daemon: what a previous run left due goes out now.
    let mut due = mode == RunMode::Daemon;
    let mut retry_at: Option<Instant> = None;
    loop {
        if due {
            let before = period_start(Utc::now().timestamp(), period);
            if send_due(sink.as_ref(), &store, before).await {
                retry = FIRST_RETRY;
                retry_at = None;
            } else {
                retry_at = Some(Instant::now() + retry);
                retry = (retry * 2).min(max_backoff.max(FIRST_RETRY));
            }
        }
        let boundary = Instant::now() + until_next_period(Utc::now().timestamp_millis(), period);
        let wake = retry_at.map_or(boundary, |at| at.min(boundary));
        tokio::select! {
            changed = recorded.changed() => {
                if changed.is_err() {
                    if mode == RunMode::Once {
                        send_due(sink.as_ref(), &store, i64::MAX).await;
                    }
                    return;
                }
                // New alerts wait for the end of their period.
                due = false;
            }
            () = tokio::time::sleep_until(wake) => {
                due = retry_at.is_none_or(|at| at <= Instant::now());
            }
        }
    }
}

/// Sends every unsent digest, then makes and sends digests of the alerts recorded before
/// `before` until none is left. False when a send failed (its digest stays unsent).
async fn send_due(sink: &dyn Sink, store: &Store, before: i64) -> bool {
    let store_failed = |err: crate::store::StoreError| {
        error!(sink = %sink.name(), error = %error_chain(&err), "cannot track digests in the store; retrying");
        false
    };
    let unsent = match store.unsent_digests(sink.name()).await {
        Ok(unsent) => unsent,
        Err(err) => return store_failed(err),
    };
    for digest in unsent {
        if !send(sink, store, digest).await {
            return false;
        }
    }
    loop {
        let digest =
            match store.open_digest(sink.name(), before, DIGEST_MAX_ALERTS, Utc::now().timestamp()).await {
                Ok(Some(digest)) => digest,
                Ok(None) => return true,
                Err(err) => return store_failed(err),
            };
        if !send(sink, store, digest).await {
            return false;
        }
    }
}

/// Sends one digest as one message and marks it sent. False when it could not be sent.
async fn send(sink: &dyn Sink, store: &Store, digest: Digest) -> bool {
    match sink.deliver(&digest.rows).await {
        Ok(()) => {
            // Should this fail, the digest was sent but stays unsent in the store: it is sent
            // again (same alerts, same Message-ID) on the next attempt.
            if let Err(err) = store.digest_sent(digest.id, Utc::now().timestamp()).await {
                error!(sink = %sink.name(), error = %error_chain(&err), "cannot mark a digest sent");
                return false;
            }
            info!(sink = %sink.name(), digest = digest.id, alerts = digest.rows.len(), "digest sent");
            true
        }
        Err(err) => {
            error!(
                sink = %sink.name(),
                digest = digest.id,
                alerts = digest.rows.len(),
                error = %error_chain(&err),
                "cannot send a digest; it stays pending and is retried"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_aligned_to_the_epoch() {
        let hour = Duration::from_secs(3600);
        assert_eq!(period_start(7200 + 59, hour), 7200);
        assert_eq!(period_start(7200, hour), 7200);
        assert_eq!(until_next_period(7_200_000 + 1_000, hour), Duration::from_millis(3_599_000));
        assert_eq!(until_next_period(7_200_000, hour), hour, "at a boundary, the next one is a period away");
        let day = Duration::from_secs(86_400);
        assert_eq!(period_start(1_796_013_882, day), 1_795_996_800, "midnight UTC");
    }
}
