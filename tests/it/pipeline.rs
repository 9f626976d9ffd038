//! The whole pipeline against loopback fixtures: alerts, dedup, conditional GET, backfill,
//! fallbacks, and one bad feed among good ones.

use crate::support::{FixtureServer, TestDir, fixture, run_once, serve_talks_site};
use newswatch::classify::Document;
use newswatch::store::Store;

#[tokio::test]
async fn new_matching_items_alert_once_with_the_documented_fields() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config();

    let summary = run_once(&config).await;
    assert_eq!(summary.polls, 1);
    let alerts = dir.alerts();
    let mut titles: Vec<&str> = alerts.iter().map(|alert| alert.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Kremlin says Putin and Trump discussed a summit in a phone call",
            "Lavrov and Rubio hold talks in Riyadh on ending the war",
        ],
        "the two talks stories alert; sport and the 2019 item do not"
    );

    let riyadh = alerts.iter().find(|alert| alert.title.contains("Riyadh")).unwrap();
    assert_eq!(riyadh.schema, 1);
    assert_eq!(riyadh.topic, "us-russia-talks");
    assert_eq!(riyadh.feed, "wire");
    assert!(riyadh.score > 0.0 && riyadh.score <= 1.0, "{}", riyadh.score);
    assert!(riyadh.published.is_some());
    assert!(chrono::DateTime::parse_from_rfc3339(riyadh.published.as_deref().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(&riyadh.detected_at).is_ok());
    assert!(!riyadh.matched.is_empty(), "matched explains why it fired");
    assert!(!riyadh.snippet.is_empty() && riyadh.snippet.chars().count() <= 320);
    assert_eq!(riyadh.text_source, "page");
    assert_eq!(riyadh.fallback_reason, None);
    // The relative link is resolved against the feed URL; utm_* and the fragment are gone.
    assert_eq!(riyadh.url.as_deref(), Some(server.url("/articles/riyadh-talks.html").as_str()));
    // `matched` and `snippet` are the topic's own explanation of the text the daemon read.
    let page = newswatch::extract::article(&fixture("site/riyadh-talks.html"), None, Some("utf-8")).unwrap();
    let verdict = config.topics[0].classify(&Document { title: &riyadh.title, body: &page.text });
    assert_eq!(riyadh.matched, verdict.reasons);
    assert_eq!(riyadh.snippet, verdict.snippet);
    assert!(verdict.clauses.iter().all(|clause| !clause.spans.is_empty()), "every clause has its spans");
    // The snippet comes from the article body, never the sidebar or the footer.
    assert!(!riyadh.snippet.contains("Most read") && !riyadh.snippet.contains("Leave a Reply"));

    // A second round and a restart (the store is reopened by run_once) add nothing.
    run_once(&config).await;
    run_once(&config).await;
    assert_eq!(dir.alerts(), alerts, "no duplicates across polls and restarts");
}

#[tokio::test]
async fn unchanged_feed_is_answered_304_and_not_reparsed() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config();

    let first = run_once(&config).await;
    let second = run_once(&config).await;
    let feed_hits = server.hits_of("/talks.xml");
    assert_eq!(feed_hits.len(), 2);
    assert_eq!(feed_hits[0].status, 200);
    assert!(feed_hits[1].if_none_match.is_some(), "the stored ETag is sent back");
    assert_eq!(feed_hits[1].status, 304);
    assert_eq!((first.not_modified, second.not_modified), (0, 1));
    assert_eq!(second.new_items, 0, "a 304 queues nothing");
    // Pages are fetched once, on the first round only.
    assert_eq!(server.hits_of("/articles/riyadh-talks.html").len(), 1);
}

#[tokio::test]
async fn backfill_records_old_items_as_seen_without_alerting() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    let config = dir.config();
    run_once(&config).await;

    assert!(
        !dir.alerts().iter().any(|alert| alert.title.contains("Sochi")),
        "the 2019 item is older than the 24h backfill window"
    );
    assert!(server.hits_of("/articles/sochi-2019.html").is_empty(), "baselined items are not scraped");
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let (_, seen) = store.counts().await.unwrap();
    assert_eq!(seen, 4, "all four items are remembered, the old one included");
}

