//! Wiring: the stages, the bounded channels between them, cancellation and drain.
//!
//! ```text
//! poll (task per feed) -Item-> scrape (N at once) -Article-> classify -Classified-> record
//! ```
//! Only the pollers watch the shutdown token. Each later stage ends when its input channel
//! closes, so a shutdown lets in-flight items finish; after the grace period whatever is left is
//! abandoned, and because nothing was marked seen for it, the next run picks it up again.

use crate::config::Config;
use crate::fetch::Fetcher;
use crate::poll::{self, PollContext, PollStats};
use crate::record::{self, RecordStats};
use crate::sink::{self, JsonlSink};
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Items waiting between poll and scrape. Small: a full channel makes the pollers wait.
pub const ITEM_QUEUE: usize = 64;
/// Articles waiting for the classifier, and classified items waiting for the recorder.
pub const STAGE_QUEUE: usize = 64;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub polls: u64,
    pub not_modified: u64,
    pub failures: u64,
    pub new_items: u64,
    pub recorded: u64,
    pub alerts: u64,
    /// Whether the grace period ran out and in-flight work was abandoned.
    pub abandoned: bool,
}

/// Runs the daemon (or one round with `once`) until `shutdown` is cancelled or, with `once`,
/// every feed has been polled and every item recorded.
pub async fn run(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    once: bool,
) -> RunSummary {
    run_with_clock(config, store, fetcher, shutdown, once, Arc::new(poll::SystemClock)).await
}

/// [`run`] with the scheduling clock injected (tests).
pub async fn run_with_clock(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    once: bool,
    clock: Arc<dyn poll::Clock>,
) -> RunSummary {
    let sinks: Vec<JsonlSink> = config.sinks.iter().map(JsonlSink::from_config).collect();
    sink::deliver_startup(&store, &sinks).await;

    let (item_tx, item_rx) = mpsc::channel(ITEM_QUEUE);
    let (article_tx, article_rx) = mpsc::channel(STAGE_QUEUE);
    let (classified_tx, classified_rx) = mpsc::channel(STAGE_QUEUE);
    let poll_stats = Arc::new(PollStats::default());
    let record_stats = Arc::new(RecordStats::default());

    let mut pollers = JoinSet::new();
    let context = PollContext {
        fetcher: fetcher.clone(),
        store: store.clone(),
        items: item_tx,
        shutdown: shutdown.clone(),
        once,
        max_backoff: config.daemon.max_backoff,
        max_items_per_poll: config.daemon.max_items_per_poll,
        stats: poll_stats.clone(),
        health: Arc::new(poll::NetworkHealth::default()),
        clock,
    };
    for feed in config.feeds.iter().cloned() {
        pollers.spawn(poll::run(feed, context.clone()));
    }
    drop(context); // the scrape stage ends once every poller has returned

    let mut stages = JoinSet::new();
    stages.spawn(crate::scrape::run(item_rx, fetcher, config.daemon.max_concurrent_fetches, article_tx));
    stages.spawn(crate::judge::run(article_rx, Arc::new(config.topics.clone()), classified_tx));
    stages.spawn(record::run(classified_rx, store, sinks, record_stats.clone(), once));

    // Pollers first: with --once they return on their own; otherwise on shutdown.
    while let Some(joined) = pollers.join_next().await {
        if let Err(err) = joined {
            warn!(error = %err, "a poller crashed; stopping");
            shutdown.cancel();
        }
    }
    let drained = async {
        while let Some(joined) = stages.join_next().await {
            if let Err(err) = joined {
                warn!(error = %err, "a stage crashed");
            }
        }
    };
    let mut abandoned = false;
    if shutdown.is_cancelled() {
        if tokio::time::timeout(config.daemon.shutdown_grace, drained).await.is_err() {
            warn!(
                grace_secs = config.daemon.shutdown_grace.as_secs(),
                "grace period over; abandoning in-flight items (they are picked up next run)"
            );
            stages.abort_all();
            abandoned = true;
        }
    } else {
        drained.await;
    }

    let summary = RunSummary {
        polls: poll_stats.polls.load(Relaxed),
        not_modified: poll_stats.not_modified.load(Relaxed),
        failures: poll_stats.failures.load(Relaxed),
        new_items: poll_stats.new_items.load(Relaxed),
        recorded: record_stats.recorded.load(Relaxed),
        alerts: record_stats.alerts.load(Relaxed),
        abandoned,
    };
    info!(
        polls = summary.polls,
        not_modified = summary.not_modified,
        failures = summary.failures,
        new_items = summary.new_items,
        alerts = summary.alerts,
        "stopped"
    );
    summary
}
