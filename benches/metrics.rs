//! What health and metrics cost: one instrumented event (a labelled counter and a histogram
//! sample, as `Fetcher::get` records per fetch) without and with the Prometheus recorder, one
//! `/metrics` render with a daemon's worth of series, and one `/healthz` write probe through
//! the store's writer on an idle database.
//!
//! `cargo bench --bench metrics [-- EVENTS]` (default 1,000,000 events).

use newswatch::serve;
use newswatch::store::Store;
use std::time::{Duration, Instant};

const OUTCOMES: [&str; 6] = ["200", "304", "status", "timeout", "refused", "too_large"];

/// The lines `Fetcher::get` runs for one fetch.
fn one_event(n: usize) {
    let outcome = OUTCOMES[n % OUTCOMES.len()];
    metrics::counter!("newswatch_fetches_total", "target" => "feed", "outcome" => outcome).increment(1);
    metrics::histogram!("newswatch_fetch_duration_seconds", "target" => "feed")
        .record(Duration::from_micros((n % 5000) as u64));
}

fn per_event(events: usize) -> Duration {
    let started = Instant::now();
    for n in 0..events {
        one_event(std::hint::black_box(n));
    }
    started.elapsed() / events as u32
}

fn main() {
    let events: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(1_000_000);

    let without = per_event(events);
    let handle = serve::install_recorder();
    let with = per_event(events);
    println!(
        "one fetch's metric lines: {:.0} ns without a recorder, {:.0} ns with the Prometheus recorder ({events} events)",
        without.as_nanos(),
        with.as_nanos()
    );

    // A daemon's worth of series: 40 topics, 4 sinks, 12 fallback reasons, both targets.
    for topic in 0..40 {
        metrics::counter!("newswatch_alerts_total", "topic" => format!("topic-{topic}")).increment(3);
    }
    for sink in 0..4 {
        metrics::counter!("newswatch_deliveries_total", "sink" => format!("sink-{sink}")).increment(7);
        metrics::gauge!("newswatch_deliveries_pending", "sink" => format!("sink-{sink}")).set(1.0);
    }
    for reason in 0..12 {
        metrics::counter!("newswatch_extraction_fallbacks_total", "reason" => format!("reason-{reason}"))
            .increment(1);
    }
    for n in 0..10_000 {
        metrics::histogram!("newswatch_publish_to_alert_seconds").record((n * 37 % 86_400) as f64);
    }
    handle.run_upkeep();
    let renders = 200;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..renders {
        bytes = std::hint::black_box(handle.render()).len();
    }
    println!(
        "/metrics render: {:.0} µs for {bytes} bytes of text ({} series lines)",
        (started.elapsed() / renders).as_secs_f64() * 1e6,
        handle.render().lines().filter(|line| !line.starts_with('#') && !line.is_empty()).count()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let probes = 200;
        let started = Instant::now();
        for _ in 0..probes {
            store.check_writable().await.expect("writable");
        }
        println!(
            "/healthz write probe (BEGIN IMMEDIATE; COMMIT through the writer, synchronous=FULL): {:.2} ms each ({probes} probes)",
            (started.elapsed() / probes).as_secs_f64() * 1e3
        );
    });
}
