//! Alerts by story, end to end against loopback feeds: reprints of one article on two hosts are
//! one `new_story`, another event is its own story, updates are rate-limited and carry the
//! newcomers, `suppress` only records, a restart keeps story membership, and kill -9 between an
//! update and its delivery loses and duplicates nothing.

use crate::support::{FixtureServer, Route, TestDir, newswatch, run_once};
use newswatch::alert::Alert;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const TALKS: &str = "US Secretary of State Marco Rubio and Russian Foreign Minister Sergei Lavrov met in Riyadh on Tuesday for more than four hours of talks, the first high-level contact between the two governments since the war in Ukraine began. The two sides agreed to restore the staffing of their embassies, to appoint teams to work on a path to ending the war, and to explore economic cooperation, a State Department spokeswoman said after the meeting at the Diriyah Palace. Lavrov told reporters the conversation had been useful and that both delegations had listened to each other.";

pub(crate) const CALL: &str = "Russian Foreign Minister Sergei Lavrov and US Secretary of State Marco Rubio spoke by phone on Saturday about a prisoner exchange and the next round of consultations on embassy operations, the Russian foreign ministry said in a statement. The call, initiated by the American side, lasted about forty minutes; officials in Washington confirmed it but gave no details of the exchange.";

/// The talks article as reprint `n` prints it: the same text between its own boilerplate.
pub(crate) fn reprint(n: usize) -> String {
    format!(
        "Sign up for newsletter number {n} of our briefing. {TALKS} Copyright 2026 outlet {n}. Read more world news."
    )
}

