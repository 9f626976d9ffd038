//! Wiring and supervision: the stages, the bounded channels between them, cancellation, drain.
//!
//! ```text
//! poll (task per feed) -Item-> scrape (N at once) -Article-> classify -Classified-> record
//!                                                                         | wakes
//!                                                                         v
//!                                                          one delivery task per sink
//! ```
//! Every poller and stage runs in ONE tracked set (vector's topology). Only the pollers watch
//! the shutdown token; each later stage ends when its input channel closes, so a shutdown lets
//! in-flight items finish. The first task that fails (returns an error or panics) cancels the
//! token: the pollers stop, the rest drain, and [`run`] returns the failure, so the process exits
//! non-zero and a supervisor (systemd's `Restart=on-failure`) restarts it. After the grace period
//! whatever is left is abandoned; nothing was marked seen for it, so the next run picks it up.

use crate::config::Config;
use crate::fetch::Fetcher;
use crate::model::RunMode;
use crate::poll::{self, PollContext, PollStats};
use crate::record::{self, RecordStats};
use crate::serve;
use crate::sink::{self, Sink};
use crate::store::Store;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Items waiting between poll and scrape. Small: a full channel makes the pollers wait.
pub const ITEM_QUEUE: usize = 64;
/// Articles waiting for the classifier, and classified items waiting for the recorder.
pub const STAGE_QUEUE: usize = 64;

/// Feeds polled at once (see `PollContext::turns`): twice the fetch limit, so that a feed
/// whose server is slow does not hold back the others, and few enough that the items waiting
/// for the pipeline in a cold round are a few hundred, not every feed's.
pub fn poll_turns(max_concurrent_fetches: usize) -> usize {
    max_concurrent_fetches.max(1) * 2
}

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

impl RunSummary {
    /// Adds another round's counts (the daemon keeps process totals across reloads).
    pub fn add(&mut self, other: &RunSummary) {
        self.polls += other.polls;
        self.not_modified += other.not_modified;
        self.failures += other.failures;
        self.new_items += other.new_items;
        self.recorded += other.recorded;
        self.alerts += other.alerts;
        self.abandoned |= other.abandoned;
    }

    /// Polls that got an answer with a body (neither 304 nor a failure).
    pub fn changed(&self) -> u64 {
        self.polls.saturating_sub(self.not_modified).saturating_sub(self.failures)
    }

    /// Every poll failed: nothing at all could be fetched.
    pub fn nothing_fetched(&self) -> bool {
        self.polls > 0 && self.failures >= self.polls
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} polls: {} changed, {} not modified (304), {} failed; {} new items, {} alerts",
            self.polls,
            self.changed(),
            self.not_modified,
            self.failures,
            self.new_items,
            self.alerts
        )
    }
}

/// What a task of the pipeline may fail with.
pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// Why a run ended early: the first task that failed. The others were drained or abandoned.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{task} failed; the pipeline stopped")]
    Failed {
        task: String,
        #[source]
        source: TaskError,
    },
    #[error("{task} crashed ({message}); the pipeline stopped")]
    Panicked { task: String, message: String },
}

/// Runs the daemon (or one round) until `shutdown` is cancelled or, with [`RunMode::Once`],
/// every feed has been polled and every item recorded. An error when a task failed.
pub async fn run(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    mode: RunMode,
) -> Result<RunSummary, PipelineError> {
    run_with_clock(config, store, fetcher, shutdown, mode, Arc::new(poll::SystemClock)).await
}

/// [`run`] that also serves `/healthz` and `/metrics` on `endpoint` in the supervised set (the
/// daemon with `[daemon] listen`). The endpoint stops with the pipeline: `/healthz` says
/// "stopping" from the moment `shutdown` is cancelled until the recorder has drained.
pub async fn run_serving(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    mode: RunMode,
    endpoint: Option<serve::Endpoint>,
) -> Result<RunSummary, PipelineError> {
    run_full(config, store, fetcher, shutdown, mode, Arc::new(poll::SystemClock), endpoint).await
}

/// [`run`] with the scheduling clock injected (tests).
pub async fn run_with_clock(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    mode: RunMode,
    clock: Arc<dyn poll::Clock>,
) -> Result<RunSummary, PipelineError> {
    run_full(config, store, fetcher, shutdown, mode, clock, None).await
}

