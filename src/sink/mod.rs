//! Alert sinks: where alerts go once recorded. The recorder only queues alerts in the outbox
//! and wakes the sinks; each sink has ONE delivery task of its own ([`run`]) that claims its
//! pending rows, delivers them, marks them delivered, and retries with backoff when delivery
//! fails, so a slow or broken sink never stalls recording (or the pollers behind it).
//!
//! Delivery is at-least-once from the outbox, made exactly-once per sink by the sink's own
//! [`Sink::reconcile`] on start-up (the JSON Lines sink finds alerts a crash left written but
//! unmarked). A sink is known by its user-given `name`; alerts queued under the name derived
//! from its path (what older versions used) are adopted at start-up.

pub mod digest;
pub mod email;
pub mod jsonl;
pub mod nats;
pub mod stdout;
pub mod webhook;

pub use email::EmailSink;
pub use jsonl::JsonlSink;
pub use nats::NatsSink;
pub use stdout::StdoutSink;
pub use webhook::WebhookSink;

use crate::config::{SinkConfig, SinkKind};
use crate::error::chain as error_chain;
use crate::model::RunMode;
use crate::store::{Pending, Store, StoreError};
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// A boxed future, so [`Sink`] can be used as `dyn Sink`.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A destination for alerts. Implementations deliver a batch in order, all or nothing as far as
/// they can (the JSON Lines sink cuts a failed write back), and can tell after a crash which
/// pending alerts already reached them.
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// The sink's name, under which the outbox tracks its deliveries.
    fn name(&self) -> &str;

    /// Start-up repair after a crash: the seqs of `pending` that already reached the sink. By
    /// default none: a receiver that keeps no record we can read (a webhook, a mail server, a
    /// pipe) gets pending alerts again, carrying the same id.
    fn reconcile<'a>(&'a self, _pending: &'a [Pending]) -> BoxFuture<'a, Result<Vec<i64>, DeliveryError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Delivers `batch` (oldest first).
    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// The most alerts one delivery takes. A sink that cannot deliver a batch all or nothing
    /// (a webhook: one request per alert) takes one at a time, so a failure re-sends nothing
    /// that was already acknowledged.
    fn batch_limit(&self) -> usize {
        DELIVERY_BATCH
    }

    /// Some(period) for a sink that sends one message per period listing its alerts: its
    /// delivery task is then [`digest::run`], and a batch given to [`Sink::deliver`] is one
    /// digest.
    fn digest_period(&self) -> Option<Duration> {
        None
    }
}

/// Why alerts could not be delivered (they stay pending).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot write alert log {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sink crashed: {0}")]
    Crashed(String),
    #[error("{0}")]
    Rejected(String),
}

/// The sink a configuration entry describes.
pub fn from_config(config: &SinkConfig) -> Arc<dyn Sink> {
    match &config.kind {
        SinkKind::Jsonl { path, rotation } => {
            Arc::new(JsonlSink { name: config.name.clone(), path: path.clone(), rotation: *rotation })
        }
        SinkKind::Webhook(webhook) => Arc::new(WebhookSink::new(config.name.clone(), webhook.clone())),
        SinkKind::Stdout => Arc::new(StdoutSink { name: config.name.clone() }),
        SinkKind::Email(email) => Arc::new(EmailSink::new(config.name.clone(), (**email).clone())),
        SinkKind::Nats(nats) => Arc::new(NatsSink::new(config.name.clone(), (**nats).clone())),
    }
}

/// How long delivered outbox rows are kept.
const DELIVERED_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;
/// The most alerts one delivery takes at once.
const DELIVERY_BATCH: usize = 256;
/// The first wait after a failed delivery; it doubles up to the daemon's `max_backoff`.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Start-up, before any delivery task runs: forgets outbox rows delivered long ago, moves
/// alerts pending under a sink's derived name to its given name, and reconciles every sink
/// with the outbox. Failures are logged; the alerts stay pending.
pub async fn prepare(store: &Store, configs: &[SinkConfig], sinks: &[Arc<dyn Sink>]) {
    let before = Utc::now().timestamp() - DELIVERED_RETENTION_SECS;
    match store.prune_delivered(before).await {
        Ok(0) => {}
        Ok(n) => debug!(rows = n, "pruned old delivered alerts from the outbox"),
        Err(err) => warn!(error = %error_chain(&err), "cannot prune the outbox"),
    }
    for config in configs {
        let derived = config.derived_name();
        if derived != config.name {
            match store.adopt_pending(&derived, &config.name).await {
                Ok(0) => {}
                Ok(n) => info!(sink = %config.name, from = %derived, alerts = n, "took over pending alerts"),
                Err(err) => {
                    warn!(sink = %config.name, error = %error_chain(&err), "cannot take over pending alerts")
                }
            }
        }
    }
    for sink in sinks {
        // No delivery task runs yet: a claim left by the previous round (a reload that stopped
        // it mid-delivery) is stale, and reconciliation below finds what it had written.
        if let Err(err) = store.release_all(sink.name()).await {
            warn!(sink = %sink.name(), error = %error_chain(&err), "cannot free stale claims");
        }
        if let Err(err) = reconcile(store, sink.as_ref()).await {
            warn!(sink = %sink.name(), error = %err, "cannot reconcile the sink with the outbox");
        }
    }
}

