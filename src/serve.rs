//! The operator's HTTP endpoint (`[daemon] listen`): `/healthz` and `/metrics`, and the
//! process-wide metrics recorder behind `/metrics`.
//!
//! The stages count what they do with one `metrics::counter!` (or `histogram!`) line where it
//! happens (fetch, poll, scrape, record, sink); they know nothing of this module. Without an
//! installed recorder (no `listen`, `run --once`, most tests) those lines do nothing. This module
//! installs the Prometheus recorder once per process ([`install_recorder`]; a second call returns
//! the same handle), and [`run`] serves it: `/metrics` refreshes the gauges read at scrape time
//! (queue depths from the pipeline's channels, pending deliveries from the store) and renders
//! the text format with `metrics-exporter-prometheus`; `/healthz` answers from a write probe
//! through the store's writer thread, bounded by [`PROBE_TIMEOUT`].
//!
//! It never opens a listener of its own: the daemon binds the address once at start-up
//! ([`Endpoint::bind`], so a taken address stops it before anything runs) and each pipeline round
//! serves a clone of that socket in its supervised task set, so a reload keeps the port.

use crate::store::Store;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long `/healthz` waits for the store's writer to commit an empty transaction before it
/// calls the store stuck. The writer batches calls, so a healthy one answers in milliseconds;
/// SQLite's own busy timeout (5 s) is longer, so a database locked by another process shows up
/// here as a stuck writer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often histogram samples are folded into their buckets when nobody scrapes (the
/// exporter keeps raw samples until then; this bounds that memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The metric names (README, "Health and metrics", lists them with a sample scrape).
pub mod names {
    /// Counter: fetches by `target` (feed, page) and `outcome` (200, 304, or the error kind).
    pub const FETCHES: &str = "newswatch_fetches_total";
    /// Counter: response-body bytes read (after decompression), by `target`.
    pub const FETCHED_BYTES: &str = "newswatch_fetched_bytes_total";
    /// Histogram: seconds from the start of a fetch to its end (redirects and queueing for a
    /// connection slot included), by `target`.
    pub const FETCH_SECONDS: &str = "newswatch_fetch_duration_seconds";
    /// Counter: feed entries by `result`: `new` (recorded), `seen` (already known, dropped by
    /// the poller), `duplicate` (recorded meanwhile from another feed or an earlier response).
    pub const ITEMS: &str = "newswatch_items_total";
    /// Counter: items classified on the feed's own text instead of their page, by `reason`.
    pub const FALLBACKS: &str = "newswatch_extraction_fallbacks_total";
    /// Counter: alerts recorded, by `topic`.
    pub const ALERTS: &str = "newswatch_alerts_total";
    /// Histogram: seconds from an alerting item's published (or updated) date to its recording.
    pub const PUBLISH_TO_ALERT_SECONDS: &str = "newswatch_publish_to_alert_seconds";
    /// Gauge: undelivered alerts in the outbox, by `sink` (read from the store at scrape time).
    pub const DELIVERIES_PENDING: &str = "newswatch_deliveries_pending";
    /// Counter: alerts delivered, by `sink`.
    pub const DELIVERIES: &str = "newswatch_deliveries_total";
    /// Counter: alerts whose delivery attempt failed (they stay pending and are retried), by `sink`.
    pub const DELIVERY_FAILURES: &str = "newswatch_delivery_failures_total";
    /// Gauge: messages waiting in each of the pipeline's bounded channels, by `queue`.
    pub const QUEUE_DEPTH: &str = "newswatch_queue_depth";
    /// Gauge: the capacity of each of the pipeline's bounded channels, by `queue`.
    pub const QUEUE_CAPACITY: &str = "newswatch_queue_capacity";

    /// Every name above.
    pub const ALL: &[&str] = &[
        FETCHES,
        FETCHED_BYTES,
        FETCH_SECONDS,
        ITEMS,
        FALLBACKS,
        ALERTS,
        PUBLISH_TO_ALERT_SECONDS,
        DELIVERIES_PENDING,
        DELIVERIES,
        DELIVERY_FAILURES,
        QUEUE_DEPTH,
        QUEUE_CAPACITY,
    ];
}

/// Fetch latency buckets (seconds): loopback answers to slow servers near the request timeout.
const FETCH_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Publish-to-alert buckets (seconds): a minute to a few days (backfill reaches back a day).
const PUBLISH_BUCKETS: &[f64] =
    &[60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21_600.0, 43_200.0, 86_400.0, 259_200.0];