/// An RSS feed of (guid, title, path, text) items dated now; pages are not served, so every
/// item is classified and clustered on its feed text.
pub(crate) fn rss(items: &[(String, String, String, String)]) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title, path, text) in items {
        xml.push_str(&format!(
            "<item><title>{title}</title><link>{{{{BASE}}}}{path}</link><guid isPermaLink=\"false\">{guid}</guid><pubDate>{{{{NOW}}}}</pubDate><description>{text}</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

pub(crate) fn item(guid: &str, title: &str, text: &str) -> (String, String, String, String) {
    (guid.to_string(), title.to_string(), format!("/{guid}.html"), text.to_string())
}

/// Writes a config watching `feeds` with the us-russia-talks topic and `topic_lines` added to
/// it (e.g. `update_every = "2s"`).
fn write_config(dir: &TestDir, feeds: &[(&str, String)], topic_lines: &str) {
    let mut text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nrequest_timeout = \"5s\"\nread_timeout = \"3s\"\n\n[defaults]\ninterval = \"1m\"\nbackfill = \"24h\"\nscrape = false\n\n",
        dir.state_dir().display().to_string()
    );
    for (name, url) in feeds {
        text.push_str(&format!("[[feeds]]\nname = {name:?}\nurl = {url:?}\n\n"));
    }
    text.push_str(&format!("[[topics]]\nid = \"us-russia-talks\"\n{topic_lines}\n\n"));
    text.push_str(&format!(
        "[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        dir.alert_log().display().to_string()
    ));
    std::fs::write(dir.config_path(), text).unwrap();
}

fn kinds(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|alert| alert.kind.as_deref().unwrap_or("-")).collect()
}

/// `newswatch stories --json` on the test's config: one JSON value per story.
fn stories(dir: &TestDir) -> Vec<serde_json::Value> {
    let output = newswatch(&["stories", "--json", "--config", &dir.config_path().display().to_string()], dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprints_on_two_hosts_are_one_new_story_and_another_event_its_own() {
    let wire = FixtureServer::start_on("127.0.0.1").await;
    let gazette = FixtureServer::start_on("127.0.0.2").await;
    wire.ok(
        "/wire.xml",
        rss(&[
            item("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS),
            item("call", "Lavrov and Rubio discuss prisoner exchange in phone call", CALL),
        ]),
        "application/rss+xml",
    );
    gazette.ok(
        "/gazette.xml",
        rss(&[item("reprint", "Rubio, Lavrov meet in Saudi capital", &reprint(1))]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    write_config(&dir, &[("wire", wire.url("/wire.xml")), ("gazette", gazette.url("/gazette.xml"))], "");
    let summary = run_once(&dir.config()).await;
    assert_eq!(summary.recorded, 3, "{summary:?}");

    let alerts = dir.alerts();
    assert_eq!(kinds(&alerts), ["new_story", "new_story"], "{alerts:#?}");
    let story_of = |needle: &str| {
        alerts.iter().find(|alert| alert.title.contains(needle)).and_then(|alert| alert.story.clone())
    };
    assert!(story_of("phone call").is_some());
    assert_ne!(story_of("phone call"), story_of("Riyadh").or(story_of("Saudi")), "two events, two stories");
    assert!(alerts.iter().all(|alert| alert.story_items.is_some() && alert.story_outlets.is_some()));

    // The reprint joined the talks story as a near copy, from another outlet.
    let listed = stories(&dir);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let talks = listed.iter().find(|story| story["items"] == 2).expect("the talks story has two items");
    assert_eq!(talks["outlets"], 2);
    let whys: Vec<&str> =
        talks["members"].as_array().unwrap().iter().map(|member| member["why"].as_str().unwrap()).collect();
    assert_eq!(whys, ["new", "near_copy"], "{talks:#}");
    // Human output names the why too.
    let table = newswatch(&["stories", "--config", &dir.config_path().display().to_string()], &dir);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("near_copy") && table.contains("2 items, 2 outlets"), "{table}");
    // `alerts --stories` puts each alert under its story.
    let grouped =
        newswatch(&["alerts", "--stories", "--config", &dir.config_path().display().to_string()], &dir);
    let grouped = String::from_utf8(grouped.stdout).unwrap();
    assert_eq!(grouped.lines().filter(|line| line.starts_with("story ")).count(), 2, "{grouped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_rate_limited_and_carry_the_newcomers_and_counts() {
    let server = FixtureServer::start().await;
    // Request n serves the article and n reprints.
    server.route(
        "/feed.xml",
        Route::Dynamic {
            make: Arc::new(|hits| {
                let mut items = vec![item("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS)];
                for n in 1..=hits.min(3) {
                    items.push(item(
                        &format!("reprint-{n}"),
                        &format!("Rubio and Lavrov meet, reprint {n}"),
                        &reprint(n),
                    ));
                }
                rss(&items)
            }),
            content_type: "application/rss+xml",
        },
    );
    let dir = TestDir::new();
    write_config(&dir, &[("wire", server.url("/feed.xml"))], "update_every = \"3s\"");
    let config = dir.config();
    let started = std::time::Instant::now();
    run_once(&config).await; // the article: new_story
    run_once(&config).await; // reprint 1, within 3 s of the new_story: held
    let alerts = dir.alerts();
    if started.elapsed() < Duration::from_secs(3) {
        assert_eq!(kinds(&alerts), ["new_story"], "an update within update_every: {alerts:#?}");
    }
    tokio::time::sleep(Duration::from_millis(3200)).await;
    run_once(&config).await; // reprint 2 arrives; the held update is due: one update with both
    let alerts = dir.alerts();
    assert_eq!(kinds(&alerts), ["new_story", "update"], "{alerts:#?}");
    let update = &alerts[1];
    assert_eq!(update.story, alerts[0].story);
    let newcomers: Vec<&str> = update.newcomers.iter().map(|newcomer| newcomer.title.as_str()).collect();
    assert!(newcomers.contains(&"Rubio and Lavrov meet, reprint 1"), "{update:#?}");
    assert!(update.newcomers.iter().all(|newcomer| newcomer.feed == "wire" && newcomer.url.is_some()));
    assert_eq!(update.story_items, Some(1 + newcomers.len() as u32), "counts at the update: {update:#?}");
    assert_ne!(update.id, alerts[0].id);

    run_once(&config).await; // reprint 3: held again (the last alert was just now)
    assert_eq!(dir.alerts().len(), 2, "{:#?}", dir.alerts());
    tokio::time::sleep(Duration::from_millis(3200)).await;
    run_once(&config).await; // nothing new; the held update goes out on its own
    let alerts = dir.alerts();
    assert_eq!(kinds(&alerts), ["new_story", "update", "update"], "{alerts:#?}");
    let all_newcomers: Vec<&str> = alerts[1..]
        .iter()
        .flat_map(|alert| alert.newcomers.iter().map(|newcomer| newcomer.title.as_str()))
        .collect();
    assert_eq!(all_newcomers.len(), 3, "every reprint reported once: {all_newcomers:?}");
    assert_eq!(alerts[2].story_items, Some(4));
    let detected = |alert: &Alert| chrono::DateTime::parse_from_rfc3339(&alert.detected_at).unwrap();
    assert!(detected(&alerts[2]) - detected(&alerts[1]) >= chrono::TimeDelta::seconds(3), "rate limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_records_later_items_without_alerting() {
    let server = FixtureServer::start().await;
    server.route(
        "/feed.xml",
        Route::Dynamic {
            make: Arc::new(|hits| {
                let mut items = vec![item("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS)];
                if hits > 0 {
                    items.push(item("reprint-1", "Rubio and Lavrov meet, reprint 1", &reprint(1)));
                }
                rss(&items)
            }),
            content_type: "application/rss+xml",
        },
    );
    let dir = TestDir::new();
    write_config(
        &dir,
        &[("wire", server.url("/feed.xml"))],
        "on_same_story = \"suppress\"\nupdate_every = \"1s\"",
    );
    let config = dir.config();
    run_once(&config).await;
    run_once(&config).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    run_once(&config).await;
    assert_eq!(kinds(&dir.alerts()), ["new_story"]);
    let listed = stories(&dir);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["items"], 2, "the suppressed item is recorded in its story: {listed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_new_item_joins_the_story_it_belongs_to() {
    let first = FixtureServer::start().await;
    first.ok(
        "/a.xml",
        rss(&[item("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS)]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    write_config(&dir, &[("a", first.url("/a.xml"))], "");
    run_once(&dir.config()).await;
    // A new process (the store is closed and opened again), and a feed it never polled.
    let second = FixtureServer::start_on("127.0.0.2").await;
    second.ok(
        "/b.xml",
        rss(&[item("reprint", "Rubio, Lavrov meet in Saudi capital", &reprint(7))]),
        "application/rss+xml",
    );
    write_config(&dir, &[("a", first.url("/a.xml")), ("b", second.url("/b.xml"))], "");
    let status = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config"])
            .arg(dir.config_path())
            .current_dir(dir.path())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    assert!(status.success());
    assert_eq!(kinds(&dir.alerts()), ["new_story"], "the reprint is no new story");
    let listed = stories(&dir);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["items"], 2);
    assert_eq!(listed[0]["members"][1]["why"], "near_copy");
}

/// Request n serves the article and the first min(n, cap) reprints.
fn growing(cap: usize) -> Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync> {
    Arc::new(move |hits| {
        let mut items = vec![item("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS)];
        for n in 1..=hits.min(cap) {
            items.push(item(
                &format!("reprint-{n}"),
                &format!("Rubio and Lavrov meet, reprint {n}"),
                &reprint(n),
            ));
        }
        rss(&items)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_a_story_update_and_its_delivery_loses_and_repeats_nothing() {
    const KILLS: usize = 16;
    let server = FixtureServer::start().await;
    server.route("/feed.xml", Route::Dynamic { make: growing(KILLS), content_type: "application/rss+xml" });
    let dir = TestDir::new();
    write_config(&dir, &[("wire", server.url("/feed.xml"))], "update_every = \"1s\"");
    let config = dir.config_path().display().to_string();
    let run = |fault: &str| {
        Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .current_dir(dir.path())
            .env("NEWSWATCH_FAULT", fault)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = fastrand::Rng::with_seed(0x5707);
    for _ in 0..KILLS {
        // Updates are slow to leave the recorder and deliveries slow at both ends: a kill lands
        // between an update's commit and its write, in the middle of the write, or between
        // the write and its mark.
        let mut child = run("sleep:story-update=60,sleep:deliver-mid-write=40,sleep:deliver-before-mark=40");
        tokio::time::sleep(Duration::from_millis(rng.u64(20..400))).await;
        child.kill().ok(); // SIGKILL
        tokio::task::block_in_place(|| child.wait()).unwrap();
        // Let update_every pass now and then, so updates fall due in later runs.
        if rng.bool() {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    // Runs to completion until the feed has served every reprint, then twice more with nothing
    // new: a reprint first served by a run is held for an update that is only due in a later run
    // (update_every), so the runs stop only after two that found nothing new.
    let mut quiet_runs = 0;
    for _ in 0..KILLS + 3 {
        let nothing_new = server.hits_of("/feed.xml").len() > KILLS;
        let mut child = run("");
        assert!(tokio::task::block_in_place(|| child.wait()).unwrap().success());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        quiet_runs += usize::from(nothing_new);
        if quiet_runs == 2 {
            break;
        }
    }
    assert_eq!(quiet_runs, 2, "the feed kept growing");
    let text = std::fs::read_to_string(dir.alert_log()).unwrap();
    assert!(text.ends_with('\n'), "no torn last line");
    let alerts = dir.alerts();
    let mut ids: Vec<&str> = alerts.iter().map(|alert| alert.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), alerts.len(), "an alert id was written twice");
    assert_eq!(kinds(&alerts).iter().filter(|kind| **kind == "new_story").count(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind.as_deref(), Some("new_story"));
    // Every item is reported exactly once: the article by the new_story, each reprint served
    // as a newcomer of exactly one update.
    let mut reported: Vec<String> = alerts[1..]
        .iter()
        .flat_map(|alert| alert.newcomers.iter().map(|newcomer| newcomer.title.clone()))
        .collect();
    reported.push(alerts[0].title.clone());
    reported.sort();
    let before = reported.len();
    reported.dedup();
    assert_eq!(before, reported.len(), "an item was reported twice: {reported:?}");
    // The last request served the article and min(requests before it, KILLS) reprints.
    let served = server.hits_of("/feed.xml").len();
    assert_eq!(reported.len(), 1 + (served - 1).min(KILLS), "every item reported: {reported:?}");
    assert!(alerts.iter().all(|alert| alert.story == alerts[0].story));
    assert!(alerts.len() >= 3, "updates went out across the kills: {}", alerts.len());
}

#[test]
fn a_bad_on_same_story_or_update_every_is_a_config_error_naming_the_key() {
    let dir = TestDir::new();
    write_config(
        &dir,
        &[("wire", "http://127.0.0.1:9/feed.xml".to_string())],
        "on_same_story = \"mute\"\nupdate_every = \"soon\"",
    );
    let output = newswatch(&["check-config", "--config", &dir.config_path().display().to_string()], &dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("topics[0].on_same_story") && stderr.contains("\"mute\""), "{stderr}");
    assert!(stderr.contains("topics[0].update_every"), "{stderr}");
    let config_text = std::fs::read_to_string(dir.config_path()).unwrap();
    std::fs::write(
        dir.config_path(),
        config_text.replace("on_same_story = \"mute\"\nupdate_every = \"soon\"", "")
            + "\n[stories]\nwindow = \"5m\"\n",
    )
    .unwrap();
    let output = newswatch(&["check-config", "--config", &dir.config_path().display().to_string()], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("stories.window"));
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The labelled story set (tests/fixtures/stories) served as one feed in published order, each
/// item's guid its id: the items the topic matches are the positives; the daemon's `new_story`
/// alerts are compared with the number of distinct gold stories among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_story_alerts_match_the_labelled_stories_of_the_positives() {
    let fixtures = crate::support::fixture_path("stories");
    let mut items: Vec<serde_json::Value> = std::fs::read_to_string(fixtures.join("items.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    items.sort_by(|a, b| a["published"].as_str().cmp(&b["published"].as_str()));
    let gold: std::collections::HashMap<String, String> =
        std::fs::read_to_string(fixtures.join("labels.jsonl"))
            .unwrap()
            .lines()
            .map(|line| {
                let label: serde_json::Value = serde_json::from_str(line).unwrap();
                (label["id"].as_str().unwrap().to_string(), label["story"].as_str().unwrap().to_string())
            })
            .collect();
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>set</title>");
    for item in &items {
        let published = chrono::DateTime::parse_from_rfc3339(item["published"].as_str().unwrap())
            .or_else(|_| {
                chrono::DateTime::parse_from_rfc3339(&format!(
                    "{}T12:00:00Z",
                    item["published"].as_str().unwrap()
                ))
            })
            .unwrap();
        let link =
            item["url"].as_str().map(|url| format!("<link>{}</link>", xml_escape(url))).unwrap_or_default();
        xml.push_str(&format!(
            "<item><title>{}</title>{link}<guid isPermaLink=\"false\">{}</guid><pubDate>{}</pubDate><description>{}</description></item>",
            xml_escape(item["title"].as_str().unwrap_or_default()),
            xml_escape(item["id"].as_str().unwrap()),
            published.to_rfc2822(),
            xml_escape(item["text"].as_str().unwrap_or_default()),
        ));
    }
    xml.push_str("</channel></rss>");
    let server = FixtureServer::start().await;
    server.ok("/set.xml", xml.into_bytes(), "application/rss+xml");
    let dir = TestDir::new();
    write_config(&dir, &[("set", server.url("/set.xml"))], "on_same_story = \"suppress\"");
    // Every item is new (a backfill of ten years), and one response holds them all.
    let config_text = std::fs::read_to_string(dir.config_path())
        .unwrap()
        .replace("backfill = \"24h\"", "backfill = \"3650d\"")
        .replace("read_timeout = \"3s\"\n", "read_timeout = \"3s\"\nmax_items_per_poll = 1000\n");
    std::fs::write(dir.config_path(), config_text).unwrap();
    run_once(&dir.config()).await;

    let output = newswatch(
        &[
            "stories",
            "--json",
            "--since",
            "1h",
            "--limit",
            "100000",
            "--config",
            &dir.config_path().display().to_string(),
        ],
        &dir,
    );
    assert!(output.status.success());
    let mut positive_stories = std::collections::HashSet::new();
    let mut positives = 0;
    let mut positive_ids = Vec::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let story: serde_json::Value = serde_json::from_str(line).unwrap();
        for member in story["members"].as_array().unwrap() {
            if member["topics"].as_array().unwrap().is_empty() {
                continue;
            }
            let id = member["key"].as_str().unwrap().rsplit('#').next().unwrap();
            positive_ids.push(id.to_string());
            positives += 1;
            positive_stories.insert(gold[id].clone());
        }
    }
    let new_stories = kinds(&dir.alerts()).iter().filter(|kind| **kind == "new_story").count();
    let distinct = positive_stories.len();
    // The same items clustered offline (`newswatch cluster`): the daemon must decide as it does.
    let offline = newswatch(&["cluster", &fixtures.join("items.jsonl").display().to_string()], &dir);
    assert!(offline.status.success());
    let offline_story: std::collections::HashMap<String, String> = String::from_utf8(offline.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let decision: serde_json::Value = serde_json::from_str(line).unwrap();
            (decision["id"].as_str().unwrap().to_string(), decision["story"].as_str().unwrap().to_string())
        })
        .collect();
    let offline_stories: std::collections::HashSet<&String> =
        positive_ids.iter().map(|id| &offline_story[id]).collect();
    println!(
        "labelled set: {positives} positives, {distinct} gold stories among them, {} offline stories, {new_stories} new_story alerts",
        offline_stories.len()
    );
    // The gold stories the clusterer splits among the positives, for whoever works on recall.
    let mut split: std::collections::BTreeMap<&str, std::collections::HashSet<&String>> =
        std::collections::BTreeMap::new();
    for id in &positive_ids {
        split.entry(gold[id].as_str()).or_default().insert(&offline_story[id]);
    }
    for (story, parts) in split.iter().filter(|(_, parts)| parts.len() > 1) {
        println!("  split among positives: {story} in {} stories", parts.len());
    }
    assert!(positives > 20, "the topic matches part of the set ({positives})");
    let off = |count: usize, reference: usize| count.abs_diff(reference) as f64 / reference as f64;
    assert!(
        off(new_stories, offline_stories.len()) <= 0.10,
        "{new_stories} new_story alerts, {} stories offline",
        offline_stories.len()
    );
    // Against the gold stories the gap is the clusterer's recall (README, "Stories"): issue 12's
    // target is within 10 % (93 alerts for 85 stories when this was written; 89 for 84 after
    // the recall round).
    assert!(off(new_stories, distinct) <= 0.10, "{new_stories} new_story alerts for {distinct} stories");
}
