//! Faults that must lose nothing: a full disk under the alert log or the database, a network
//! outage, SIGTERM with fetches in flight; and feed text that must stay data.

use crate::support::{FixtureServer, TestDir, run_once, serve_talks_site};
use newswatch::model::RunMode;
use newswatch::store::Store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_full_disk_under_the_alert_log_keeps_alerts_pending_until_space_returns() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config();
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", dir.alert_log()).unwrap();
    run_once(&config).await;
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let sink = config.sinks[0].name.clone();
    assert_eq!(store.pending(&sink).await.unwrap().len(), 2, "both alerts stay pending");
    drop(store);

    // Space returns: the next start delivers them, once.
    std::fs::remove_file(dir.alert_log()).unwrap();
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2);
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2, "no duplicate after recovery");
}

/// Root can mount a small tmpfs; elsewhere this test says so and checks nothing.
fn mount_tmpfs(path: &std::path::Path, size: &str) -> bool {
    std::fs::create_dir_all(path).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!(
            "note: cannot mount a tmpfs here (not root?); the database disk-full case was not exercised"
        );
    }
    mounted
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        Command::new("umount").arg(&self.0).status().ok();
    }
}

#[tokio::test]
async fn a_full_disk_under_the_database_loses_nothing_and_recovers() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    if !mount_tmpfs(&dir.state_dir(), "2m") {
        return;
    }
    let _unmount = Unmount(dir.state_dir());
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config();
    // Open the database, then fill the file system to the last byte.
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let filler = dir.state_dir().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut chunk = block.as_slice();
    loop {
        use std::io::Write;
        match file.write(chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) if chunk.len() > 1 => chunk = &chunk[..chunk.len() / 2],
            Err(_) => break,
        }
    }
    drop(file);

    // Cannot record: gives up, marks nothing seen, stores no ETag.
    let summary = crate::support::run_once_on(&config, store).await;
    assert_eq!(summary.recorded, 0);
    assert!(dir.alerts().is_empty());

    std::fs::remove_file(&filler).unwrap();
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2, "the items come back once space returns");
    assert_eq!(
        server.hits_of("/talks.xml").iter().filter(|hit| hit.status == 200).count(),
        2,
        "no ETag was kept from the failed run, so the feed was fetched whole again"
    );
    let store = Store::open(&config.daemon.state_dir).unwrap();
    drop(store);
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2);
}

/// An offline machine: no name resolves.
#[derive(Debug)]
struct Offline;

impl newswatch::fetch::Lookup for Offline {
    fn lookup(
        &self,
        host: String,
    ) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<std::net::IpAddr>>> {
        Box::pin(async move {
            Err(std::io::Error::other(format!("failed to look up {host}: network is unreachable")))
        })
    }
}

#[tokio::test]
async fn when_no_host_answers_feeds_are_not_penalised() {
    let dir = TestDir::new();
    let feeds: Vec<(&str, String)> = ["a", "b", "c"]
        .into_iter()
        .map(|name| (name, format!("http://{name}.offline.test/feed.xml")))
        .collect();
    dir.write_config(&feeds, "");
    let config = dir.config();
    let fetcher = || {
        newswatch::fetch::Fetcher::with_parts(
            config.daemon.fetch_settings(),
            config.daemon.guard(),
            std::sync::Arc::new(Offline),
        )
        .unwrap()
    };
    crate::support::run_once_with(&config, fetcher()).await;
    crate::support::run_once_with(&config, fetcher()).await;
    let store = Store::open(&config.daemon.state_dir).unwrap();
    for name in ["a", "b", "c"] {
        let state = store.feed_state(name).await.unwrap().unwrap();
        assert_eq!(state.consecutive_failures, 0, "{name}: {state:?}");
        let error = state.last_error.unwrap();
        assert!(error.contains("network seemed down"), "{error}");
        assert!(error.contains(&format!("cannot resolve {name}.offline.test")), "{error}");
    }
}

/// Issue 13: a refused connection is an answer (the host is up, nothing listens): the feed's
/// own failure, named as such, not "the network seems down".
#[tokio::test]
async fn a_refused_connection_names_its_cause_and_counts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener); // nothing listens there now
    let dir = TestDir::new();
    dir.write_config(&[("down", format!("http://{address}/feed.xml"))], "");
    let config = dir.config();
    run_once(&config).await;
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let state = store.feed_state("down").await.unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 1, "{state:?}");
    assert_eq!(
        state.last_error.as_deref(),
        Some(format!("refused: connection refused by {address}").as_str())
    );
}

