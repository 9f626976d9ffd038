//! Untrusted input: the SSRF guard on item links, redirects and robots.txt (DNS rebinding,
//! odd schemes and addresses, credentials in links, environment proxies), and response size caps.

use crate::support::{
    FixtureServer, RawConn, RawServer, Route, TestDir, http_response, run_once_with, serve_talks_site,
};
use newswatch::fetch::{AddressPolicy, FetchError, Fetched, Fetcher, Guard, Lookup, Target, Validators};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use url::Url;

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
    Fetcher::with_parts(config.daemon.fetch_settings(), guard, Arc::new(TestNames)).unwrap()
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
    let state = store.feed_state("loop").await.unwrap().unwrap();
    assert!(state.last_error.unwrap().contains("more than 5 redirects"));
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
    let error = store.feed_state("huge").await.unwrap().unwrap().last_error.unwrap();
    assert!(error.starts_with("too_large:") && error.contains("1048576"), "{error}");
}

/// A fetcher with the loopback split policy and the given resolver.
fn fetcher_with_lookup(config: &newswatch::config::Config, lookup: Arc<dyn Lookup>) -> Fetcher {
    let guard = Guard { policy: Arc::new(LoopbackSplit), allow_private: false, allow_hosts: vec![] };
    Fetcher::with_parts(config.daemon.fetch_settings(), guard, lookup).unwrap()
}

/// `rebind.test` answers 127.0.0.1 ("public") to its first `public_answers` lookups, then
/// 127.0.0.2 ("internal"), as a rebinding attacker's DNS server would.
#[derive(Debug)]
struct Rebinding {
    public_answers: usize,
    calls: AtomicUsize,
}

