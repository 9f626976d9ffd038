//! Supervision: a failed task stops the daemon with a non-zero exit within the grace period; a
//! closed channel ends the pollers; SIGTERM during a long classification still exits in time.

use crate::support::{FixtureServer, TestDir, serve_talks_site};
use newswatch::config::Config;
use newswatch::fetch::Fetcher;
use newswatch::model::RunMode;
use newswatch::poll::{self, PollContext};
use newswatch::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What pollers share, for pollers run directly over `config`'s feeds with `turns` turns.
fn poll_context(
    config: &Config,
    fetcher: &Fetcher,
    store: &Store,
    items: tokio::sync::mpsc::Sender<newswatch::model::Item>,
    shutdown: &CancellationToken,
    mode: RunMode,
    turns: usize,
) -> Arc<PollContext> {
    Arc::new(PollContext {
        fetcher: fetcher.clone(),
        store: store.clone(),
        items,
        shutdown: shutdown.clone(),
        mode,
        max_backoff: config.daemon.max_backoff,
        max_items_per_poll: config.daemon.max_items_per_poll,
        stats: Arc::default(),
        health: Arc::default(),
        clock: Arc::new(poll::SystemClock),
        turns: Arc::new(tokio::sync::Semaphore::new(turns)),
        leases: None,
    })
}

/// Waits for a child to exit, at most `limit`; None when it did not (it is then killed).
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().ok();
    None
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_recorder_stops_the_daemon_with_a_failure_exit() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("talks", server.url("/talks.xml"))], "shutdown_grace = \"2s\"\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["run", "--config"])
        .arg(dir.config_path())
        .current_dir(dir.path())
        .env("NEWSWATCH_FAULT", "panic:record")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The feed is polled within 5 s of start (jitter), the recorder panics on its first batch,
    // and everything else must be drained or abandoned within the 2 s grace period.
    let status = tokio::task::block_in_place(|| wait_at_most(&mut child, Duration::from_secs(20)))
        .expect("the daemon must stop when its recorder crashes, not poll on as a zombie");
    assert!(!status.success(), "a crashed stage must end in a failure exit, got {status}");
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("recorder crashed"), "{stderr}");
    assert!(dir.alerts().is_empty(), "nothing was recorded, so nothing was delivered");
}

/// A poller that panics (say on a date overflow) must never end in exit 0, in either mode.
#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_poller_ends_in_a_failure_exit() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("talks", server.url("/talks.xml"))], "shutdown_grace = \"2s\"\n");
    for once in [true, false] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"));
        command.arg("run");
        if once {
            command.arg("--once");
        }
        let mut child = command
            .arg("--config")
            .arg(dir.config_path())
            .current_dir(dir.path())
            .env("NEWSWATCH_FAULT", "panic:poll")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = tokio::task::block_in_place(|| wait_at_most(&mut child, Duration::from_secs(20)))
            .expect("a daemon whose poller panicked must stop");
        assert_eq!(status.code(), Some(1), "once={once}: {status}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains("poller talks crashed"), "{stderr}");
    }
    assert!(server.hits_of("/talks.xml").is_empty(), "the fault struck before any fetch");
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_long_classification_exits_within_the_grace_period() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("talks", server.url("/talks.xml"))], "shutdown_grace = \"1s\"\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["run", "--config"])
        .arg(dir.config_path())
        .current_dir(dir.path())
        .env("NEWSWATCH_FAULT", "sleep:classify=60000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Classification starts once the article pages have been fetched.
    let started = Instant::now();
    while server.hits_of("/articles/riyadh-talks.html").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the daemon never scraped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let terminated = Instant::now();
    let kill = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let status = tokio::task::block_in_place(|| wait_at_most(&mut child, Duration::from_secs(15)))
        .expect("SIGTERM must end the daemon");
    let took = terminated.elapsed();
    assert!(status.success(), "a requested shutdown is not a failure: {status}");
    // 1 s of grace, plus process start-up noise in a debug build on a busy machine.
    assert!(took < Duration::from_secs(4), "exited {took:?} after SIGTERM with a 1 s grace period");
    assert!(dir.alerts().is_empty(), "the stalled items were abandoned, not half-recorded");
}