/// What can stop the endpoint from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP endpoint on {addr} failed")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Installs the Prometheus recorder for this process, once; later calls return the same
/// handle (library tests may start several daemons in one process). Until it is called, every
/// `metrics::` line in the stages does nothing.
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Only fails on an empty bucket list; ours are constants. Summaries would do then.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(names::FETCH_SECONDS.into()), FETCH_BUCKETS)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(names::PUBLISH_TO_ALERT_SECONDS.into()),
                        PUBLISH_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics shows none of ours");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(names::FETCHES, "Fetches by target (feed, page) and outcome (200, 304, error kind)");
    describe_counter!(names::FETCHED_BYTES, Unit::Bytes, "Response-body bytes read, by target");
    describe_histogram!(names::FETCH_SECONDS, Unit::Seconds, "Fetch latency, by target");
    describe_counter!(
        names::ITEMS,
        "Feed entries by result: new, seen (dropped by the poller), duplicate (recorded meanwhile)"
    );
    describe_counter!(
        names::FALLBACKS,
        "Items classified on the feed's text, by reason the page was not used"
    );
    describe_counter!(names::ALERTS, "Alerts recorded, by topic");
    describe_histogram!(
        names::PUBLISH_TO_ALERT_SECONDS,
        Unit::Seconds,
        "From an alerting item's published date to its alert"
    );
    describe_gauge!(names::DELIVERIES_PENDING, "Undelivered alerts in the outbox, by sink");
    describe_counter!(names::DELIVERIES, "Alerts delivered, by sink");
    describe_counter!(names::DELIVERY_FAILURES, "Alerts whose delivery attempt failed, by sink");
    describe_gauge!(names::QUEUE_DEPTH, "Messages waiting in a pipeline channel, by queue");
    describe_gauge!(names::QUEUE_CAPACITY, "Capacity of a pipeline channel, by queue");
}

/// The bound socket, held by the daemon for its whole life.
#[derive(Debug)]
pub struct Endpoint {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Endpoint {
    /// Binds `addr` (port 0: any free port) and installs the recorder. Called at start-up, so an
    /// address that is taken or not ours stops the daemon before it polls anything.
    pub fn bind(addr: SocketAddr) -> Result<Endpoint, ServeError> {
        let bind_error = |source| ServeError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        install_recorder();
        Ok(Endpoint { listener, addr })
    }

    /// The address actually bound (the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Another handle on the same socket, for one pipeline round: when the round ends its handle
    /// closes but the socket stays bound, and connections wait in its backlog for the next round.
    pub fn try_clone(&self) -> Result<Endpoint, ServeError> {
        let listener =
            self.listener.try_clone().map_err(|source| ServeError::Bind { addr: self.addr, source })?;
        Ok(Endpoint { listener, addr: self.addr })
    }
}

/// A pipeline channel whose depth `/metrics` reports. Holds only a weak sender: it never keeps
/// the channel open.
pub struct Queue {
    name: &'static str,
    /// (waiting, capacity); None once the channel is closed.
    depth: Box<dyn Fn() -> Option<(usize, usize)> + Send + Sync>,
}

impl Queue {
    /// Watches `sender`'s channel under `name`.
    pub fn of<T: Send + 'static>(name: &'static str, sender: &mpsc::Sender<T>) -> Queue {
        let weak = sender.downgrade();
        let depth = move || {
            let sender = weak.upgrade()?;
            Some((sender.max_capacity() - sender.capacity(), sender.max_capacity()))
        };
        Queue { name, depth: Box::new(depth) }
    }
}

/// What the endpoint reads from the running pipeline.
pub struct Probes {
    pub store: Store,
    /// The configured sinks' names (a sink with nothing pending still gets a 0).
    pub sinks: Vec<String>,
    pub queues: Vec<Queue>,
    /// The pipeline's token: once cancelled, `/healthz` answers 503 "stopping".
    pub stopping: CancellationToken,
}

type WriteProbe = Shared<BoxFuture<'static, Result<(), String>>>;

struct AppState {
    probes: Probes,
    handle: PrometheusHandle,
    /// The write probe in flight, shared by concurrent `/healthz` requests: a stuck writer gets
    /// one probe queued, not one per request.
    in_flight: Mutex<Option<WriteProbe>>,
}