impl Lookup for Rebinding {
    fn lookup(
        &self,
        _host: String,
    ) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let ip: IpAddr = if call <= self.public_answers { [127, 0, 0, 1] } else { [127, 0, 0, 2] }.into();
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// Reads a request and answers with a small HTML page (404 for robots.txt); every answer
/// closes its connection, so the next request needs a new connection and a new lookup.
async fn serve_page_and_close(mut conn: RawConn) {
    let Some(head) = conn.read_head().await else { return };
    let response = if head.contains(" /robots.txt ") {
        http_response("404 Not Found", &[], b"")
    } else {
        http_response(
            "200 OK",
            &[("Content-Type", "text/html")],
            b"<html><body><p>public page</p></body></html>",
        )
    };
    conn.write(&response).await;
}

#[tokio::test]
async fn n4_dns_rebinding_never_reaches_the_internal_address() {
    // The internal server listens on the same port as the public one, on 127.0.0.2, so a
    // connection that followed a rebound answer would land there.
    let (public, internal) = {
        let mut pair = None;
        for _ in 0..20 {
            let public = RawServer::start(serve_page_and_close).await;
            let internal_addr = SocketAddr::new([127, 0, 0, 2].into(), public.addr.port());
            if let Some(internal) = RawServer::start_at(internal_addr, serve_page_and_close).await {
                pair = Some((public, internal));
                break;
            }
        }
        pair.expect("a port free on both 127.0.0.1 and 127.0.0.2")
    };
    let dir = TestDir::new();
    dir.write_config(&[("unused", public.url("/feed.xml"))], "");
    // Lookups 1 and 2 (robots.txt, the first page) are public; the third, for the second page's
    // new connection, rebinds to the internal address.
    let lookup = Arc::new(Rebinding { public_answers: 2, calls: AtomicUsize::new(0) });
    let fetcher = fetcher_with_lookup(&dir.config(), lookup.clone());
    let port = public.addr.port();
    let first = Url::parse(&format!("http://rebind.test:{port}/first")).unwrap();
    let second = Url::parse(&format!("http://rebind.test:{port}/second")).unwrap();

    let fetched = fetcher.get(Target::Page, &first, &Validators::default()).await;
    assert!(matches!(fetched, Ok(Fetched::Body(_))), "{fetched:?}");
    let refused = fetcher.get(Target::Page, &second, &Validators::default()).await;
    assert!(matches!(refused, Err(FetchError::Blocked { .. })), "{refused:?}");

    assert_eq!(lookup.calls.load(Ordering::SeqCst), 3, "every new connection resolved the name again");
    assert_eq!(internal.accepted(), 0, "a connection reached the rebound internal address");
    assert_eq!(public.accepted(), 2);
}

#[tokio::test]
async fn n8_links_with_other_schemes_or_non_public_hosts_are_never_fetched() {
    let public = FixtureServer::start().await;
    let canary = RawServer::start(|mut conn| async move { conn.hold_until_closed().await }).await;
    let (port, canary_port) = (public.addr.port(), canary.addr.port());
    let links = vec![
        "javascript:alert(document.cookie)".to_string(),
        "file:///etc/passwd".to_string(),
        "data:text/html,<p>Lavrov</p>".to_string(),
        format!("ftp://127.0.0.1:{canary_port}/pub/"),
        format!("gopher://127.0.0.1:{canary_port}/1"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://0.0.0.0:{port}/zero"),
        format!("http://[::1]:{port}/ipv6-loopback"),
        public.url("/to-file"),
        public.url("/to-gopher"),
    ];
    let mut feed = String::from_utf8(feed_with_links(&links)).unwrap();
    // A relative link under an xml:base that points into the file system.
    feed = feed.replace(
        "</channel>",
        "<item xml:base=\"file:///etc/\"><title>Lavrov and Rubio hold talks, based</title><link>passwd</link><guid>based</guid><pubDate>{{NOW}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov.</description></item></channel>",
    );
    public
        .ok("/feed.xml", feed.into_bytes(), "application/rss+xml")
        .route("/to-file", Route::Status { status: 302, location: Some("file:///etc/passwd".into()) })
        .route(
            "/to-gopher",
            Route::Status { status: 302, location: Some(format!("gopher://127.0.0.1:{canary_port}/1")) },
        );
    let dir = TestDir::new();
    dir.write_config(&[("schemes", public.url("/feed.xml"))], "");
    let mut config = dir.config();
    config.daemon.allow_private_networks = false;
    run_once_with(&config, guarded_fetcher(&config)).await;

    assert_eq!(canary.accepted(), 0, "an ftp: or gopher: link was connected to");
    let mut paths: Vec<String> = public.hits().into_iter().map(|hit| hit.path).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(
        paths,
        ["/feed.xml", "/robots.txt", "/to-file", "/to-gopher"],
        "only the feed and http(s) links"
    );
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), links.len() + 1, "every item still alerts on its summary: {alerts:#?}");
    for alert in &alerts {
        assert_eq!(alert.text_source, "feed", "{alert:#?}");
        assert!(!alert.snippet.contains("root:"), "{alert:#?}");
        let reason = alert.fallback_reason.as_deref().unwrap_or_default();
        assert!(
            ["scheme", "not public", "non-public", "no link"].iter().any(|why| reason.contains(why)),
            "{}: {reason}",
            alert.title
        );
    }
}

