//! Alert sinks beside the JSON Lines log: a webhook that refuses, then fails, then accepts
//! gets every alert exactly once acknowledged with its Idempotency-Key; filters keep alerts
//! from sinks that do not want them; stdout carries alert lines for pipes.

use crate::support::{FixtureServer, TestDir, serve_talks_site};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver saw: (Idempotency-Key, body, status answered).
type Received = Arc<Mutex<Vec<(String, String, u16)>>>;

#[derive(Clone)]
struct Receiver {
    received: Received,
    failures_left: Arc<Mutex<u32>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let key =
        headers.get("idempotency-key").and_then(|value| value.to_str().ok()).unwrap_or_default().to_string();
    let status = {
        let mut left = receiver.failures_left.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    };
    receiver.received.lock().unwrap().push((key, body, status.as_u16()));
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_refuses_then_fails_then_accepts_gets_every_alert_once() {
    let site = FixtureServer::start().await;
    serve_talks_site(&site);
    // A port nobody listens on yet: the first deliveries are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = TestDir::new();
    dir.write_config(&[("wire", site.url("/talks.xml"))], "max_backoff = \"2s\"");
    let mut config_text = std::fs::read_to_string(dir.config_path()).unwrap();
    config_text.push_str(&format!(
        "\n[[sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:{port}/alerts\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\ntimeout = \"2s\"\n\n[[sinks]]\nkind = \"webhook\"\nname = \"picky\"\nurl = \"http://127.0.0.1:{port}/picky\"\nmin_score = 0.999\n"
    ));
    std::fs::write(dir.config_path(), config_text).unwrap();
    let mut daemon = dir.spawn_daemon(false);
    dir.wait_for_alerts(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // a refused delivery or two

    let receiver = Receiver { received: Arc::default(), failures_left: Arc::new(Mutex::new(3)) };
    let app = axum::Router::new()
        .route("/alerts", axum::routing::post(receive))
        .route("/picky", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("rebind the reserved port");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let expected: Vec<String> = dir.alerts().into_iter().map(|alert| alert.id).collect();
    let started = Instant::now();
    loop {
        let acked: Vec<String> = receiver
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(key, _, _)| key.clone())
            .collect();
        if expected.iter().all(|id| acked.contains(id)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not every alert arrived: {acked:?} of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // nothing more should come
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    assert!(daemon.wait().unwrap().success());

    let received = receiver.received.lock().unwrap().clone();
    let mut acked: HashMap<String, usize> = HashMap::new();
    for (key, body, status) in &received {
        let alert: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(alert["id"].as_str(), Some(key.as_str()), "the Idempotency-Key is the alert id");
        if *status == 200 {
            *acked.entry(key.clone()).or_default() += 1;
        }
    }
    assert!(received.iter().filter(|(_, _, status)| *status == 500).count() == 3, "{received:?}");
    for id in &expected {
        assert_eq!(acked.get(id), Some(&1), "{id} acknowledged exactly once: {received:?}");
    }
    assert_eq!(acked.len(), expected.len(), "the picky sink (min_score 0.999) got nothing: {received:?}");
}

#[test]
fn a_stdout_sink_prints_alert_lines_and_a_bad_sink_is_a_config_error() {
    let dir = TestDir::new();
    let text = "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n[[sinks]]\nkind = \"webhook\"\nurl = \"ftp://x\"\nformat = \"teams\"\npath = \"x\"\n[[sinks]]\nkind = \"stdout\"\ntopics = [\"us-russia-talks\"]\n";
    std::fs::write(dir.config_path(), text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["check-config", "--config"])
        .arg(dir.config_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "sinks[0].url: must be an http(s) URL",
        "sinks[0].format: unknown format \"teams\"",
        "sinks[0].path: `path` applies to jsonl sinks only",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_with_a_stdout_sink_writes_alert_lines_then_the_summary() {
    let site = FixtureServer::start().await;
    serve_talks_site(&site);
    let dir = TestDir::new();
    dir.write_config(&[("wire", site.url("/talks.xml"))], "");
    let mut config_text = std::fs::read_to_string(dir.config_path()).unwrap();
    config_text.push_str("\n[[sinks]]\nkind = \"stdout\"\n");
    std::fs::write(dir.config_path(), config_text).unwrap();
    let config = dir.config_path().display().to_string();
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .output()
            .unwrap()
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let alerts: Vec<serde_json::Value> =
        lines[..lines.len() - 1].iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: Vec<String> = dir.alerts().into_iter().map(|alert| alert.id).collect();
    assert_eq!(alerts.iter().map(|alert| alert["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ids);
    assert!(lines.last().unwrap().starts_with("newswatch: 1 polls"), "{stdout}");
}
