//! Publish throughput of the NATS JetStream sink: alerts per second acknowledged by JetStream
//! (stored, file storage) through `NatsSink::deliver`, in batches of 1 (one round trip per
//! alert: what a lone alert costs) and of 256 (the delivery task's batch, pipelined), and the
//! same alerts re-sent (all dropped by the duplicate window). Each run uses a fresh stream,
//! deleted afterwards. Prints the figures.
//!
//! Needs a NATS server with JetStream named by `NEWSWATCH_TEST_NATS` (as the tests do); without
//! it, says so and measures nothing. `cargo bench --bench nats [-- ALERTS]` (default 20,000).

use newswatch::alert::{ALERT_SCHEMA, Alert, to_json_line};
use newswatch::config::NatsConfig;
use newswatch::sink::{NatsSink, Sink};
use newswatch::store::Pending;
use std::time::{Duration, Instant};

fn rows(n: usize, run: &str) -> Vec<Pending> {
    (0..n)
        .map(|i| {
            let alert = Alert {
                schema: ALERT_SCHEMA,
                id: format!("{run}-{i:016x}"),
                topic: if i % 3 == 0 { "energy".into() } else { "us-russia-talks".into() },
                score: 0.5 + (i % 50) as f64 / 100.0,
                title: format!("Lavrov and Rubio hold talks in Riyadh on Ukraine, round {i}"),
                url: Some(format!("https://news.example.org/world/2026/11/30/talks-{i}?src=rss")),
                feed: "wire".into(),
                published: Some("2026-11-30T08:00:00Z".into()),
                detected_at: "2026-11-30T08:01:00Z".into(),
                matched: vec!["lavrov".into(), "rubio".into(), "talks".into()],
                snippet: "Lynne M. Tracy, the ambassador, spoke with Sergei A. Ryabkov about the \"next round\" of talks, officials said.".into(),
                text_source: "page".into(),
                fallback_reason: None,
                kind: Some("new_story".into()),
                story: Some(format!("{:016x}", i / 4)),
                story_items: Some(1),
                story_outlets: Some(1),
                newcomers: Vec::new(),
            };
            Pending { seq: i as i64, alert_id: alert.id.clone(), body: to_json_line(&alert).unwrap() }
        })
        .collect()
}

/// Delivers `rows` in batches of `batch`; alerts per second.
async fn deliver_all(sink: &NatsSink, rows: &[Pending], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        sink.deliver(chunk).await.expect("JetStream acknowledges");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let Some(url) = std::env::var("NEWSWATCH_TEST_NATS").ok().filter(|url| !url.is_empty()) else {
        println!("NEWSWATCH_TEST_NATS is not set: nothing measured (it names a NATS server with JetStream)");
        return;
    };
    let n: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(20_000);
    let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.expect("connect"));
    let pid = std::process::id();
    for batch in [1usize, 256] {
        // A lone alert per round trip costs a lot more: measure it on fewer alerts.
        let count = if batch == 1 { n.min(2_000) } else { n };
        let stream = format!("NWBENCH_{pid}_{batch}");
        let config = NatsConfig {
            url: url.parse().unwrap(),
            subject: format!("nwbench.{pid}.{batch}.<topic>"),
            stream: stream.clone(),
            max_age: Duration::from_secs(600),
            duplicate_window: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
        };
        let sink = NatsSink::new("bench".into(), config);
        let rows = rows(count, &format!("b{batch}"));
        let bytes: usize = rows.iter().map(|row| row.body.len()).sum();
        // The first delivery connects and creates the stream; keep it out of the figure.
        sink.deliver(&rows[..1]).await.expect("connect and create the stream");
        let fresh = deliver_all(&sink, &rows[1..], batch).await;
        let resent = deliver_all(&sink, &rows, batch).await;
        let info = js.get_stream(&stream).await.unwrap().info().await.unwrap().state.clone();
        assert_eq!(info.messages as usize, count, "each alert stored once");
        println!(
            "batch {batch:>3}: {count} alerts of {} bytes on average: {fresh:.0} alerts/s acknowledged; re-sent (all duplicates): {resent:.0} alerts/s",
            bytes / count
        );
        js.delete_stream(&stream).await.unwrap();
    }
}
