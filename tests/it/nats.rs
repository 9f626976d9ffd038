//! The NATS JetStream sink against a real NATS server with JetStream: the one named by
//! `NEWSWATCH_TEST_NATS` (`.ci/run` sets it when 127.0.0.1:4222 answers). Without it these
//! tests say so on stderr and pass without running; the configuration tests always run.
//!
//! Every test uses a fresh stream and subject prefix of its own and counts alerts by id over a
//! consumer: each alert arrives once, a retried publish is dropped by the duplicate window, and
//! a NATS that is unreachable for a while (a TCP proxy here that refuses, then cuts the first
//! connection right after a publish so its acks are lost) still gets every alert exactly once.

use crate::support::{FixtureServer, TestDir};
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use newswatch::config::NatsConfig;
use newswatch::sink::{NatsSink, Sink};
use newswatch::store::Pending;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The server under test, or None after saying on stderr that `test` was not run. Written to
/// stderr directly, past the test harness's capture, so `cargo test` shows it.
pub(crate) fn nats_url(test: &str) -> Option<String> {
    match std::env::var("NEWSWATCH_TEST_NATS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let _ =
                writeln!(std::io::stderr(), "NEWSWATCH_TEST_NATS is not set: NATS test {test} was not run");
            None
        }
    }
}

/// A stream name and subject prefix no other test (or earlier run) uses.
pub(crate) fn fresh_names() -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let unique =
        format!("{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst), nanos % 1_000_000_000);
    (format!("NWTEST_{unique}"), format!("nwtest.{unique}"))
}

pub(crate) async fn jetstream_at(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.expect("connect to NEWSWATCH_TEST_NATS"))
}

/// One stored message: (Nats-Msg-Id, the body's `id`, subject).
pub(crate) type Stored = (String, String, String);

/// Every message in `stream`, read through a fresh consumer from the start.
pub(crate) async fn stored(js: &jetstream::Context, stream_name: &str) -> Vec<Stored> {
    let stream = match js.get_stream(stream_name).await {
        Ok(stream) => stream,
        Err(_) => return Vec::new(), // not created yet
    };
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(5),
            ..Default::default()
        })
        .await
        .expect("create a consumer");
    let mut messages = consumer.fetch().max_messages(10_000).messages().await.expect("fetch");
    let mut found = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.expect("a message");
        let msg_id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map(|value| value.as_str().to_string())
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("a JSON alert");
        found.push((
            msg_id,
            body["id"].as_str().unwrap_or_default().to_string(),
            message.subject.to_string(),
        ));
    }
    found
}

/// How often each alert id is in the stream (by `Nats-Msg-Id`, checked equal to the body's id).
pub(crate) fn counts(stored: &[Stored]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (msg_id, body_id, _) in stored {
        assert_eq!(msg_id, body_id, "Nats-Msg-Id is the alert id");
        *counts.entry(msg_id.clone()).or_default() += 1;
    }
    counts
}