#[tokio::test]
async fn a_dead_feed_is_penalised_while_other_hosts_answer() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    // A listener that accepts and never answers: the read timeout fires after the healthy feed
    // has answered.
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stall_url = format!("http://{}/feed.xml", stall.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stall.accept().await {
            held.push(socket);
        }
    });
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml")), ("stalled", stall_url)], "read_timeout = \"1s\"");
    let config = dir.config();
    run_once(&config).await;
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let state = store.feed_state("stalled").await.unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 1, "{state:?}");
    assert!(state.last_error.unwrap().starts_with("timeout:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_fetches_in_flight_exits_promptly_and_cleanly() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stall_addr = stall.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stall.accept().await {
            held.push(socket);
        }
    });
    let dir = TestDir::new();
    let feeds: Vec<(String, String)> =
        (0..4).map(|n| (format!("never{n}"), format!("http://{stall_addr}/{n}.xml"))).collect();
    let mut feeds: Vec<(&str, String)> =
        feeds.iter().map(|(name, url)| (name.as_str(), url.clone())).collect();
    feeds.push(("wire", server.url("/talks.xml")));
    // Long timeouts: only the shutdown can end these fetches quickly.
    dir.write_config(&feeds, "read_timeout = \"60s\"\nrequest_timeout = \"120s\"\nper_host_concurrency = 8");
    let mut daemon = dir.spawn_daemon(false);
    dir.wait_for_alerts(2).await;
    Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
    let stopping = Instant::now();
    let status = tokio::task::block_in_place(|| daemon.wait()).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(5), "took {:?}", stopping.elapsed());
    let store = Store::open(&dir.config().daemon.state_dir).unwrap();
    assert_eq!(store.feed_state("never0").await.unwrap().and_then(|state| state.etag), None);
}

fn feed_of(items: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title, link) in items {
        xml.push_str("<item>");
        if !guid.is_empty() {
            xml.push_str(&format!("<guid>{guid}</guid>"));
        }
        if !link.is_empty() {
            xml.push_str(&format!("<link>{link}</link>"));
        }
        xml.push_str(&format!("<title>{title}</title><pubDate>{{{{NOW}}}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov.</description></item>"));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test]
