//! `[daemon] listen`: the daemon binary serving `/healthz` and `/metrics` on a loopback port it
//! chose itself (port 0), read from its log line; the metrics parsed as Prometheus text.

use crate::support::{FixtureServer, TestDir, newswatch, serve_talks_site, text};
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A daemon whose stderr is read line by line on a thread (so the pipe never fills).
struct Daemon {
    child: std::process::Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(dir: &TestDir) -> Daemon {
        let mut child = dir.spawn_daemon(true);
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Daemon { child, log }
    }

    /// The address from the daemon's "serving /healthz and /metrics address=…" line.
    async fn address(&self) -> SocketAddr {
        let started = Instant::now();
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|line| {
                let rest = line.split("serving /healthz and /metrics").nth(1)?;
                let value = rest.split("address=").nth(1)?.split_whitespace().next()?;
                value.parse().ok()
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no listen line in the log: {:?}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET over a plain socket: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, body.to_string())
}

/// `/metrics`, parsed by a Prometheus text parser.
async fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_string()))).expect("Prometheus text")
}

/// The sum of a counter or gauge over the samples whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == metric)
        .filter(|sample| labels.iter().all(|(name, want)| sample.labels.get(name) == Some(*want)))
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Gauge(n) => n,
            prometheus_parse::Value::Untyped(n) => n,
            _ => 0.0,
        })
        .sum()
}

/// The number of observations of a histogram.
fn histogram_count(scrape: &prometheus_parse::Scrape, metric: &str) -> u64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == metric)
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|bucket| bucket.count as u64).max().unwrap_or(0)
            }
            _ => 0,
        })
        .sum()
}

/// A config polling the talks feed every second, serving on a free loopback port.
fn write_config(dir: &TestDir, server: &FixtureServer) {
    let path = dir.write_config(&[("wire", server.url("/talks.xml"))], "listen = \"127.0.0.1:0\"\n");
    let config = std::fs::read_to_string(&path).unwrap().replace("interval = \"1m\"", "interval = \"1s\"");
    std::fs::write(&path, config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_fetches_between_scrapes_and_alerts_by_topic() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    write_config(&dir, &server);
    let daemon = Daemon::start(&dir);
    let addr = daemon.address().await;

    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "ok", "{body}");

    dir.wait_for_alerts(1).await;
    let first = scrape(addr).await;
    let feed_fetches =
        |scrape: &prometheus_parse::Scrape| value(scrape, "newswatch_fetches_total", &[("target", "feed")]);
    let fetches_before = feed_fetches(&first);
    assert!(fetches_before >= 1.0, "{:?}", first.samples);

    // Another poll round (a 304: the feed has not changed) moves the counter.
    let started = Instant::now();
    let second = loop {
        let now = scrape(addr).await;
        if feed_fetches(&now) > fetches_before
            && value(&now, "newswatch_fetches_total", &[("target", "feed"), ("outcome", "304")]) >= 1.0
        {
            break now;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the fetch counter never moved");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // 200 until the first response's items are recorded with its ETag, 304 from then on.
    assert!(value(&second, "newswatch_fetches_total", &[("target", "feed"), ("outcome", "200")]) >= 1.0);
    assert!(value(&second, "newswatch_fetched_bytes_total", &[("target", "feed")]) > 1000.0);
    assert!(histogram_count(&second, "newswatch_fetch_duration_seconds") >= 2);
    // The broken page answered 500: its item was classified on the feed's text.
    assert!(value(&second, "newswatch_extraction_fallbacks_total", &[("reason", "status")]) >= 1.0);
    assert!(value(&second, "newswatch_items_total", &[("result", "new")]) >= 3.0);
    for queue in ["items", "articles", "classified"] {
        assert!(
            second.samples.iter().any(|sample| sample.metric == "newswatch_queue_depth"
                && sample.labels.get("queue") == Some(queue)),
            "no depth gauge for {queue}"
        );
        assert_eq!(value(&second, "newswatch_queue_capacity", &[("queue", queue)]), 64.0);
    }

    // Once every alert is delivered, the alert counter and the log agree, topic by topic.
    let sink = dir.config().sinks[0].name.clone();
    let started = Instant::now();
    let settled = loop {
        let now = scrape(addr).await;
        if now.samples.iter().any(|sample| sample.metric == "newswatch_deliveries_pending")
            && value(&now, "newswatch_deliveries_pending", &[("sink", &sink)]) == 0.0
        {
            break now;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "deliveries stayed pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alerts = dir.alerts();
    assert!(!alerts.is_empty());
    let topic = "us-russia-talks";
    let logged = alerts.iter().filter(|alert| alert.topic == topic).count();
    assert_eq!(value(&settled, "newswatch_alerts_total", &[("topic", topic)]), logged as f64);
    assert_eq!(value(&settled, "newswatch_deliveries_total", &[("sink", &sink)]), alerts.len() as f64);
    assert_eq!(histogram_count(&settled, "newswatch_publish_to_alert_seconds"), alerts.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_another_process_holds_the_database_write_lock() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    write_config(&dir, &server);
    let daemon = Daemon::start(&dir);
    let addr = daemon.address().await;
    dir.wait_for_alerts(1).await;
    assert_eq!(get(addr, "/healthz").await.0, 200);

    // A backup tool (or a person with the sqlite3 shell) holding a write transaction: the
    // daemon's writer cannot commit, and /healthz says so instead of hanging.
    let db = rusqlite::Connection::open(dir.state_dir().join("newswatch.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "unavailable", "{body}");
    assert!(health["reason"].as_str().unwrap().contains("store"), "{body}");
    // /metrics still answers while the writer is stuck.
    scrape(addr).await;

    db.execute_batch("ROLLBACK").unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = get(addr, "/healthz").await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never healthy again: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_listen_address_that_is_taken_or_malformed_stops_the_daemon_before_it_starts() {
    let dir = TestDir::new();
    // Taken: the test holds the port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    dir.write_config(
        &[("wire", "http://127.0.0.1:9/feed.xml".to_string())],
        &format!("listen = \"{addr}\"\n"),
    );
    let config = dir.config_path().display().to_string();
    let output = newswatch(&["run", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("daemon.listen"),
        "{stderr}"
    );
    assert!(!stderr.contains("starting"), "nothing started: {stderr}");

    let output = newswatch(&["check-config", "--config", &config], &dir);
    assert!(
        text(&output.stdout).contains(&format!("listen: {addr} (/healthz, /metrics)")),
        "{}",
        text(&output.stdout)
    );

    // Malformed: a configuration error naming the file and the key.
    dir.write_config(&[("wire", "http://127.0.0.1:9/feed.xml".to_string())], "listen = \"localhost:http\"\n");
    let output = newswatch(&["check-config", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("newswatch.toml") && stderr.contains("daemon.listen"), "{stderr}");
    assert!(stderr.contains("is not an IP address and port"), "{stderr}");
}
