//! kill -9 while a webhook POST is in flight: the receiver holds the first POST open without
//! answering, the daemon is killed, restarted, and the receiver then answers 200. Every alert
//! arrives; the only repeat is the POST that never got its answer, sent again with the same
//! Idempotency-Key and body.

use crate::support::{FixtureServer, TestDir, talks_feed};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (Idempotency-Key, body, answered): `answered` is false for a POST held open.
type Posts = Arc<Mutex<Vec<(String, String, bool)>>>;

#[derive(Clone)]
struct Receiver {
    posts: Posts,
    hold: Arc<AtomicBool>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let key =
        headers.get("idempotency-key").and_then(|value| value.to_str().ok()).unwrap_or_default().to_string();
    let hold = receiver.hold.load(Ordering::SeqCst);
    receiver.posts.lock().unwrap().push((key, body, !hold));
    if hold {
        // Never answer: the connection stays open until the client dies.
        std::future::pending::<()>().await;
    }
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_webhook_post_loses_nothing_and_repeats_only_that_post() {
    let site = FixtureServer::start().await;
    let links: Vec<String> = (0..3).map(|n| site.url(&format!("/articles/{n}"))).collect();
    site.ok("/talks.xml", talks_feed(&links), "application/rss+xml");
    let receiver = Receiver { posts: Arc::default(), hold: Arc::new(AtomicBool::new(true)) };
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = TestDir::new();
    dir.write_config(&[("wire", site.url("/talks.xml"))], "max_backoff = \"2s\"");
    let mut text = std::fs::read_to_string(dir.config_path()).unwrap();
    text.push_str(&format!(
        "\n[[sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{hook}\"\ntimeout = \"60s\"\n"
    ));
    std::fs::write(dir.config_path(), text).unwrap();

    let mut first = dir.spawn_daemon(false);
    dir.wait_for_alerts(3).await;
    let started = Instant::now();
    while receiver.posts.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no POST arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // the POST is in flight, unanswered
    first.kill().unwrap(); // SIGKILL
    tokio::task::block_in_place(|| first.wait()).unwrap();
    let held = receiver.posts.lock().unwrap().clone();
    assert_eq!(held.len(), 1, "one POST at a time, and it was held: {held:?}");
    assert!(!held[0].2);

    receiver.hold.store(false, Ordering::SeqCst);
    let mut second = dir.spawn_daemon(false);
    let expected: BTreeSet<String> = dir.alerts().into_iter().map(|alert| alert.id).collect();
    assert_eq!(expected.len(), 3);
    let started = Instant::now();
    loop {
        let answered: BTreeSet<String> =
            receiver.posts.lock().unwrap().iter().filter(|post| post.2).map(|post| post.0.clone()).collect();
        if answered == expected {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not every alert arrived: {answered:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // nothing more should come
    let _ = std::process::Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    assert!(tokio::task::block_in_place(|| second.wait()).unwrap().success());

    let posts = receiver.posts.lock().unwrap().clone();
    let keys: BTreeSet<String> = posts.iter().map(|post| post.0.clone()).collect();
    assert_eq!(keys, expected, "the Idempotency-Keys are exactly the alert ids of alerts.jsonl");
    let mut per_key: HashMap<&str, Vec<&(String, String, bool)>> = HashMap::new();
    for post in &posts {
        per_key.entry(post.0.as_str()).or_default().push(post);
    }
    for (key, tries) in &per_key {
        let answered = tries.iter().filter(|post| post.2).count();
        assert_eq!(answered, 1, "{key} acknowledged exactly once: {posts:?}");
        if *key == held[0].0 {
            assert_eq!(tries.len(), 2, "the held POST was sent again: {posts:?}");
            assert_eq!(tries[0].1, tries[1].1, "with the same body");
        } else {
            assert_eq!(tries.len(), 1, "{key} was never repeated: {posts:?}");
        }
    }
}