/// Waits (at most 30 s) until `stream_name` holds every id of `expected`; returns what it holds.
async fn wait_for_ids(js: &jetstream::Context, stream_name: &str, expected: &[String]) -> Vec<Stored> {
    let started = Instant::now();
    loop {
        let found = stored(js, stream_name).await;
        let ids = counts(&found);
        if expected.iter().all(|id| ids.contains_key(id)) {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not every alert reached NATS: {ids:?} of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A feed of `n` matching items (their pages are missing: the summaries are the text).
fn talks_feed(n: usize) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>wire</title>");
    for i in 0..n {
        xml.push_str(&format!(
            "<item><title>Lavrov and Rubio hold talks, part {i}</title><link>{{{{BASE}}}}/articles/{i}</link><guid>talks-{i}</guid><pubDate>{{{{NOW}}}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov in Riyadh, part {i}.</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// A daemon config: the feed, the JSON Lines log, and a NATS sink (`nats_url`, `stream`,
/// `prefix`.<topic>).
fn write_config(dir: &TestDir, site: &FixtureServer, nats_url: &str, stream: &str, prefix: &str) {
    dir.write_config(&[("wire", site.url("/talks.xml"))], "max_backoff = \"2s\"");
    let mut text = std::fs::read_to_string(dir.config_path()).unwrap();
    text.push_str(&format!(
        "\n[[sinks]]\nkind = \"nats\"\nname = \"bus\"\nurl = \"{nats_url}\"\nsubject = \"{prefix}.<topic>\"\nstream = \"{stream}\"\nmax_age = \"10m\"\nduplicate_window = \"5m\"\ntimeout = \"2s\"\n"
    ));
    std::fs::write(dir.config_path(), text).unwrap();
}

fn stop(daemon: &mut std::process::Child) {
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    assert!(daemon.wait().unwrap().success(), "the daemon stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_arrives_on_jetstream_once_with_its_id() {
    let Some(url) = nats_url("every_alert_arrives_on_jetstream_once_with_its_id") else { return };
    let js = jetstream_at(&url).await;
    let (stream_name, prefix) = fresh_names();
    let site = FixtureServer::start().await;
    site.ok("/talks.xml", talks_feed(5), "application/rss+xml");
    let dir = TestDir::new();
    write_config(&dir, &site, &url, &stream_name, &prefix);
    let mut daemon = dir.spawn_daemon(false);
    dir.wait_for_alerts(5).await;
    let expected: Vec<String> = dir.alerts().into_iter().map(|alert| alert.id).collect();
    let found = wait_for_ids(&js, &stream_name, &expected).await;
    stop(&mut daemon);

    let found_after = stored(&js, &stream_name).await;
    assert_eq!(found_after.len(), found.len(), "nothing more after the stop: {found_after:?}");
    let ids = counts(&found_after);
    for id in &expected {
        assert_eq!(ids.get(id), Some(&1), "{id} once: {found_after:?}");
    }
    assert_eq!(ids.len(), expected.len());
    for (_, _, subject) in &found_after {
        assert_eq!(subject, &format!("{prefix}.us-russia-talks"));
    }
    let info = js.get_stream(&stream_name).await.unwrap().info().await.unwrap().config.clone();
    assert_eq!(info.subjects, vec![format!("{prefix}.*")], "created with the template's subjects");
    assert_eq!(info.max_age, Duration::from_secs(600));
    assert_eq!(info.duplicate_window, Duration::from_secs(300));
    js.delete_stream(&stream_name).await.unwrap();
}

fn sink_config(url: &str, stream: &str, prefix: &str) -> NatsConfig {
    NatsConfig {
        url: url.parse().unwrap(),
        subject: format!("{prefix}.<topic>"),
        stream: stream.to_string(),
        max_age: Duration::from_secs(600),
        duplicate_window: Duration::from_secs(120),
        timeout: Duration::from_secs(5),
    }
}

fn pending(seq: i64, id: &str) -> Pending {
    let body = serde_json::json!({"schema": 1, "id": id, "topic": "us-russia-talks", "title": format!("alert {id}")});
    Pending { seq, alert_id: id.to_string(), body: body.to_string() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_publish_is_dropped_by_the_duplicate_window() {
    let Some(url) = nats_url("a_retried_publish_is_dropped_by_the_duplicate_window") else { return };
    let js = jetstream_at(&url).await;
    let (stream_name, prefix) = fresh_names();
    let sink = NatsSink::new("bus".into(), sink_config(&url, &stream_name, &prefix));
    let batch = vec![pending(1, "a1"), pending(2, "a2"), pending(3, "a3")];
    sink.deliver(&batch).await.expect("the first publish is acknowledged");
    // The same alerts again, as after a lost ack or a crash before they were marked delivered;
    // and a new sink (a restarted daemon) re-sending one of them.
    sink.deliver(&batch).await.expect("a duplicate is acknowledged too");
    let restarted = NatsSink::new("bus".into(), sink_config(&url, &stream_name, &prefix));
    restarted.deliver(&batch[1..2]).await.unwrap();
    restarted.deliver(&[pending(4, "a4")]).await.unwrap();

    let found = stored(&js, &stream_name).await;
    let ids = counts(&found);
    assert_eq!(found.len(), 4, "{found:?}");
    for id in ["a1", "a2", "a3", "a4"] {
        assert_eq!(ids.get(id), Some(&1), "{id}: {found:?}");
    }
    let order: Vec<&str> = found.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(order, ["a1", "a2", "a3", "a4"], "stored in the order delivered");
    js.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_exists_with_other_subjects_is_a_clear_error_and_retention_follows_the_config() {
    let Some(url) = nats_url("a_stream_that_exists_with_other_subjects_is_a_clear_error") else { return };
    let js = jetstream_at(&url).await;
    let (stream_name, prefix) = fresh_names();
    js.create_stream(stream::Config {
        name: stream_name.clone(),
        subjects: vec![format!("{prefix}.other")],
        ..Default::default()
    })
    .await
    .unwrap();
    let sink = NatsSink::new("bus".into(), sink_config(&url, &stream_name, &prefix));
    let err = sink.deliver(&[pending(1, "b1")]).await.expect_err("the stream does not take our subjects");
    let message = err.to_string();
    assert!(message.contains(&format!("JetStream stream {stream_name} exists with subjects")), "{message}");
    assert!(message.contains(&format!("{prefix}.*")), "{message}");
    assert!(stored(&js, &stream_name).await.is_empty());

    // The user widens the stream: the same sink now delivers, and brings the stream's
    // retention to its configured max_age and duplicate_window.
    let mut config = js.get_stream(&stream_name).await.unwrap().info().await.unwrap().config.clone();
    config.subjects = vec![format!("{prefix}.>")];
    js.update_stream(config).await.unwrap();
    sink.deliver(&[pending(1, "b1")]).await.expect("a stream taking prefix.> takes prefix.*");
    let config = js.get_stream(&stream_name).await.unwrap().info().await.unwrap().config.clone();
    assert_eq!(
        (config.max_age, config.duplicate_window),
        (Duration::from_secs(600), Duration::from_secs(120))
    );
    assert_eq!(counts(&stored(&js, &stream_name).await).get("b1"), Some(&1));
    js.delete_stream(&stream_name).await.unwrap();
}

/// A TCP proxy in front of the NATS server: down (each connection closed at once), or up,
/// optionally cutting the first connection that publishes right after forwarding the publish,
/// so the server stores it but its ack never comes back; the proxy is down again after a cut,
/// until the test brings it up.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut_after_publish: Arc<AtomicBool>,
    accepted_while_down: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            up: Arc::default(),
            cut_after_publish: Arc::default(),
            accepted_while_down: Arc::default(),
            cuts: Arc::default(),
        };
        let (up, cut, down_count, cuts) = (
            proxy.up.clone(),
            proxy.cut_after_publish.clone(),
            proxy.accepted_while_down.clone(),
            proxy.cuts.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    down_count.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target).await else { continue };
                tokio::spawn(forward(client, server, up.clone(), cut.clone(), cuts.clone()));
            }
        });
        proxy
    }
}

async fn forward(
    client: TcpStream,
    server: TcpStream,
    up: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let muted = Arc::new(AtomicBool::new(false));
    let muted_down = muted.clone();
    let to_client = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
            if muted_down.load(Ordering::SeqCst) || client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buffer = vec![0u8; 64 * 1024];
    // Once cutting: the moment both sides are dropped. Until then the client's bytes still go
    // through (so a publish split across reads arrives whole), but nothing comes back.
    let mut cut_at: Option<tokio::time::Instant> = None;
    loop {
        let read = match cut_at {
            None => client_read.read(&mut buffer).await,
            Some(deadline) => match tokio::time::timeout_at(deadline, client_read.read(&mut buffer)).await {
                Ok(read) => read,
                Err(_) => break,
            },
        };
        let Ok(n @ 1..) = read else { break };
        // Alerts go out as HPUB (they carry Nats-Msg-Id); JetStream API requests are plain PUBs.
        let publishes = buffer[..n].windows(4).any(|window| window == b"HPUB");
        if cut_at.is_none() && publishes && cut.swap(false, Ordering::SeqCst) {
            // Mute the way back before forwarding, so no ack for this publish reaches the client.
            muted.store(true, Ordering::SeqCst);
            up.store(false, Ordering::SeqCst);
            cuts.fetch_add(1, Ordering::SeqCst);
            cut_at = Some(tokio::time::Instant::now() + Duration::from_millis(300));
        }
        if server_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    to_client.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_for_a_while_then_up_gets_every_alert_exactly_once() {
    let Some(url) = nats_url("nats_down_for_a_while_then_up_gets_every_alert_exactly_once") else { return };
    let js = jetstream_at(&url).await;
    let parsed = url::Url::parse(&url).unwrap();
    let target: SocketAddr =
        tokio::net::lookup_host((parsed.host_str().unwrap(), parsed.port().unwrap_or(4222)))
            .await
            .unwrap()
            .next()
            .unwrap();
    let proxy = Proxy::start(target).await;
    let (stream_name, prefix) = fresh_names();
    let site = FixtureServer::start().await;
    site.ok("/talks.xml", talks_feed(20), "application/rss+xml");
    let dir = TestDir::new();
    write_config(&dir, &site, &format!("nats://127.0.0.1:{}", proxy.port), &stream_name, &prefix);
    let mut daemon = dir.spawn_daemon(false);
    dir.wait_for_alerts(20).await;
    // NATS is "down": wait until the sink has tried and failed at least twice (with backoff).
    let started = Instant::now();
    while proxy.accepted_while_down.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the sink never tried to connect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored(&js, &stream_name).await.is_empty(), "nothing can have arrived yet");

    // Up again, but the first connection that publishes is cut before its acks return (and
    // the proxy is down again): the server stored alerts the sink must still count as pending.
    proxy.cut_after_publish.store(true, Ordering::SeqCst);
    proxy.up.store(true, Ordering::SeqCst);
    let expected: Vec<String> = dir.alerts().into_iter().map(|alert| alert.id).collect();
    assert_eq!(expected.len(), 20);
    let started = Instant::now();
    while proxy.cuts.load(Ordering::SeqCst) == 0 || stored(&js, &stream_name).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no publish reached the server before the cut");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored_unacknowledged = stored(&js, &stream_name).await.len();

    // Up for good: the sink re-sends the unacknowledged alerts; the duplicate window drops them.
    proxy.up.store(true, Ordering::SeqCst);
    wait_for_ids(&js, &stream_name, &expected).await;
    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 1, "one publish lost its acks");
    stop(&mut daemon);

    let found = stored(&js, &stream_name).await;
    let ids = counts(&found);
    for id in &expected {
        assert_eq!(ids.get(id), Some(&1), "{id} exactly once: {found:?}");
    }
    assert_eq!(found.len(), expected.len(), "no alert twice, none extra");
    // Stored before the cut, acknowledged only by the re-send: the outbox holds nothing pending,
    // and a row is marked delivered only on JetStream's ack.
    assert!(stored_unacknowledged > 0);
    let store = newswatch::store::Store::open_read_only(&dir.state_dir()).unwrap().expect("a store");
    assert_eq!(store.pending("bus").await.unwrap().len(), 0, "every alert acknowledged");
    js.delete_stream(&stream_name).await.unwrap();
}

#[test]
fn bad_nats_settings_are_config_errors_naming_file_and_key() {
    let dir = TestDir::new();
    let text = "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n[[topics]]\nid = \"talks in Riyadh\"\n[[sinks]]\nkind = \"nats\"\nurl = \"http://127.0.0.1:4222\"\n[[sinks]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"alerts.<topic>\"\nstream = \"a.b\"\n[[sinks]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"alerts.>\"\ntopics = [\"us-russia-talks\"]\n[[sinks]]\nkind = \"jsonl\"\npath = \"a.jsonl\"\nsubject = \"x\"\n";
    std::fs::write(dir.config_path(), text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["check-config", "--config"])
        .arg(dir.config_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&dir.config_path().display().to_string()), "names the file: {stderr}");
    for expected in [
        "sinks[0].url: \"http://127.0.0.1:4222\" must be nats://host:port or tls://host:port",
        "sinks[1].subject: topic \"talks in Riyadh\" makes the subject \"alerts.talks in Riyadh\", which holds a space",
        "sinks[1].stream: \"a.b\" must be 1-64 characters",
        "sinks[2].subject: \"alerts.>\" holds a wildcard",
        "sinks[3].subject: `subject` applies to nats sinks only",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }
    // The filter limits which topics are checked: sinks[2] takes only us-russia-talks.
    assert!(!stderr.contains("sinks[2].subject: topic"), "{stderr}");
}
