//! The binary as a user runs it: exit codes, messages, the alert reader, a second daemon,
//! and a clean stop on SIGTERM.

use crate::support::{FixtureServer, TestDir, newswatch, serve_talks_site, text};
use std::process::Command;
use std::time::{Duration, Instant};

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
    assert!(stderr.contains("unknown key `scrap`; did you mean `scrape`?"), "says why: {stderr}");
    // Issue 13: a misspelt key does not hide the other problems.
    assert!(stderr.contains("has 4 problems") && stderr.contains("defaults.interval"), "{stderr}");

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
    assert!(stderr.lines().count() >= 4, "one problem per line: {stderr}");
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
        newswatch(&["alerts", "--config", &config, "--topic", "us-russia-talk"], dir_ref)
    });
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "unknown topic \"us-russia-talk\"; did you mean \"us-russia-talks\"? (known: us-russia-talks)"
        ),
        "{stderr}"
    );
    let output = tokio::task::block_in_place(|| {
        newswatch(&["alerts", "--config", &config, "--feed", "nope"], dir_ref)
    });
    assert!(text(&output.stderr).contains("unknown feed \"nope\""), "{}", text(&output.stderr));
    let alerts_with = |args: &[&str]| {
        let mut all = vec!["alerts", "--config", config.as_str()];
        all.extend_from_slice(args);
        let output = tokio::task::block_in_place(|| newswatch(&all, dir_ref));
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    };
    assert!(alerts_with(&["--min-score", "1.01"]).contains("no alerts match the filters (2 in "));
    assert!(alerts_with(&["--since", "1m", "--until", "2000-01-01"]).contains("no alerts in the last 1m"));
    let json = alerts_with(&["--format", "json", "--limit", "1"]);
    assert_eq!(json.lines().count(), 1, "{json}");
    let grep = alerts_with(&["--grep", "RIYADH", "--format", "json"]);
    assert_eq!(grep.lines().count(), 1, "{grep}");
    let markdown = alerts_with(&["--format", "markdown", "--grep", "riyadh"]);
    assert!(
        markdown.starts_with("- **[Lavrov and Rubio hold talks in Riyadh")
            && markdown.contains("](http://127.0.0.1:"),
        "{markdown}"
    );
    let id: serde_json::Value = serde_json::from_str(grep.trim()).unwrap();
    let id = id["id"].as_str().unwrap();
    let shown = alerts_with(&["show", &id[..8]]);
    assert!(
        shown.contains("Lavrov and Rubio hold talks in Riyadh") && shown.contains("matched\n  - "),
        "{shown}"
    );

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