#[tokio::test]
async fn n9_credentials_in_links_and_redirects_are_never_sent() {
    let page = crate::support::fixture("site/riyadh-talks.html");
    let server = RawServer::start(move |mut conn| {
        let page = page.clone();
        async move {
            let Some(head) = conn.read_head().await else { return };
            let port = conn.stream.local_addr().unwrap().port();
            let response = match head.split_whitespace().nth(1).unwrap_or_default() {
                "/robots.txt" => http_response("404 Not Found", &[], b""),
                "/creds" => {
                    let location = format!("http://admin:hunter2@127.0.0.1:{port}/landing");
                    http_response("302 Found", &[("Location", &location)], b"")
                }
                _ => http_response("200 OK", &[("Content-Type", "text/html")], &page),
            };
            conn.write(&response).await;
        }
    })
    .await;
    let port = server.addr.port();
    let site = FixtureServer::start().await;
    site.ok(
        "/feed.xml",
        feed_with_links(&[format!("http://user:pass@127.0.0.1:{port}/direct"), server.url("/creds")]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    dir.write_config(&[("creds", site.url("/feed.xml"))], "");
    let mut config = dir.config();
    config.daemon.allow_private_networks = false;
    run_once_with(&config, guarded_fetcher(&config)).await;

    let heads = server.heads();
    let paths: Vec<&str> = heads.iter().filter_map(|head| head.split_whitespace().nth(1)).collect();
    assert!(paths.contains(&"/direct") && paths.contains(&"/landing"), "{paths:?}");
    for head in &heads {
        assert!(!head.to_ascii_lowercase().contains("authorization:"), "credentials sent:\n{head}");
    }
    assert_eq!(dir.alerts().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n10_environment_proxies_are_ignored() {
    let proxy = RawServer::start(answer_502).await;
    let site = FixtureServer::start().await;
    serve_talks_site(&site);
    let dir = TestDir::new();
    dir.write_config(&[("wire", site.url("/talks.xml"))], "");
    let config = dir.config_path().display().to_string();
    let proxy_url = proxy.url("");
    let dir_ref = &dir;
    let output = tokio::task::block_in_place(|| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"));
        command.args(["run", "--once", "--config", &config]).current_dir(dir_ref.path());
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            command.env(name, &proxy_url);
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy").output().unwrap()
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(proxy.accepted(), 0, "a request went through the environment's proxy");
    assert_eq!(dir.alerts().len(), 2, "the feed was fetched directly");
}

async fn answer_502(mut conn: RawConn) {
    if conn.read_head().await.is_some() {
        conn.write(&http_response("502 Bad Gateway", &[], b"")).await;
    }
}

#[tokio::test]
async fn robots_txt_requests_go_through_the_guard_too() {
    let public = FixtureServer::start().await;
    let internal = FixtureServer::start_on("127.0.0.2").await;
    internal.ok("/robots.txt", b"User-agent: *\nDisallow: /\n".to_vec(), "text/plain");
    serve_talks_site(&public);
    public.route(
        "/robots.txt",
        Route::Status {
            status: 302,
            location: Some(format!("http://127.0.0.2:{}/robots.txt", internal.addr.port())),
        },
    );
    public.ok(
        "/feed.xml",
        feed_with_links(&[public.url("/articles/riyadh-talks.html")]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    dir.write_config(&[("feed", public.url("/feed.xml"))], "");
    let mut config = dir.config();
    config.daemon.allow_private_networks = false;
    run_once_with(&config, guarded_fetcher(&config)).await;

    assert!(internal.hits().is_empty(), "robots.txt was followed to an internal address");
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 1);
    // The refused robots.txt counts as no robots.txt: the page is read.
    assert_eq!(alerts[0].text_source, "page", "{alerts:#?}");
}

#[tokio::test]
async fn g2_a_configured_feed_may_be_private_but_its_links_may_not() {
    // The feed itself lives on "internal" 127.0.0.2: the user configured it, so it is fetched.
    let internal = FixtureServer::start_on("127.0.0.2").await;
    let port = internal.addr.port();
    internal
        .ok("/feed.xml", feed_with_links(&[format!("http://127.0.0.2:{port}/page")]), "application/rss+xml")
        .ok("/page", b"<html><body><p>INTERNAL PAGE</p></body></html>".to_vec(), "text/html");
    let dir = TestDir::new();
    dir.write_config(&[("private-feed", internal.url("/feed.xml"))], "");
    let mut config = dir.config();
    config.daemon.allow_private_networks = false;

    run_once_with(&config, guarded_fetcher(&config)).await;

    assert_eq!(internal.hits_of("/feed.xml").len(), 1, "the configured feed was read");
    assert!(internal.hits_of("/page").is_empty(), "its item link was not followed");
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].text_source, "feed");
    assert!(alerts[0].fallback_reason.as_deref().unwrap_or_default().contains("not public"), "{alerts:?}");
}

/// The production resolver (hickory, asynchronous) sits behind the same guard: a link whose
/// name resolves to loopback is refused before any connection, and the server sees nothing.
#[tokio::test]
async fn the_async_system_resolver_is_guarded_too() {
    let server = FixtureServer::start().await;
    server.ok("/secret.html", b"<html><body><p>internal</p></body></html>".to_vec(), "text/html");
    let dir = TestDir::new();
    dir.write_config(&[("x", server.url("/feed.xml"))], "");
    let config = dir.config();
    let guard =
        Guard { policy: Arc::new(newswatch::fetch::PublicOnly), allow_private: false, allow_hosts: vec![] };
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), guard).unwrap();
    let url = Url::parse(&format!("http://localhost:{}/secret.html", server.addr.port())).unwrap();
    let result = fetcher.get(Target::Page, &url, &Validators::default()).await;
    assert!(matches!(result, Err(FetchError::Blocked { .. })), "{result:?}");
    assert!(server.hits().is_empty(), "no request reached the internal host");
}