async fn hostile_titles_stay_one_escaped_line_and_never_become_paths() {
    let server = FixtureServer::start().await;
    let hostile = "Lavrov and Rubio hold talks &#10;&#13;&#27;[31m &#x85;&#x2028;&#x202E; {&quot;id&quot;:&quot;fake&quot;}";
    let huge = format!("Lavrov and Rubio hold talks {}", "x".repeat(2_000_000));
    server.ok(
        "/feed.xml",
        feed_of(&[("../../etc/cron.d/x", hostile, ""), ("/tmp/evil", &huge, "")]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    dir.write_config(&[("feed", server.url("/feed.xml"))], "");
    let before: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    run_once(&dir.config()).await;

    let text = std::fs::read_to_string(dir.alert_log()).unwrap();
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 2, "{text}");
    assert_eq!(text.lines().count(), 2, "one line per alert");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{2028}') && !text.contains('\u{202e}'));
    assert!(alerts.iter().any(|alert| alert.title.contains('\u{202e}')), "the text itself survives, escaped");
    assert!(alerts.iter().all(|alert| alert.title.chars().count() <= 501), "long titles are cut");
    let mut after: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    after.retain(|name| !before.contains(name));
    after.sort();
    assert_eq!(after, ["alerts.jsonl", "state"], "only the alert log and the state dir were added");
    let state: Vec<_> =
        std::fs::read_dir(dir.state_dir()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(state.iter().all(|name| name.to_string_lossy().starts_with("newswatch.")), "{state:?}");
    assert!(!std::path::Path::new("/tmp/evil").exists());
}

#[tokio::test]
async fn edited_items_and_items_without_id_or_link_alert_once() {
    let server = FixtureServer::start().await;
    server.ok(
        "/feed.xml",
        feed_of(&[
            ("", "Lavrov and Rubio hold talks without id", ""),
            ("g-1", "Lavrov and Rubio hold talks", "http://127.0.0.1:1/a?utm_source=x"),
        ]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    dir.write_config(&[("feed", server.url("/feed.xml"))], "");
    let config = dir.config();
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2);
    // The publisher edits the title and the tracking parameters: a new ETag, the same stories.
    server.ok(
        "/feed.xml",
        feed_of(&[
            ("", "Lavrov and Rubio hold talks without id", ""),
            (
                "g-1",
                "Lavrov and Rubio hold talks (updated)",
                "http://127.0.0.1:1/a?utm_source=y&utm_medium=z",
            ),
        ]),
        "application/rss+xml",
    );
    run_once(&config).await;
    assert_eq!(dir.alerts().len(), 2, "{:#?}", dir.alerts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_fails_for_a_while_backs_off_and_recovers_by_itself() {
    use crate::support::Route;
    use std::sync::Arc;
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let feed = crate::support::fixture("feeds/talks.xml");
    // Three 503s (no Retry-After), then the feed.
    server.route(
        "/flaky.xml",
        Route::PerHit(Arc::new(move |hits| {
            if hits < 3 {
                Route::Status { status: 503, location: None }
            } else {
                Route::Ok { body: feed.clone(), content_type: "application/rss+xml" }
            }
        })),
    );
    let dir = TestDir::new();
    dir.write_config(&[("flaky", server.url("/flaky.xml"))], "max_backoff = \"2s\"");
    let text =
        std::fs::read_to_string(dir.config_path()).unwrap().replace("interval = \"1m\"", "interval = \"1s\"");
    std::fs::write(dir.config_path(), text).unwrap();
    let config = dir.config();
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let fetcher =
        newswatch::fetch::Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        tokio::spawn(async move {
            newswatch::pipeline::run(&config, store, fetcher, shutdown, RunMode::Daemon).await
        })
    };
    let started = Instant::now();
    while dir.alerts_written().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never recovered: {:?}",
            server.hits_of("/flaky.xml")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    let summary = daemon.await.unwrap().expect("the pipeline ends cleanly");
    assert!(summary.failures >= 3, "{summary:?}");
    let statuses: Vec<u16> = server.hits_of("/flaky.xml").iter().map(|hit| hit.status).collect();
    assert_eq!(&statuses[..4], [503, 503, 503, 200]);
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let state = store.feed_state("flaky").await.unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 0, "success resets the failure count");
    assert_eq!(state.last_error, None);
}

/// A wall clock the test moves by hand.
#[derive(Debug)]
struct TestClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl newswatch::poll::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

async fn run_once_at(config: &newswatch::config::Config, at: chrono::DateTime<chrono::Utc>) {
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let fetcher =
        newswatch::fetch::Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(at)));
    newswatch::pipeline::run_with_clock(
        config,
        store,
        fetcher,
        tokio_util::sync::CancellationToken::new(),
        RunMode::Once,
        clock,
    )
    .await
    .expect("the pipeline runs");
}

#[tokio::test]
async fn retry_after_is_honoured_across_restarts_by_the_injected_clock() {
    use crate::support::Route;
    use std::sync::Arc;
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let feed = crate::support::fixture("feeds/talks.xml");
    // 429 "come back in 120 s" first, then the feed.
    server.route(
        "/limited.xml",
        Route::PerHit(Arc::new(move |hits| {
            if hits == 0 {
                Route::Status { status: 429, location: None }
            } else {
                Route::Ok { body: feed.clone(), content_type: "application/rss+xml" }
            }
        })),
    );
    let dir = TestDir::new();
    dir.write_config(&[("limited", server.url("/limited.xml"))], "");
    let config = dir.config();
    let start = chrono::Utc::now();
    run_once_at(&config, start).await;
    let state = Store::open(&config.daemon.state_dir).unwrap().feed_state("limited").await.unwrap().unwrap();
    // No Retry-After header on this 429: the stored deadline is the shortest wait honoured.
    let until = state.retry_after_until.expect("a 429 stores a deadline");
    assert_eq!(until - start.timestamp(), 60);

    // A restart 30 s later must not ask again; one 61 s later must.
    run_once_at(&config, start + chrono::Duration::seconds(30)).await;
    assert_eq!(server.hits_of("/limited.xml").len(), 1, "asked again before the deadline");
    run_once_at(&config, start + chrono::Duration::seconds(61)).await;
    assert_eq!(server.hits_of("/limited.xml").len(), 2);
    assert_eq!(dir.alerts().len(), 2);
}

#[tokio::test]
async fn t3_a_connect_that_never_completes_is_cut_by_the_connect_timeout() {
    // A listener with a tiny backlog that never accepts: once its queue is full the kernel drops
    // further SYNs, so a new connection hangs in the handshake, as behind a blackholing firewall.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let mut blackholed = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(_)) => break,
            Err(_elapsed) => {
                blackholed = true;
                break;
            }
        }
    }
    if !blackholed {
        eprintln!(
            "note: this kernel did not hold back the handshake; the connect-timeout case was not exercised"
        );
        return;
    }
    let dir = TestDir::new();
    dir.write_config(
        &[("blackhole", format!("http://{addr}/feed.xml"))],
        "connect_timeout = \"1s\"\nrequest_timeout = \"20s\"",
    );
    let started = Instant::now();
    run_once(&dir.config()).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let store = Store::open(&dir.config().daemon.state_dir).unwrap();
    let error = store.feed_state("blackhole").await.unwrap().unwrap().last_error.unwrap();
    assert!(error.starts_with("connect:") || error.starts_with("timeout:"), "{error}");
    drop((listener, fillers));
}