async fn reconcile(store: &Store, sink: &dyn Sink) -> Result<(), String> {
    let pending = store.pending(sink.name()).await.map_err(|err| error_chain(&err))?;
    if pending.is_empty() {
        return Ok(());
    }
    let already = sink.reconcile(&pending).await.map_err(|err| error_chain(&err))?;
    if !already.is_empty() {
        let n = already.len();
        store.mark_delivered(already, Utc::now().timestamp()).await.map_err(|err| error_chain(&err))?;
        info!(sink = %sink.name(), alerts = n, "found alerts already delivered; marked them so");
    }
    Ok(())
}

/// One sink's delivery task: delivers what is pending now, then whenever the recorder signals
/// new alerts on `recorded`, retrying failures with backoff. When the recorder is gone (the
/// pipeline drains), it makes a last delivery and returns; what still fails stays pending.
/// A digest sink runs [`digest::run`] instead.
pub async fn run(
    sink: Arc<dyn Sink>,
    store: Store,
    mut recorded: watch::Receiver<u64>,
    max_backoff: Duration,
    mode: RunMode,
) {
    if let Some(period) = sink.digest_period() {
        return digest::run(sink, store, recorded, max_backoff, period, mode).await;
    }
    let mut retry = FIRST_RETRY;
    loop {
        let delivered = deliver_pending(sink.as_ref(), &store).await;
        let recorder_done = if delivered {
            retry = FIRST_RETRY;
            recorded.changed().await.is_err()
        } else {
            let wait = retry;
            retry = (retry * 2).min(max_backoff.max(FIRST_RETRY));
            tokio::select! {
                changed = recorded.changed() => changed.is_err(),
                () = tokio::time::sleep(wait) => false,
            }
        };
        if recorder_done {
            deliver_pending(sink.as_ref(), &store).await;
            return;
        }
    }
}

/// Claims and delivers batches until none is left. False when a delivery failed: its alerts
/// stay pending (given back, or at worst claimed until the lease ends or the next start-up).
async fn deliver_pending(sink: &dyn Sink, store: &Store) -> bool {
    let store_failed = |err: StoreError| {
        error!(sink = %sink.name(), error = %error_chain(&err), "cannot track deliveries in the store; retrying");
        false
    };
    loop {
        let batch = match store.claim(sink.name(), sink.batch_limit(), Utc::now().timestamp()).await {
            Ok(batch) => batch,
            Err(err) => return store_failed(err),
        };
        if batch.is_empty() {
            return true;
        }
        let seqs: Vec<i64> = batch.iter().map(|row| row.seq).collect();
        match sink.deliver(&batch).await {
            Ok(()) => {
                // Should this fail, the alerts are delivered but still claimed: they are not
                // delivered again in this run, and the next start-up's reconciliation finds them.
                if let Err(err) = store.mark_delivered(seqs, Utc::now().timestamp()).await {
                    return store_failed(err);
                }
                metrics::counter!("newswatch_deliveries_total", "sink" => sink.name().to_string())
                    .increment(batch.len() as u64);
                debug!(sink = %sink.name(), alerts = batch.len(), "delivered");
            }
            Err(err) => {
                metrics::counter!("newswatch_delivery_failures_total", "sink" => sink.name().to_string())
                    .increment(batch.len() as u64);
                error!(sink = %sink.name(), error = %error_chain(&err), "cannot deliver alerts; they stay pending and are retried");
                if let Err(err) = store.release(seqs).await {
                    return store_failed(err);
                }
                return false;
            }
        }
    }
}