async fn run_full(
    config: &Config,
    store: Store,
    fetcher: Fetcher,
    shutdown: CancellationToken,
    mode: RunMode,
    clock: Arc<dyn poll::Clock>,
    endpoint: Option<serve::Endpoint>,
) -> Result<RunSummary, PipelineError> {
    let sinks: Vec<Arc<dyn Sink>> = config.sinks.iter().map(sink::from_config).collect();
    sink::prepare(&store, &config.sinks, &sinks).await;

    let (item_tx, item_rx) = mpsc::channel(ITEM_QUEUE);
    let (article_tx, article_rx) = mpsc::channel(STAGE_QUEUE);
    let (classified_tx, classified_rx) = mpsc::channel(STAGE_QUEUE);
    // Weak handles (they never keep a channel open) for the endpoint's queue-depth gauges.
    let queues = vec![
        serve::Queue::of("items", &item_tx),
        serve::Queue::of("articles", &article_tx),
        serve::Queue::of("classified", &classified_tx),
    ];
    let poll_stats = Arc::new(PollStats::default());
    let record_stats = Arc::new(RecordStats::default());

    let mut tasks = Supervisor::default();
    // Several instances on one store: each polls only the feeds of the hosts it leases. The
    // first round runs before any poller starts, so they find their leases.
    let mut lease_keys: Vec<String> =
        config.feeds.iter().map(|feed| crate::store::leases::lease_key(&feed.url)).collect();
    lease_keys.sort();
    lease_keys.dedup();
    let lease_timeout = config.store.lease_timeout();
    let leases = if store.is_shared() {
        let leases = Arc::new(crate::store::Leases::new(lease_timeout));
        crate::store::leases::first_round(&store, &leases, &lease_keys, lease_timeout).await;
        Some(leases)
    } else {
        None
    };
    let context = Arc::new(PollContext {
        fetcher: fetcher.clone(),
        store: store.clone(),
        items: item_tx,
        shutdown: shutdown.clone(),
        mode,
        max_backoff: config.daemon.max_backoff,
        max_items_per_poll: config.daemon.max_items_per_poll,
        stats: poll_stats.clone(),
        health: Arc::new(poll::NetworkHealth::default()),
        clock,
        turns: Arc::new(tokio::sync::Semaphore::new(poll_turns(config.daemon.max_concurrent_fetches))),
        leases: leases.clone(),
    });
    for feed in config.feeds.iter().cloned() {
        let name = format!("poller {}", feed.name);
        let context = context.clone();
        // Mapped, not wrapped in an async block that would hold the feed and context again.
        tasks.spawn(name, futures_util::FutureExt::map(poll::run(feed, context), |()| Ok(())));
    }
    drop(context); // the scrape stage ends once every poller has returned

    let concurrency = config.daemon.max_concurrent_fetches;
    tasks.spawn("scrape stage".into(), async move {
        crate::scrape::run(item_rx, fetcher, concurrency, article_tx).await;
        Ok(())
    });
    let topics = Arc::new(config.topics.clone());
    tasks.spawn("classify stage".into(), async move {
        crate::judge::run(article_rx, topics, classified_tx).await.map_err(TaskError::from)
    });
    // The recorder wakes one delivery task per sink; each delivers on its own, so a slow sink
    // delays only itself.
    let (recorded_tx, recorded_rx) = tokio::sync::watch::channel(0u64);
    for sink in sinks {
        let (store, recorded) = (store.clone(), recorded_rx.clone());
        let max_backoff = config.daemon.max_backoff;
        tasks.spawn(format!("sink {}", sink.name()), async move {
            sink::run(sink, store, recorded, max_backoff, mode).await;
            Ok(())
        });
    }
    if let Some(endpoint) = endpoint {
        let probes = serve::Probes {
            store: store.clone(),
            sinks: config.sinks.iter().map(|sink| sink.name.clone()).collect(),
            queues,
            stopping: shutdown.clone(),
        };
        // Served until the pipeline is stopping AND the recorder has drained (its watch closes).
        let (stopping, mut recorder) = (shutdown.clone(), recorded_rx.clone());
        let stop = async move {
            stopping.cancelled().await;
            while recorder.changed().await.is_ok() {}
        };
        tasks.spawn("http endpoint".into(), async move {
            serve::run(endpoint, probes, stop).await.map_err(TaskError::from)
        });
    }
    drop(recorded_rx);
    // The lease keeper also wakes the sinks every round: alerts another instance recorded, or
    // a dead one left claimed, are delivered without waiting for this recorder. Not with
    // `--once` (no shutdown comes to end it; the leases of the first round lapse on their own).
    if let Some(leases) = leases.filter(|_| mode == RunMode::Daemon) {
        let (store, shutdown, wake) = (store.clone(), shutdown.clone(), recorded_tx.clone());
        tasks.spawn("lease keeper".into(), async move {
            let tick = move || wake.send_modify(|batches| *batches = batches.wrapping_add(1));
            crate::store::leases::run(store, leases, lease_keys, lease_timeout, shutdown, tick).await;
            Ok(())
        });
    }
    // Forgetting old seen items is a few small writes an hour; `run --once` sweeps once.
    if let Some(retention) = config.daemon.seen_retention {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.spawn("retention".into(), async move {
            crate::store::retention::run(store, retention, shutdown, mode == RunMode::Once).await;
            Ok(())
        });
    }
    let sink_configs = config.sinks.clone();
    let story_config = config.stories.clone();
    let recorder_stats = record_stats.clone();
    tasks.spawn("recorder".into(), async move {
        record::run(classified_rx, store, sink_configs, recorded_tx, recorder_stats, mode, story_config)
            .await;
        Ok(())
    });

    let outcome = tasks.supervise(&shutdown, config.daemon.shutdown_grace).await;
    let summary = RunSummary {
        polls: poll_stats.polls.load(Relaxed),
        not_modified: poll_stats.not_modified.load(Relaxed),
        failures: poll_stats.failures.load(Relaxed),
        new_items: poll_stats.new_items.load(Relaxed),
        recorded: record_stats.recorded.load(Relaxed),
        alerts: record_stats.alerts.load(Relaxed),
        abandoned: outcome.abandoned,
    };
    info!(
        polls = summary.polls,
        not_modified = summary.not_modified,
        failures = summary.failures,
        new_items = summary.new_items,
        alerts = summary.alerts,
        "pipeline stopped"
    );
    match outcome.first_failure {
        Some(failure) => Err(failure),
        None => Ok(summary),
    }
}