/// Issue 11: durations have documented ranges; none can crash a poller or the alert reader.
#[test]
fn issue_11_out_of_range_durations_are_refused_before_anything_starts() {
    let dir = TestDir::new();
    std::fs::write(
        dir.config_path(),
        "[daemon]\nread_timeout = \"300000y\"\n[defaults]\nbackfill = \"300000y\"\ninterval = \"1ns\"\n[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n",
    )
    .unwrap();
    let config = dir.config_path().display().to_string();
    let output = newswatch(&["check-config", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for key in ["daemon.read_timeout", "defaults.backfill", "defaults.interval", "out of range"] {
        assert!(stderr.contains(key), "missing {key:?} in {stderr}");
    }
    assert!(!dir.state_dir().exists(), "nothing started");

    // The alert reader: an absurd --since is an error with exit 1, not a panic (101).
    std::fs::write(
        dir.config_path(),
        "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n",
    )
    .unwrap();
    let output = newswatch(&["alerts", "--config", &config, "--since", "300000y"], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--since: \"300000y\" is out of range"),
        "{}",
        text(&output.stderr)
    );
    let output = newswatch(&["alerts", "--config", &config, "--since", "5"], &dir);
    assert!(text(&output.stderr).contains("like \"5s\", \"5m\" or \"5h\""), "{}", text(&output.stderr));
    // The longest accepted value works.
    let output = newswatch(&["alerts", "--config", &config, "--since", "36500d"], &dir);
    assert!(output.status.code() != Some(101), "{}", text(&output.stderr));
}

/// Issue 13: `alerts --follow` prints what is appended, and keeps following across a rotation
/// (the log renamed to `.1` and a new one started), like `tail -F`.
#[test]
fn alerts_follow_sees_appends_across_a_rotation() {
    use std::io::{BufRead, BufReader, Write};
    let dir = TestDir::new();
    let log = dir.path().join("alerts.jsonl");
    std::fs::write(
        dir.config_path(),
        format!(
            "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
            log.display().to_string()
        ),
    )
    .unwrap();
    let line = |id: &str| {
        format!(
            "{{\"schema\":1,\"id\":\"{id}\",\"topic\":\"us-russia-talks\",\"score\":1.0,\"title\":\"title {id}\",\"url\":null,\"feed\":\"a\",\"published\":null,\"detected_at\":\"2026-01-01T00:00:00Z\",\"matched\":[],\"snippet\":\"\",\"text_source\":\"feed\"}}\n"
        )
    };
    std::fs::write(&log, line("old")).unwrap();
    let config = dir.config_path().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["alerts", "--config", &config, "--follow", "--format", "json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start alerts --follow");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next_id = || {
        let line = lines_rx.recv_timeout(Duration::from_secs(10)).expect("a line within 10 s");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        value["id"].as_str().unwrap().to_string()
    };
    assert_eq!(next_id(), "old", "what is already there is printed first");
    std::thread::sleep(Duration::from_millis(400));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(line("appended").as_bytes())
        .unwrap();
    assert_eq!(next_id(), "appended");
    std::fs::rename(&log, dir.path().join("alerts.jsonl.1")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(&log, line("after-rotation")).unwrap();
    assert_eq!(next_id(), "after-rotation");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Issue 13: `run --once` ends with a one-line summary, and exits 3 when no feed could be
/// fetched at all, naming the real cause of each failure on one short line.
#[test]
fn run_once_with_every_feed_down_exits_3_with_a_summary() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let dir = TestDir::new();
    dir.write_config(&[("down", format!("http://{address}/feed.xml"))], "");
    let config = dir.config_path().display().to_string();
    let output = newswatch(&["run", "--once", "--config", &config], &dir);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "newswatch: 1 polls: 0 changed, 0 not modified (304), 1 failed; 0 new items, 0 alerts"
    );
    let stderr = text(&output.stderr);
    let warning =
        stderr.lines().find(|line| line.contains("poll failed")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains(&format!("connection refused by {address}")), "{warning}");
    assert!(warning.len() < 240, "one short line per feed: {warning}");
    assert!(stderr.contains("error: no feed could be fetched"), "{stderr}");
}

/// Issue 13: under systemd (Type=notify, WatchdogSec) the daemon says READY=1, pings the
/// watchdog and says STOPPING=1, over the socket systemd names in NOTIFY_SOCKET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_talks_to_systemd_over_notify_socket() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["run", "--config"])
        .arg(dir.config_path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 512];
    let started = Instant::now();
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) {
        assert!(started.elapsed() < Duration::from_secs(20), "only {seen:?}");
        let n = tokio::task::block_in_place(|| socket.recv(&mut buffer)).expect("a notification");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        seen.push('\n');
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    while !seen.contains("STOPPING=1") {
        let n = tokio::task::block_in_place(|| socket.recv(&mut buffer)).expect("STOPPING=1");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(daemon.wait().unwrap().success());
}

/// The shipped unit file starts the daemon with arguments the CLI accepts.
#[test]
fn the_shipped_systemd_unit_runs_a_valid_command() {
    use clap::Parser;
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/newswatch.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ProtectSystem=strict",
        "StateDirectory=newswatch",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|unit_line| unit_line.starts_with(line)), "missing {line}");
    }
    let exec = unit.lines().find_map(|line| line.strip_prefix("ExecStart=")).unwrap();
    let args: Vec<&str> = exec.split_whitespace().collect();
    let cli = newswatch::cli::Cli::try_parse_from(&args).unwrap_or_else(|err| panic!("{exec}: {err}"));
    assert!(matches!(cli.command, newswatch::cli::Command::Run { once: false, .. }));
}

/// Issue 13: the quick start works from the repository alone: `newswatch demo` serves its
/// embedded sample site on loopback, runs a round and shows what alerted and why.
#[test]
fn the_demo_runs_against_its_own_sample_site() {
    let dir = TestDir::new();
    let state = dir.path().join("demo-state");
    let output = newswatch(&["demo", "--state-dir", &state.display().to_string()], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("2 polls: 2 changed, 0 not modified (304), 0 failed; 6 new items"), "{stdout}");
    assert!(stdout.contains("ALERT  Lavrov and Rubio hold talks in Riyadh"), "{stdout}");
    assert!(stdout.contains("ALERT  Лавров и Рубио провели телефонный разговор"), "{stdout}");
    assert!(!stdout.contains("ALERT  Coastal storm") && !stdout.contains("ALERT  Central bank"), "{stdout}");
    assert!(state.join("alerts.jsonl").exists());
}

