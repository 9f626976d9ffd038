//! The binary as a user runs it: exit codes, messages, the alert reader, a second daemon,
//! and a clean stop on SIGTERM.

use crate::support::{FixtureServer, TestDir, serve_talks_site};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn newswatch(args: &[&str], dir: &TestDir) -> Output {
    Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run newswatch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_config_gives_a_precise_error_and_exit_code_2() {
    let dir = TestDir::new();
    std::fs::write(
        dir.config_path(),
        "[defaults]\ninterval = \"often\"\n[[feeds]]\nname = \"a\"\nurl = \"ftp://example.org/rss\"\n[[feeds]]\nname = \"a\"\nurl = \"https://example.org/rss\"\nscrap = true\n[[topics]]\nid = \"us-russia-talks\"\n",
    )
    .unwrap();
    let config = dir.config_path().display().to_string();
    let output = newswatch(&["check-config", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&config), "names the file: {stderr}");
    assert!(stderr.contains("feeds[1].scrap") || stderr.contains("feeds[1]"), "names the key: {stderr}");
    assert!(stderr.contains("unknown field `scrap`"), "says why: {stderr}");

    // With the typo fixed, every remaining problem is listed at once.
    std::fs::write(
        dir.config_path(),
        "[defaults]\ninterval = \"often\"\n[[feeds]]\nname = \"a\"\nurl = \"ftp://example.org/rss\"\n[[feeds]]\nname = \"a\"\nurl = \"https://example.org/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n",
    )
    .unwrap();
    let output = newswatch(&["run", "--once", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for expected in [
        "has 3 problems",
        "defaults.interval",
        "feeds[0].url",
        "\"ftp://example.org/rss\" is not an http(s) URL",
        "feeds[1].name",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }
    assert!(!dir.state_dir().exists(), "nothing started");
}

#[test]
fn check_config_summarises_the_shipped_config() {
    let dir = TestDir::new();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/newswatch.toml");
    let output = newswatch(&["check-config", "--config", shipped], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("bbc-world") && stdout.contains("topics: us-russia-talks"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_then_read_the_alerts_with_the_cli() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml")), ("dead", server.url("/nothing-here.xml"))], "");
    let config = dir.config_path().display().to_string();

    let dir_ref = &dir;
    let output = tokio::task::block_in_place(|| newswatch(&["run", "--once", "--config", &config], dir_ref));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Events about a feed carry its name and URL.
    assert!(
        stderr.contains("feed=dead") && stderr.contains("nothing-here.xml") && stderr.contains("poll failed"),
        "{stderr}"
    );

    let output =
        tokio::task::block_in_place(|| newswatch(&["alerts", "--config", &config, "--json"], dir_ref));
    let lines: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for field in
        ["id", "topic", "score", "title", "url", "feed", "published", "detected_at", "matched", "snippet"]
    {
        assert!(lines[0].get(field).is_some(), "missing {field}");
    }

    let output =
        tokio::task::block_in_place(|| newswatch(&["alerts", "--config", &config, "--since", "1h"], dir_ref));
    let table = text(&output.stdout);
    assert!(table.contains("Lavrov and Rubio hold talks in Riyadh"), "{table}");
    let output = tokio::task::block_in_place(|| {
        newswatch(&["alerts", "--config", &config, "--topic", "other"], dir_ref)
    });
    assert!(text(&output.stdout).contains("no alerts"));

    let output = tokio::task::block_in_place(|| newswatch(&["feeds", "list", "--config", &config], dir_ref));
    let listing = text(&output.stdout);
    assert!(listing.contains("wire") && listing.contains("error x1") && listing.contains("404"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_is_refused_and_sigterm_stops_the_first_cleanly() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config_path().display().to_string();

    let mut daemon = dir.spawn_daemon(true);
    dir.wait_for_alerts(2).await;

    let dir_ref = &dir;
    let second = tokio::task::block_in_place(|| newswatch(&["run", "--once", "--config", &config], dir_ref));
    assert_eq!(second.status.code(), Some(1));
    assert!(text(&second.stderr).contains("already running"), "{}", text(&second.stderr));

    let pid = daemon.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let stopping = Instant::now();
    let status = tokio::task::block_in_place(|| daemon.wait()).unwrap();
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(10));
    assert_eq!(dir.alerts().len(), 2);
}

#[test]
fn eval_prints_the_figures_last_and_explain_shows_the_clauses() {
    let dir = TestDir::new();
    let sample = crate::support::fixture_path("relevance/sample.jsonl").display().to_string();
    let output = newswatch(&["eval", "--topic", "us-russia-talks", &sample], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let last: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert!(last[0].starts_with("F1 0.") || last[0] == "F1 1.000", "{stdout}");
    assert!(last[1].starts_with("recall "), "{stdout}");
    assert!(last[2].starts_with("precision "), "{stdout}");
    assert!(stdout.contains("true positives"), "{stdout}");

    // Several files: a table per file and pooled, each with its halves; the pooled figures last.
    let output = newswatch(&["eval", "--topic", "us-russia-talks", &sample, &sample], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let twice = text(&output.stdout);
    assert!(twice.contains("pooled (2 files)") && twice.contains("even half"), "{twice}");
    assert_eq!(twice.lines().last(), stdout.lines().last(), "the same items twice: the same F1");

    let output = newswatch(
        &[
            "explain",
            "--topic",
            "us-russia-talks",
            "--text",
            "Lavrov and Rubio held talks in Riyadh on Tuesday.",
        ],
        &dir,
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success() && stdout.contains("MATCH") && stdout.contains("[[Lavrov]]"), "{stdout}");

    let output = newswatch(&["eval", "--topic", "no-such-topic", &sample], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no topic \"no-such-topic\""));
}

#[test]
fn extract_and_parse_print_one_json_object_per_file() {
    let dir = TestDir::new();
    let page = crate::support::fixture_path("site/riyadh-talks.html").display().to_string();
    let output = newswatch(&["extract", &page, "missing.html"], &dir);
    assert_eq!(output.status.code(), Some(1), "a missing file is an error");
    let line: serde_json::Value = serde_json::from_str(text(&output.stdout).lines().next().unwrap()).unwrap();
    assert!(line["text"].as_str().unwrap().contains("four hours of talks"));
    assert!(!line["text"].as_str().unwrap().contains("Most read"));

    let feed = crate::support::fixture_path("feeds/moscow-times.xml").display().to_string();
    let output = newswatch(&["parse", "--json", &feed, &page], &dir);
    assert!(output.status.success(), "a file that is not a feed is reported, not an error");
    let lines: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["items"], 50);
    assert_eq!(lines[1]["ok"], false);
    assert!(lines[1]["error"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_raw_control_characters_from_feeds() {
    let server = FixtureServer::start().await;
    let feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>x1</guid><title>Lavrov and Rubio hold talks &#27;[31mRED&#27;[0m &#x202E;txt.exe</title><pubDate>{{NOW}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov.</description></item></channel></rss>";
    server.ok("/feed.xml", feed.as_bytes().to_vec(), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("feed", server.url("/feed.xml"))], "");
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;
    for format in ["text", "json"] {
        let output = tokio::task::block_in_place(|| {
            newswatch(&["--log-format", format, "run", "--once", "--config", &config], dir_ref)
        });
        assert!(output.status.success());
        let stderr = text(&output.stderr);
        assert!(!stderr.contains('\u{1b}'), "raw ESC in the {format} log: {stderr:?}");
        assert!(!stderr.contains('\u{202e}'), "raw bidi override in the {format} log");
        if format == "text" {
            assert!(stderr.contains("alert") && stderr.contains("feed=feed"), "{stderr}");
        }
        std::fs::remove_dir_all(dir_ref.state_dir()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_config_and_keeps_the_running_one_otherwise() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    server.ok("/moscow-times.xml", crate::support::fixture("feeds/moscow-times.xml"), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let good = std::fs::read_to_string(dir.config_path()).unwrap();
    let mut daemon = dir.spawn_daemon(true);
    let pid = daemon.id().to_string();
    dir.wait_for_alerts(2).await;

    // A broken config: the daemon says so and goes on with the old one.
    std::fs::write(dir.config_path(), "[daemon]\nstate_dir = 1\n").unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(daemon.try_wait().unwrap().is_none(), "a bad reload must not stop the daemon");

    // A good config with one more feed: the new feed is polled.
    let with_feed = good.replace(
        "[[topics]]",
        &format!(
            "[[feeds]]\nname = \"moscow-times\"\nurl = {:?}\n\n[[topics]]",
            server.url("/moscow-times.xml")
        ),
    );
    std::fs::write(dir.config_path(), with_feed).unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let reloaded = Instant::now();
    while server.hits_of("/moscow-times.xml").is_empty() {
        assert!(reloaded.elapsed() < Duration::from_secs(20), "the new feed was never polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let output = tokio::task::block_in_place(|| daemon.wait_with_output()).unwrap();
    assert!(output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("reload refused; the running configuration stays"), "{stderr}");
    assert!(stderr.contains("reloading the configuration"), "{stderr}");
    assert_eq!(dir.alerts().len(), 2, "no alert repeated by the restart of the pipeline");
}