/// How supervision ended.
struct Outcome {
    first_failure: Option<PipelineError>,
    abandoned: bool,
}

/// The tracked set: every task of the pipeline, by name.
#[derive(Default)]
struct Supervisor {
    tasks: JoinSet<Result<(), TaskError>>,
    names: HashMap<tokio::task::Id, String>,
}

impl Supervisor {
    fn spawn(&mut self, name: String, task: impl Future<Output = Result<(), TaskError>> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits for every task. The first failure cancels `shutdown`; from the moment it is
    /// cancelled (by a failure or a signal) the rest get `grace` to drain, then are aborted.
    async fn supervise(mut self, shutdown: &CancellationToken, grace: std::time::Duration) -> Outcome {
        let mut first_failure = None;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            if deadline.is_none() && shutdown.is_cancelled() {
                deadline = Some(tokio::time::Instant::now() + grace);
            }
            let joined = match deadline {
                None => tokio::select! {
                    joined = self.tasks.join_next_with_id() => joined,
                    () = shutdown.cancelled() => continue,
                },
                Some(deadline) => tokio::select! {
                    joined = self.tasks.join_next_with_id() => joined,
                    () = tokio::time::sleep_until(deadline) => {
                        warn!(
                            grace_secs = grace.as_secs_f32(),
                            left = self.tasks.len(),
                            "grace period over; abandoning in-flight items (they are picked up next run)"
                        );
                        self.tasks.abort_all();
                        while self.tasks.join_next().await.is_some() {}
                        return Outcome { first_failure, abandoned: true };
                    }
                },
            };
            let failure = match joined {
                None => return Outcome { first_failure, abandoned: false },
                Some(Ok((_, Ok(())))) => continue,
                Some(Ok((id, Err(source)))) => PipelineError::Failed { task: self.name(id), source },
                Some(Err(join_error)) if join_error.is_cancelled() => continue,
                Some(Err(join_error)) => {
                    let task = self.name(join_error.id());
                    let message = crate::error::panic_message(join_error.into_panic());
                    PipelineError::Panicked { task, message }
                }
            };
            error!(error = %crate::error::chain(&failure), "a pipeline task failed; stopping");
            shutdown.cancel();
            first_failure.get_or_insert(failure);
        }
    }

    fn name(&self, id: tokio::task::Id) -> String {
        self.names.get(&id).cloned().unwrap_or_else(|| "a task".to_string())
    }
}
