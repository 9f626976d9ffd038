//! `newswatch feeds add | remove | import | export | check` as a user runs them, against
//! loopback servers, and a reload that makes a running daemon poll a feed it was just given.

use crate::support::{FixtureServer, TestDir, fixture, fixture_path, newswatch, serve_talks_site, text};
use std::process::Command;
use std::time::{Duration, Instant};

/// A config with comments, as a user keeps it.
fn commented_config(dir: &TestDir, first_feed: &str) -> String {
    let config = format!(
        "# my newswatch config\n[daemon]\nstate_dir = {:?}   # state lives here\nallow_private_networks = true\nper_host_rate = 0\n\n# the wire\n[[feeds]]\nname = \"wire\"          # keep this one\nurl = {first_feed:?}\n\n[[topics]]\nid = \"us-russia-talks\"\n\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        dir.state_dir().display().to_string(),
        dir.alert_log().display().to_string()
    );
    std::fs::write(dir.config_path(), &config).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_add_discovers_a_pages_feed_and_keeps_comments_then_remove_takes_it_out() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let page = format!(
        "<html><head><title>Talks</title><link rel=\"alternate\" type=\"application/rss+xml\" title=\"Talks\" href=\"{}\"></head><body>news</body></html>",
        "/talks.xml"
    );
    server.ok("/", page.into_bytes(), "text/html; charset=utf-8");
    let two = "<html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/talks.xml\"><link rel=\"alternate\" type=\"application/atom+xml\" href=\"/tpm.atom\"></head></html>";
    server.ok("/two.html", two.as_bytes().to_vec(), "text/html");
    server.ok("/tpm.atom", fixture("feeds/tpm.atom"), "application/atom+xml");
    let dir = TestDir::new();
    let original = commented_config(&dir, "http://127.0.0.1:9/wire.xml");
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;

    let output = tokio::task::block_in_place(|| {
        newswatch(
            &["feeds", "add", "--config", &config, &server.url("/"), "--name", "talks", "--interval", "5m"],
            dir_ref,
        )
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("found the feed {}", server.url("/talks.xml"))), "{stdout}");
    assert!(stdout.contains("added feed \"talks\"") && stdout.contains("from its next start"), "{stdout}");
    let edited = std::fs::read_to_string(dir.config_path()).unwrap();
    let added =
        format!("[[feeds]]\nname = \"talks\"\nurl = \"{}\"\ninterval = \"5m\"\n\n", server.url("/talks.xml"));
    assert!(edited.contains(&added), "{edited}");
    assert_eq!(edited.replace(&added, ""), original, "everything else is kept as it was, comments included");

    // Two feeds on one page: list them, add none.
    let output = tokio::task::block_in_place(|| {
        newswatch(&["feeds", "add", "--config", &config, &server.url("/two.html")], dir_ref)
    });
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains(&server.url("/tpm.atom")), "{}", text(&output.stdout));
    assert!(text(&output.stderr).contains("several feeds found; none added"), "{}", text(&output.stderr));
    // The same feed again is refused by its URL.
    let output = tokio::task::block_in_place(|| {
        newswatch(&["feeds", "add", "--config", &config, &server.url("/talks.xml")], dir_ref)
    });
    assert!(text(&output.stderr).contains("is already watched as \"talks\""), "{}", text(&output.stderr));

    let output = tokio::task::block_in_place(|| {
        newswatch(&["feeds", "remove", "--config", &config, "talks"], dir_ref)
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(dir.config_path()).unwrap().trim_end(), original.trim_end());
    let output =
        tokio::task::block_in_place(|| newswatch(&["feeds", "remove", "--config", &config, "nope"], dir_ref));
    assert!(
        text(&output.stderr).contains("no feed named \"nope\" (known: wire)"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn opml_import_then_export_round_trips_names_and_urls() {
    let dir = TestDir::new();
    commented_config(&dir, "http://127.0.0.1:9/wire-main.xml");
    let config = dir.config_path().display().to_string();
    let opml = fixture_path("opml/subscriptions.opml").display().to_string();
    let output = newswatch(&["feeds", "import", "--config", &config, &opml], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("imported 3 feeds"), "{}", text(&output.stdout));
    let edited = std::fs::read_to_string(dir.config_path()).unwrap();
    assert!(
        edited.contains(
            "name = \"wire-one\"\nurl = \"http://127.0.0.1:9/wire.xml\"\ntags = [\"World\", \"Wires\"]"
        ),
        "{edited}"
    );
    assert!(edited.contains("# the wire"), "comments kept: {edited}");
    // Importing again adds nothing.
    let output = newswatch(&["feeds", "import", "--config", &config, &opml], &dir);
    assert!(text(&output.stdout).contains("no new feeds (3 already watched)"), "{}", text(&output.stdout));

    let output = newswatch(&["feeds", "export", "--config", &config], &dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let exported = dir.path().join("exported.opml");
    std::fs::write(&exported, &output.stdout).unwrap();
    // Into a fresh config: the same names and URLs come back.
    let other = TestDir::new();
    std::fs::write(other.config_path(), "[[feeds]]\nname = \"seed\"\nurl = \"http://127.0.0.1:9/seed.xml\"\n[[topics]]\nid = \"us-russia-talks\"\n").unwrap();
    let other_config = other.config_path().display().to_string();
    let output =
        newswatch(&["feeds", "import", "--config", &other_config, &exported.display().to_string()], &other);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let names_and_urls = |path: &std::path::Path| -> Vec<(String, String)> {
        let config = newswatch::config::Config::load_file(path).unwrap();
        config.feeds.iter().map(|feed| (feed.name.clone(), feed.url.to_string())).collect()
    };
    let mut original = names_and_urls(&dir.config_path());
    let mut round_trip = names_and_urls(&other.config_path());
    round_trip.retain(|(name, _)| name != "seed");
    original.sort();
    round_trip.sort();
    assert_eq!(original, round_trip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_check_shows_what_would_alert_and_stores_nothing() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    commented_config(&dir, "http://127.0.0.1:9/wire.xml");
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;
    let output = tokio::task::block_in_place(|| {
        newswatch(&["feeds", "check", "--config", &config, &server.url("/talks.xml")], dir_ref)
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("format    rss2.0"), "{stdout}");
    assert!(
        stdout.contains("! ")
            && stdout.contains("Lavrov and Rubio hold talks in Riyadh")
            && stdout.contains("[us-russia-talks "),
        "{stdout}"
    );
    assert!(stdout.contains("would alert"), "{stdout}");
    assert!(!dir.state_dir().exists(), "no state written");
}

/// Issue 13: a reload that adds a feed, which the running daemon then polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_add_with_reload_makes_the_running_daemon_poll_it() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    server.ok("/tpm.atom", fixture("feeds/tpm.atom"), "application/atom+xml");
    let dir = TestDir::new();
    commented_config(&dir, &server.url("/tpm.atom"));
    let mut daemon = dir.spawn_daemon(false);
    let started = Instant::now();
    while server.hits_of("/tpm.atom").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the daemon never polled its first feed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.hits_of("/talks.xml").is_empty());
    let config = dir.config_path().display().to_string();
    let dir_ref = &dir;
    let output = tokio::task::block_in_place(|| {
        newswatch(
            &["feeds", "add", "--config", &config, &server.url("/talks.xml"), "--name", "talks", "--reload"],
            dir_ref,
        )
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("sent SIGHUP to the daemon"), "{}", text(&output.stdout));
    dir.wait_for_alerts(1).await;
    assert!(!server.hits_of("/talks.xml").is_empty(), "the new feed was polled");
    assert!(dir.alerts().iter().any(|alert| alert.feed == "talks"));
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    let dir = TestDir::new();
    for (shell, marker) in
        [("bash", "_newswatch()"), ("zsh", "#compdef newswatch"), ("fish", "complete -c newswatch")]
    {
        let output = newswatch(&["completions", shell], &dir);
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        assert!(
            script.contains(marker) && script.contains("feeds"),
            "{shell}: {}",
            &script[..script.len().min(300)]
        );
    }
}