/// A poller must return once nobody is left to take its items, even as a daemon that is never
/// told to shut down.
#[tokio::test]
async fn a_closed_item_channel_ends_the_pollers() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("talks", server.url("/talks.xml"))], "");
    let config = dir.config();
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    let shutdown = CancellationToken::new();
    let context = |items| poll_context(&config, &fetcher, &store, items, &shutdown, RunMode::Daemon, 4);
    let feed = config.feeds[0].clone();

    // A sleeping poller is small: a daemon holds one per feed for its whole life (10,000 feeds
    // held ~55 MB of pollers when the poll itself was inlined in the task: 5,064 bytes each in
    // a debug build; boxed, 1,848; 1,176 since `run` no longer holds its arguments beside the
    // future they move into, and the waits for a turn or a lease are boxed; 696 since the
    // pollers share one context).
    let (items, _receiver) = tokio::sync::mpsc::channel(1);
    let sleeping = poll::run(feed.clone(), context(items));
    let size = std::mem::size_of_val(&sleeping);
    assert!(size <= 800, "a poller task is {size} bytes");
    drop(sleeping);

    // Closed before the first poll: the poller returns without fetching.
    let (items, receiver) = tokio::sync::mpsc::channel(1);
    drop(receiver);
    tokio::time::timeout(Duration::from_secs(2), poll::run(feed.clone(), context(items)))
        .await
        .expect("a poller whose channel is closed must return");
    assert!(server.hits_of("/talks.xml").is_empty());

    // Closed while it sends: it takes one item, then the receiver goes away.
    let (items, mut receiver) = tokio::sync::mpsc::channel(1);
    let poller = tokio::spawn(poll::run(feed, context(items)));
    let first = tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await.unwrap();
    assert!(first.is_some(), "the poller sends its first item");
    drop(receiver);
    tokio::time::timeout(Duration::from_secs(2), poller)
        .await
        .expect("the poller must return once its channel is closed")
        .unwrap();
    assert!(!shutdown.is_cancelled());
}

/// While nothing takes items (the pipeline saturated, as in a cold round of thousands of
/// feeds), only as many feeds as there are turns are fetched; the others wait before their
/// request instead of each holding its parsed items in memory. Turns come back as items move.
#[tokio::test]
async fn pollers_waiting_on_a_full_pipeline_hold_only_their_turns() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let feeds: Vec<(String, String)> =
        (0..12).map(|n| (format!("talks{n}"), server.url(&format!("/talks.xml?copy={n}")))).collect();
    let dir = TestDir::new();
    let named: Vec<(&str, String)> = feeds.iter().map(|(name, url)| (name.as_str(), url.clone())).collect();
    dir.write_config(&named, "");
    let config = dir.config();
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    let shutdown = CancellationToken::new();
    let (items, mut receiver) = tokio::sync::mpsc::channel(1);
    let context = poll_context(&config, &fetcher, &store, items, &shutdown, RunMode::Once, 4);
    let pollers: Vec<_> =
        config.feeds.iter().map(|feed| tokio::spawn(poll::run(feed.clone(), context.clone()))).collect();
    drop(context);
    // Nobody reads: four pollers fetch, fill the channel and wait with their turn; no fifth
    // feed is fetched however long they wait.
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.hits_of("/talks.xml").len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fetched = server.hits_of("/talks.xml").len();
    assert_eq!(fetched, 4, "{fetched} feeds fetched with 4 turns and a stalled pipeline");
    // Reading the items lets every feed have its turn.
    let reader = tokio::spawn(async move { while receiver.recv().await.is_some() {} });
    for poller in pollers {
        tokio::time::timeout(Duration::from_secs(20), poller).await.expect("every poller finishes").unwrap();
    }
    assert_eq!(server.hits_of("/talks.xml").len(), 12);
    shutdown.cancel();
    reader.abort();
}
