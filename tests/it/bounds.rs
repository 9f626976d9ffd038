//! Issue 11's bounds, end to end on loopback: keys one feed cannot forge for another, items
//! whose guid changes every poll, and fairness in scraping.

use crate::support::{FixtureServer, TestDir, run_once};

/// An RSS document with one item per (guid, title, optional link), dated now, each with a
/// description about US–Russia talks (so it matches the default topic when its title does).
fn rss(items: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title, link) in items {
        let link = link.map(|link| format!("<link>{link}</link>")).unwrap_or_default();
        xml.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title>{link}<pubDate>{}</pubDate>\
             <description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister \
             Sergei Lavrov in Riyadh.</description></item>",
            chrono::Utc::now().to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test]
async fn a_feed_cannot_shadow_another_feeds_opaque_guid() {
    let server = FixtureServer::start().await;
    let victim_url = server.url("/b.xml");
    // Feed B: a real story with an opaque guid and no link (its key is all that identifies it).
    server.ok(
        "/b.xml",
        rss(&[("12345", "Lavrov and Rubio hold talks in Riyadh", None)]),
        "application/rss+xml",
    );
    // Feed A, polled first: a URI guid built from B's URL and B's opaque guid.
    let forged = format!("{victim_url}#12345");
    server.ok("/a.xml", rss(&[(&forged, "Weather for the weekend", None)]), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("a", server.url("/a.xml"))], "");
    run_once(&dir.config()).await;
    let before = dir.alerts().len();

    dir.write_config(&[("a", server.url("/a.xml")), ("b", victim_url.clone())], "");
    run_once(&dir.config()).await;
    let alerts = dir.alerts();
    let from_b: Vec<_> = alerts.iter().filter(|alert| alert.feed == "b").collect();
    assert_eq!(
        from_b.len(),
        1,
        "B's story alerts although A published a guid shaped like its key: {alerts:?}"
    );
    assert_eq!(from_b[0].title, "Lavrov and Rubio hold talks in Riyadh");
    assert_eq!(alerts.len(), before + 1);
}

#[tokio::test]
async fn an_item_whose_guid_changes_every_poll_alerts_once() {
    let server = FixtureServer::start().await;
    let dir = TestDir::new();
    dir.write_config(&[("churn", server.url("/churn.xml"))], "");
    let config = dir.config();
    for poll in 0..3 {
        // Same title and summary, no link, a new guid each time (a CMS that re-keys its items).
        let guid = format!("urn:uuid:poll-{poll}");
        server.ok(
            "/churn.xml",
            rss(&[(&guid, "Lavrov and Rubio hold talks in Riyadh", None)]),
            "application/rss+xml",
        );
        run_once(&config).await;
    }
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");

    // Another story in the same feed still alerts, and the same text in another feed is that
    // feed's own item (fingerprints are per feed).
    server.ok(
        "/churn.xml",
        rss(&[("urn:uuid:other", "Putin and Trump discuss a summit on Ukraine talks", None)]),
        "application/rss+xml",
    );
    server.ok(
        "/copy.xml",
        rss(&[("urn:uuid:copy", "Lavrov and Rubio hold talks in Riyadh", None)]),
        "application/rss+xml",
    );
    dir.write_config(&[("churn", server.url("/churn.xml")), ("copy", server.url("/copy.xml"))], "");
    run_once(&dir.config()).await;
    let mut feeds: Vec<String> = dir.alerts().iter().map(|alert| alert.feed.clone()).collect();
    feeds.sort();
    assert_eq!(feeds, ["churn", "churn", "copy"], "{:?}", dir.alerts());
}