/// Serves `/healthz` and `/metrics` on `endpoint` until `stop` completes, folding histogram
/// samples every few seconds meanwhile.
pub async fn run(
    endpoint: Endpoint,
    probes: Probes,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = endpoint.addr;
    let serve_error = |source| ServeError::Serve { addr, source };
    let listener = tokio::net::TcpListener::from_std(endpoint.listener).map_err(serve_error)?;
    let handle = install_recorder();
    let state = Arc::new(AppState { probes, handle: handle.clone(), in_flight: Mutex::new(None) });
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics_text))
        .with_state(state);
    let server = axum::serve(listener, app).with_graceful_shutdown(stop);
    let upkeep = async {
        loop {
            tokio::time::sleep(UPKEEP_EVERY).await;
            handle.run_upkeep();
        }
    };
    tokio::select! {
        served = server => served.map_err(serve_error),
        () = upkeep => Ok(()),
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], format!("{body}\n")).into_response()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let unhealthy = |reason: String| {
        json(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "unavailable", "reason": reason}))
    };
    if state.probes.stopping.is_cancelled() {
        return unhealthy("the pipeline is stopping (shutdown or reload)".into());
    }
    let probe = {
        let mut slot = state.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.as_ref() {
            Some(probe) if probe.peek().is_none() => probe.clone(),
            _ => {
                let store = state.probes.store.clone();
                let probe =
                    async move { store.check_writable().await.map_err(|err| crate::error::chain(&err)) }
                        .boxed()
                        .shared();
                *slot = Some(probe.clone());
                probe
            }
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => json(StatusCode::OK, serde_json::json!({"status": "ok", "store": "writable"})),
        Ok(Err(reason)) => unhealthy(format!("the store cannot be written: {reason}")),
        Err(_) => unhealthy(format!(
            "the store's writer did not commit within {}s (stuck, or the database is locked)",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    for queue in &state.probes.queues {
        // A closed channel (the pipeline is draining) has nothing waiting.
        let (waiting, capacity) = (queue.depth)().unwrap_or((0, 0));
        metrics::gauge!(names::QUEUE_DEPTH, "queue" => queue.name).set(waiting as f64);
        if capacity > 0 {
            metrics::gauge!(names::QUEUE_CAPACITY, "queue" => queue.name).set(capacity as f64);
        }
    }
    match tokio::time::timeout(PROBE_TIMEOUT, state.probes.store.pending_counts()).await {
        Ok(Ok(counts)) => {
            for sink in &state.probes.sinks {
                let pending = counts.iter().find(|(name, _)| name == sink).map_or(0, |(_, n)| *n);
                metrics::gauge!(names::DELIVERIES_PENDING, "sink" => sink.clone()).set(pending as f64);
            }
        }
        // The gauges keep their last values; `/healthz` is where a broken store shows.
        Ok(Err(err)) => {
            tracing::debug!(error = %crate::error::chain(&err), "cannot count pending deliveries")
        }
        Err(_) => tracing::debug!("counting pending deliveries timed out"),
    }
    let text = state.handle.render();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 GET over a plain socket: (status, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthz_says_stopping_after_cancel_and_the_next_round_serves_the_same_port() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let endpoint = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = endpoint.local_addr();
        let (items, _receiver) = mpsc::channel::<u8>(4);
        items.send(1).await.unwrap();
        let round = |stopping: &CancellationToken, drained: &CancellationToken| {
            let probes = Probes {
                store: store.clone(),
                sinks: vec!["unit-sink".into()],
                queues: vec![Queue::of("unit-queue", &items)],
                stopping: stopping.clone(),
            };
            let drained = drained.clone();
            tokio::spawn(run(endpoint.try_clone().unwrap(), probes, async move { drained.cancelled().await }))
        };

        let (stopping, drained) = (CancellationToken::new(), CancellationToken::new());
        let server = round(&stopping, &drained);
        let (status, body) = get(addr, "/healthz").await;
        assert_eq!((status, body.trim()), (200, r#"{"status":"ok","store":"writable"}"#));
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains(r#"newswatch_queue_depth{queue="unit-queue"} 1"#), "{body}");
        assert!(body.contains(r#"newswatch_queue_capacity{queue="unit-queue"} 4"#), "{body}");
        assert!(body.contains(r#"newswatch_deliveries_pending{sink="unit-sink"} 0"#), "{body}");

        // Stopping: still answering (the pipeline drains), but not healthy.
        stopping.cancel();
        let (status, body) = get(addr, "/healthz").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("stopping"), "{body}");
        drained.cancel();
        server.await.unwrap().unwrap();

        // A reload: the next round serves the socket the daemon kept.
        let (stopping, drained) = (CancellationToken::new(), CancellationToken::new());
        let server = round(&stopping, &drained);
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/nothing-here").await.0, 404);
        stopping.cancel();
        drained.cancel();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn the_recorder_is_installed_once_however_often_it_is_asked_for() {
        let first = install_recorder();
        let second = install_recorder();
        metrics::counter!("newswatch_unit_test_total").increment(2);
        assert!(first.render().contains("newswatch_unit_test_total 2"));
        assert!(second.render().contains("newswatch_unit_test_total 2"));
    }

    /// Every `metrics::…!("newswatch_…")` in the sources names a documented metric.
    #[test]
    fn every_metric_recorded_in_the_sources_is_in_names() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut found = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("\n#[cfg(test)]").next().unwrap();
                for macro_name in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
                    for (at, _) in code.match_indices(macro_name) {
                        let rest = &code[at + macro_name.len()..];
                        let name = &rest[..rest.find('"').unwrap()];
                        assert!(
                            names::ALL.contains(&name),
                            "{} records {name}, not in serve::names",
                            path.display()
                        );
                        found += 1;
                    }
                }
            }
        }
        assert!(found >= 10, "only {found} metric lines found");
    }
}
