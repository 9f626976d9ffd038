//! Untrusted input: the SSRF guard on item links and redirects, and response size caps.

use crate::support::{FixtureServer, Route, TestDir, run_once_with};
use newswatch::fetch::{AddressPolicy, FetchSettings, Fetcher, Guard, Lookup};
use std::net::IpAddr;
use std::sync::Arc;

/// 127.0.0.1 plays "public"; every other loopback address plays "internal".
#[derive(Debug)]
struct LoopbackSplit;

impl AddressPolicy for LoopbackSplit {
    fn is_public(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) if v4.octets()[0] == 127 => v4.octets() == [127, 0, 0, 1],
            other => newswatch::fetch::is_public_ip(other),
        }
    }
}

/// `public.test` → 127.0.0.1, `internal.test` → 127.0.0.2, `mixed.test` → both.
#[derive(Debug)]
struct TestNames;

impl Lookup for TestNames {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let public: IpAddr = "127.0.0.1".parse().unwrap();
        let internal: IpAddr = "127.0.0.2".parse().unwrap();
        let answer = match host.as_str() {
            "public.test" => Ok(vec![public]),
            "internal.test" => Ok(vec![internal]),
            "mixed.test" => Ok(vec![public, internal]),
            _ => Err(std::io::Error::other(format!("no such test name {host}"))),
        };
        Box::pin(async move { answer })
    }
}

fn guarded_fetcher(config: &newswatch::config::Config) -> Fetcher {
    let guard = Guard { policy: Arc::new(LoopbackSplit), allow_private: false, allow_hosts: vec![] };
    Fetcher::with_parts(FetchSettings::from_config(&config.daemon), guard, Arc::new(TestNames)).unwrap()
}

fn feed_with_links(links: &[String]) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (n, link) in links.iter().enumerate() {
        xml.push_str(&format!(
            "<item><title>Lavrov and Rubio hold talks, part {n}</title><link>{}</link><guid>g{n}</guid><pubDate>{{{{NOW}}}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov.</description></item>",
            link.replace('&', "&amp;")
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test]
async fn item_links_and_redirects_never_reach_internal_addresses() {
    let public = FixtureServer::start().await;
    let internal = FixtureServer::start_on("127.0.0.2").await;
    internal.ok("/secret", b"INTERNAL SECRET".to_vec(), "text/html");
    let port = internal.addr.port();
    let links = vec![
        format!("http://127.0.0.2:{port}/secret"),
        format!("http://[::ffff:127.0.0.2]:{port}/secret"),
        format!("http://2130706434:{port}/secret"),
        format!("http://internal.test:{port}/secret"),
        format!("http://mixed.test:{port}/secret"),
        format!("http://user:pass@internal.test:{port}/secret"),
        public.url("/redirect-literal"),
        public.url("/redirect-name"),
    ];
    public
        .ok("/feed.xml", feed_with_links(&links), "application/rss+xml")
        .route(
            "/redirect-literal",
            Route::Status { status: 302, location: Some(format!("http://127.0.0.2:{port}/secret")) },
        )
        .route(
            "/redirect-name",
            Route::Status { status: 302, location: Some(format!("http://internal.test:{port}/secret")) },
        );
    let dir = TestDir::new();
    // The feed URL itself is configured by the user and on "public" 127.0.0.1.
    dir.write_config(&[("feed", public.url("/feed.xml"))], "");
    let mut config = dir.config();
    config.daemon.allow_private_networks = false;

    run_once_with(&config, guarded_fetcher(&config)).await;

    assert!(internal.hits().is_empty(), "the internal server was reached: {:?}", internal.hits());
    let alerts = dir.alerts();
    // 2130706434 is 127.0.0.2 and userinfo is stripped, so two links are the same as others:
    // those items are the same story. Every distinct one still alerts, on its feed summary.
    assert_eq!(alerts.len(), links.len() - 2, "{alerts:#?}");
    for alert in &alerts {
        assert_eq!(alert.text_source, "feed");
        let reason = alert.fallback_reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("network guard")
                || reason.contains("non-public")
                || reason.contains("not public"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_hops() {
    let server = FixtureServer::start().await;
    server.route("/loop", Route::Status { status: 302, location: Some("/loop".into()) });
    let dir = TestDir::new();
    dir.write_config(&[("loop", server.url("/loop"))], "");
    let config = dir.config();
    let summary = crate::support::run_once(&config).await;
    assert_eq!(summary.failures, 1);
    assert_eq!(server.hits_of("/loop").len(), 6, "the first request and five redirects");
    let store = newswatch::store::Store::open(&config.daemon.state_dir).unwrap();
    let state = store.feed_state("loop").unwrap().unwrap();
    assert!(state.last_error.unwrap().contains("redirected more than 5 times"));
    assert_eq!(state.url, server.url("/loop"), "the stored feed URL is never rewritten");
}

#[tokio::test]
async fn a_feed_over_the_size_cap_is_refused_and_named() {
    let server = FixtureServer::start().await;
    let mut huge = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>".to_vec();
    while huge.len() < 3 * 1024 * 1024 {
        huge.extend_from_slice(b"<item><title>filler</title></item>");
    }
    server.ok("/huge.xml", huge, "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config(&[("huge", server.url("/huge.xml"))], "max_feed_bytes = 1048576");
    let config = dir.config();
    let summary = crate::support::run_once(&config).await;
    assert_eq!(summary.failures, 1);
    let store = newswatch::store::Store::open(&config.daemon.state_dir).unwrap();
    let error = store.feed_state("huge").unwrap().unwrap().last_error.unwrap();
    assert!(error.starts_with("too_large:") && error.contains("1048576"), "{error}");
}