#[tokio::test]
async fn a_page_that_fails_to_load_falls_back_to_the_feed_summary() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml"))], "");
    run_once(&dir.config()).await;

    let alerts = dir.alerts();
    let call = alerts.iter().find(|alert| alert.title.contains("phone call")).expect("the call story alerts");
    assert_eq!(call.text_source, "feed");
    let reason = call.fallback_reason.as_deref().unwrap();
    assert!(reason.contains("500"), "{reason}");
    assert!(call.snippet.contains("Putin") || call.snippet.contains("Trump"), "{}", call.snippet);
}

#[tokio::test]
async fn a_malformed_feed_is_reported_by_name_and_the_other_feeds_still_alert() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    server
        .ok("/broken.xml", b"{\"not\": \"a feed\"".to_vec(), "application/rss+xml")
        .ok(
            "/truncated.xml",
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><chan".to_vec(),
            "application/rss+xml",
        )
        .ok("/moscow-times.xml", fixture("feeds/moscow-times.xml"), "application/rss+xml")
        .ok("/tpm.atom", fixture("feeds/tpm.atom"), "application/atom+xml");
    let dir = TestDir::new();
    dir.write_config(
        &[
            ("broken", server.url("/broken.xml")),
            ("truncated", server.url("/truncated.xml")),
            ("wire", server.url("/talks.xml")),
            ("moscow-times", server.url("/moscow-times.xml")),
            ("tpm", server.url("/tpm.atom")),
        ],
        "",
    );
    let config = dir.config();
    let summary = run_once(&config).await;
    assert_eq!(summary.failures, 2);
    assert_eq!(dir.alerts().len(), 2, "the good feed still alerts");

    let store = Store::open(&config.daemon.state_dir).unwrap();
    let broken = store.feed_state("broken").await.unwrap().expect("the failure is stored");
    assert_eq!(broken.consecutive_failures, 1);
    assert!(broken.last_error.as_deref().unwrap_or_default().starts_with("parse:"), "{broken:?}");
    assert!(broken.next_poll_at.is_some(), "a failing feed is retried later, never disabled");
    let truncated = store.feed_state("truncated").await.unwrap().unwrap();
    assert!(truncated.last_error.unwrap_or_default().contains("no usable feed"));
    let moscow = store.feed_state("moscow-times").await.unwrap().unwrap();
    assert_eq!(moscow.items_seen, 50, "real feed read whole");
    assert_eq!(store.feed_state("tpm").await.unwrap().unwrap().items_seen, 20, "Atom read whole");
}

#[tokio::test]
async fn the_same_link_from_two_feeds_is_one_item() {
    let server = FixtureServer::start().await;
    serve_talks_site(&server);
    // Same links, other guids: only the link says it is the same story.
    let copy = String::from_utf8(fixture("feeds/talks.xml")).unwrap().replace("wire-", "copy-");
    server.ok("/copy.xml", copy.into_bytes(), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("wire", server.url("/talks.xml")), ("copy", server.url("/copy.xml"))], "");
    run_once(&dir.config()).await;
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
}

/// A round with hundreds of pages, more than the stage queues hold, must finish: the scrape
/// stage once waited to hand an article on while its other in-flight pages sat unpolled on the
/// CPU-pool permits granted to them, and the classifier waited for those permits forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_with_more_pages_than_the_queues_hold_finishes() {
    let server = FixtureServer::start().await;
    let page = fixture("site/riyadh-talks.html");
    let mut feeds = Vec::new();
    for feed in 0..6 {
        let links: Vec<String> = (0..50).map(|n| format!("{{{{BASE}}}}/p/{feed}/{n}.html")).collect();
        for n in 0..50 {
            server.ok(&format!("/p/{feed}/{n}.html"), page.clone(), "text/html; charset=utf-8");
        }
        server.ok(&format!("/f{feed}.xml"), crate::support::talks_feed(&links), "application/rss+xml");
        feeds.push((format!("f{feed}"), server.url(&format!("/f{feed}.xml"))));
    }
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(name, url)| (name.as_str(), url.clone())).collect();
    let dir = TestDir::new();
    dir.write_config(&feeds, "per_host_rate = 0\nper_host_concurrency = 8\n");
    let config = dir.config();
    let summary = tokio::time::timeout(std::time::Duration::from_secs(120), run_once(&config))
        .await
        .expect("the round must finish, not deadlock");
    assert_eq!(summary.new_items, 300);
    assert_eq!(summary.recorded, 300);
    assert_eq!(dir.alerts().len(), 300);
}
