//! Crash safety: the daemon killed with SIGKILL at random moments, again and again, must end with
//! every expected alert in the log exactly once and no torn line.

use crate::support::{FixtureServer, Route, TestDir};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Items in the feed after `hits` earlier requests: it grows by 3 items per request, so every
/// run has new work to be killed in the middle of.
fn growing_feed(hits: usize) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>growing</title>");
    for n in 0..(6 + 3 * hits) {
        xml.push_str(&format!(
            "<item><title>Lavrov and Rubio hold talks in Riyadh, round {n}</title><link>/a/{n}</link><guid>round-{n}</guid><pubDate>{{{{NOW}}}}</pubDate><description>US Secretary of State Marco Rubio and Russian Foreign Minister Sergei Lavrov met for talks, round {n}.</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_neither_loses_nor_repeats_an_alert() {
    const KILLS: usize = 50;
    let server = FixtureServer::start().await;
    server.route(
        "/feed.xml",
        Route::Dynamic { make: Arc::new(growing_feed), content_type: "application/rss+xml" },
    );
    // The pages are missing and slow to say so: a run lasts long enough to be killed anywhere,
    // and every item falls back to its (matching) feed summary.
    server.slow_not_found(Duration::from_millis(4));
    let dir = TestDir::new();
    dir.write_config(&[("growing", server.url("/feed.xml"))], "");
    let config = dir.config_path().display().to_string();
    let mut rng = fastrand::Rng::with_seed(0x6e77);
    let mut killed_running = 0;
    for _ in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .current_dir(dir.path())
            .env("NEWSWATCH_FAULT", "sleep:deliver-mid-write=15,sleep:deliver-before-mark=15")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.u64(0..150))).await;
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        child.kill().ok(); // SIGKILL
        tokio::task::block_in_place(|| child.wait()).unwrap();
    }
    assert!(killed_running >= KILLS / 2, "most kills must hit a running daemon ({killed_running})");

    // One last run to completion: it repairs the log and delivers what is pending.
    let dir_ref = &dir;
    let status = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .current_dir(dir_ref.path())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    assert!(status.success());

    let served = server.hits_of("/feed.xml").len();
    let text = std::fs::read_to_string(dir.alert_log()).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "no torn last line");
    let alerts = dir.alerts(); // panics on any line that is not a whole alert
    let mut titles: Vec<String> = alerts.iter().map(|alert| alert.title.clone()).collect();
    titles.sort();
    let before_dedup = titles.len();
    titles.dedup();
    assert_eq!(before_dedup, titles.len(), "an alert was written twice");
    let mut ids: Vec<&str> = alerts.iter().map(|alert| alert.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), alerts.len(), "an alert id was written twice");
    // The feed changes on every request (never a 304), and it only grows: the last, completed
    // run saw every item ever served, so every one of them must have alerted exactly once.
    let expected = 6 + 3 * (served - 1);
    assert_eq!(alerts.len(), expected, "after {served} feed requests");
}