/// Issue 13: a refused loopback page says how to allow it.
#[test]
fn explain_on_a_loopback_url_hints_at_allow_private_networks() {
    let dir = TestDir::new();
    let output =
        newswatch(&["explain", "--topic", "us-russia-talks", "--url", "http://127.0.0.1:9/page.html"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("refused by the network guard") && stderr.contains("allow_private_networks = true"),
        "{stderr}"
    );
}

/// Issue 13: `alerts --follow` sees a line the daemon appends after the daemon rotated the log
/// (`rotate = "1KB"`: the next batch rotates the file first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_follow_sees_the_daemons_append_across_its_rotation() {
    use std::io::{BufRead, BufReader};
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let second = crate::support::talks_feed(&[server.url("/articles/second.html")]);
    server.ok("/second.xml", second, "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "per_host_rate = 0");
    let text_config = std::fs::read_to_string(dir.config_path()).unwrap().replace(
        "[[sinks]]\nkind = \"jsonl\"\n",
        "[[sinks]]\nkind = \"jsonl\"\nrotate = \"1KB\"\nkeep = 3\n",
    );
    std::fs::write(dir.config_path(), text_config).unwrap();
    let mut daemon = dir.spawn_daemon(false);
    // The two alerts may be delivered in one batch or two; with a 1 KB limit the second batch
    // already rotates the log, so count across the rotated files.
    let all_ids = || -> Vec<String> {
        newswatch::cli::alerts::read_all(&dir.alert_log())
            .unwrap()
            .into_iter()
            .map(|alert| alert.id)
            .collect()
    };
    let started = Instant::now();
    while all_ids().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the daemon wrote no 2 alerts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_ids = all_ids();

    let config = dir.config_path().display().to_string();
    let mut follow = Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["alerts", "--config", &config, "--follow", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next_id = || {
        let line = lines_rx.recv_timeout(Duration::from_secs(20)).expect("a line within 20 s");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"].as_str().unwrap().to_string()
    };
    assert_eq!(vec![next_id(), next_id()], first_ids);
    // A new feed, added by a reload: its alert goes to a freshly rotated log.
    let dir_ref = &dir;
    let output = tokio::task::block_in_place(|| {
        newswatch(
            &[
                "feeds",
                "add",
                "--config",
                &config,
                &server.url("/second.xml"),
                "--name",
                "second",
                "--reload",
            ],
            dir_ref,
        )
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    let appended = next_id();
    assert!(!first_ids.contains(&appended));
    assert!(dir.path().join("alerts.jsonl.1").exists(), "the daemon rotated the log");
    follow.kill().unwrap();
    let _ = follow.wait();
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    assert!(daemon.wait().unwrap().success());
    // The reader reads across the rotation.
    let output = newswatch(&["alerts", "--config", &config, "--format", "json"], &dir);
    assert_eq!(text(&output.stdout).lines().count(), 3);
}

/// A feed whose parse error quotes its markup: the end tag carries ESC (a screen-clearing
/// sequence), BEL, a bidi override, U+2028, U+0085, DEL and a C1 control.
const HOSTILE_MARKUP: &str = "\u{1b}[2J\u{7}\u{202e}\u{2028}\u{85}\u{7f}\u{9b}\u{2066}";

fn assert_no_unsafe(output: &str, what: &str) {
    for line in output.lines() {
        assert!(!line.chars().any(newswatch::text::is_unsafe), "raw control in {what}: {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_errors_quoting_markup_are_escaped_in_every_log_format_and_cli_output() {
    let server = FixtureServer::start().await;
    let feed = format!("<rss version=\"2.0\"><channel><title>x</title></chan{HOSTILE_MARKUP}nel></rss>");
    server.ok("/feed.xml", feed.clone().into_bytes(), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("feed", server.url("/feed.xml"))], "");
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;
    for format in ["text", "json"] {
        let output = tokio::task::block_in_place(|| {
            newswatch(&["--log-format", format, "run", "--once", "--config", &config], dir_ref)
        });
        let stderr = text(&output.stderr);
        assert_no_unsafe(&stderr, &format!("the {format} log"));
        // The data is kept, escaped: the quoted end tag is in the log.
        if format == "text" {
            assert!(stderr.contains("</chan\\u{1b}[2J\\u{7}\\u{202e}\\u{2028}\\u{85}"), "{stderr}");
        } else {
            let quoted = stderr
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter_map(|line| line["fields"]["error"].as_str().map(str::to_string))
                .find(|error| error.contains("</chan"))
                .unwrap_or_else(|| panic!("no parse error in the JSON log: {stderr}"));
            assert!(quoted.contains(HOSTILE_MARKUP), "{quoted:?}");
        }
        std::fs::remove_dir_all(dir_ref.state_dir()).unwrap();
    }

    // `feeds list` shows the stored error, `parse` the file's.
    tokio::task::block_in_place(|| newswatch(&["run", "--once", "--config", &config], dir_ref));
    let listed = text(&newswatch(&["feeds", "list", "--config", &config], &dir).stdout);
    assert!(listed.contains("last error"), "{listed}");
    assert_no_unsafe(&listed, "feeds list");
    let path = dir.path().join("hostile.xml");
    std::fs::write(&path, &feed).unwrap();
    let path = path.display().to_string();
    for args in [vec!["parse", &path], vec!["parse", "--json", &path]] {
        let output = text(&newswatch(&args, &dir).stdout);
        assert!(output.contains("</chan"), "{output}");
        assert_no_unsafe(&output, &args.join(" "));
    }
    // `extract` prints page text, which is no safer than feed text.
    let page = dir.path().join("hostile.html");
    let paragraph = format!("Lavrov and Rubio met in Riyadh today for talks {HOSTILE_MARKUP} on the war. ");
    std::fs::write(
        &page,
        format!("<html><body><article><p>{}</p></article></body></html>", paragraph.repeat(8)),
    )
    .unwrap();
    let output = text(&newswatch(&["extract", &page.display().to_string()], &dir).stdout);
    assert_no_unsafe(&output, "extract");
    let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert!(line["text"].as_str().unwrap().contains("\u{202e}"), "the text is kept, escaped: {output}");
    // `explain` quotes the text it explains.
    let output = text(
        &newswatch(
            &["explain", "--topic", "us-russia-talks", "--text", &paragraph, "--config", &config],
            &dir,
        )
        .stdout,
    );
    assert!(output.contains("Lavrov"), "{output}");
    assert_no_unsafe(&output, "explain");
}

/// Issue 13: `newswatch status` shows at a glance what failed and what was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_failing_feeds_sinks_and_the_last_alert() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml")), ("dead", server.url("/nothing-here.xml"))], "");
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;
    let before = tokio::task::block_in_place(|| newswatch(&["status", "--config", &config], dir_ref));
    assert!(text(&before.stdout).contains("no state yet"), "{}", text(&before.stdout));
    let output = tokio::task::block_in_place(|| newswatch(&["run", "--once", "--config", &config], dir_ref));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = tokio::task::block_in_place(|| newswatch(&["status", "--config", &config], dir_ref));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = text(&output.stdout);
    for expected in [
        "daemon     not running",
        "feeds      2 configured: 1 healthy, 1 failing, 0 not polled yet",
        "dead                 failed x1",
        "HTTP 404",
        "0 alerts pending",
        "last alert ",
        "(2 alerts in the log)",
    ] {
        assert!(status.contains(expected), "missing {expected:?} in\n{status}");
    }
}

#[tokio::test]
async fn check_store_reads_the_whole_database_and_names_it() {
    let dir = TestDir::new();
    let config = dir.write_config(&[("a", "http://127.0.0.1:9/feed.xml".to_string())], "");
    let config = config.to_str().unwrap();
    let db = dir.state_dir().join(newswatch::store::DB_FILE);
    let missing = newswatch(&["check-store", "--config", config], &dir);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains(&db.display().to_string()), "{}", text(&missing.stderr));

    let store = newswatch::store::Store::open(&dir.state_dir()).unwrap();
    let records = (0..3000)
        .map(|n| newswatch::store::ItemRecord {
            key: format!("https://example.org/story-{n:06}"),
            link: Some(format!("https://example.org/story-{n:06}?rss")),
            feed: "a".into(),
            ..Default::default()
        })
        .collect();
    store.record_items(records, 1).await.unwrap();
    drop(store);
    let healthy = newswatch(&["check-store", "--config", config], &dir);
    let stdout = text(&healthy.stdout);
    assert!(healthy.status.success(), "{}", text(&healthy.stderr));
    assert!(stdout.contains(&db.display().to_string()) && stdout.contains(": ok"), "{stdout}");

    // Everything into the database file, so the damage lands on pages that hold rows.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&db).unwrap();
    let middle = bytes.len() / 4096 / 2 * 4096;
    bytes[middle..middle + 4096].fill(0xAB);
    std::fs::write(&db, &bytes).unwrap();
    let damaged = newswatch(&["check-store", "--config", config], &dir);
    let stderr = text(&damaged.stderr);
    assert_eq!(damaged.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("integrity check"), "{stderr}");
}
