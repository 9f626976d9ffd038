//! Hostile servers: endless and compressed-bomb bodies, lying and huge headers, servers that
//! never answer or drip, content that is not HTML, rate limiting with `Retry-After`, and the
//! politeness rules (per-host request rate, robots.txt). Every body is generated here; the
//! servers are raw TCP listeners on loopback (`support::RawServer`) unless plain HTTP will do.

use crate::support::{
    FixtureServer, RawConn, RawServer, TestDir, brotli_bomb, fixture, gzip_bomb, http_response, run_once,
    run_once_with, serve_talks_site, talks_feed, zstd_bomb,
};
use newswatch::fetch::{
    FetchError, FetchSettings, Fetched, Fetcher, Guard, Lookup, MAX_ROBOTS_BYTES, PublicOnly, ROBOTS_TTL,
    SystemLookup, Target, Validators,
};
use newswatch::store::Store;
use std::io::BufRead;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

const MIB: u64 = 1024 * 1024;

/// `*.test` names all point at 127.0.0.1 (so tests get many "hosts" on one listener); other
/// names go to the system resolver.
#[derive(Debug)]
struct TestHosts;

impl Lookup for TestHosts {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        if host.ends_with(".test") {
            Box::pin(async { Ok(vec![IpAddr::from([127, 0, 0, 1])]) })
        } else {
            SystemLookup::new().lookup(host)
        }
    }
}

/// Small limits so every hostile case ends in about a second; no rate limit unless a test
/// turns it on.
fn settings() -> FetchSettings {
    FetchSettings {
        user_agent: "newswatch/0.1 (test)".into(),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        max_concurrent: 16,
        per_host: 2,
        max_feed_bytes: MIB,
        max_page_bytes: MIB,
        host_requests_per_second: 0,
        host_burst: 1,
        respect_robots_txt: true,
        robots_ttl: ROBOTS_TTL,
        max_robots_bytes: MAX_ROBOTS_BYTES,
    }
}

/// A fetcher that may reach loopback (the guard is tested in `safety.rs`).
fn fetcher(settings: FetchSettings) -> Fetcher {
    let guard = Guard { policy: Arc::new(PublicOnly), allow_private: true, allow_hosts: vec![] };
    Fetcher::with_parts(settings, guard, Arc::new(TestHosts)).unwrap()
}

/// Fetches and expects an error; returns it with the time taken.
async fn fetch_error(fetcher: &Fetcher, target: Target, url: &str) -> (FetchError, Duration) {
    let started = Instant::now();
    let result = fetcher.get(target, &Url::parse(url).unwrap(), &Validators::default()).await;
    let elapsed = started.elapsed();
    match result {
        Err(err) => (err, elapsed),
        Ok(Fetched::NotModified) => panic!("{url}: 304 instead of an error"),
        Ok(Fetched::Body(body)) => panic!("{url}: {} bytes instead of an error", body.bytes.len()),
    }
}

/// Reads the request head, then answers with `response`.
async fn answer(mut conn: RawConn, response: Vec<u8>) {
    if conn.read_head().await.is_some() {
        conn.write(&response).await;
    }
}

/// The path of a request head's request line.
fn path_of(head: &str) -> String {
    head.split_whitespace().nth(1).unwrap_or_default().to_string()
}

/// An endless chunked body of feed-looking XML, written until the client hangs up.
async fn serve_endless(mut conn: RawConn, content_type: &'static str) {
    if conn.read_head().await.is_none() {
        return;
    }
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n");
    if !conn.write(head.as_bytes()).await {
        return;
    }
    let filler = b"<item><title>filler</title></item>".repeat(2000);
    let mut chunk = format!("{:x}\r\n", filler.len()).into_bytes();
    chunk.extend_from_slice(&filler);
    chunk.extend_from_slice(b"\r\n");
    while conn.write(&chunk).await {}
}

/// Serves compression bombs: `/gzip`, `/br`, `/zstd`, each declaring its encoding.
async fn bomb_server(gzip: Vec<u8>, brotli: Vec<u8>, zstd: Vec<u8>) -> RawServer {
    let bombs = Arc::new([("gzip", gzip), ("br", brotli), ("zstd", zstd)]);
    RawServer::start(move |mut conn| {
        let bombs = bombs.clone();
        async move {
            let Some(head) = conn.read_head().await else { return };
            let path = path_of(&head);
            let Some((encoding, body)) = bombs.iter().find(|(encoding, _)| path == format!("/{encoding}"))
            else {
                conn.write(&http_response("404 Not Found", &[], b"")).await;
                return;
            };
            let headers = [("Content-Type", "application/rss+xml"), ("Content-Encoding", *encoding)];
            conn.write(&http_response("200 OK", &headers, body)).await;
        }
    })
    .await
}

#[tokio::test]
async fn s1_an_endless_chunked_body_stops_at_the_cap() {
    let server = RawServer::start(|conn| serve_endless(conn, "application/rss+xml")).await;
    let fetcher = fetcher(settings());
    let (err, elapsed) = fetch_error(&fetcher, Target::Feed, &server.url("/endless.xml")).await;
    assert!(matches!(err, FetchError::TooLarge { limit, .. } if limit == MIB), "{err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Dropping the response hung up: the server's writer ends and the connection closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.open(), 0, "the endless connection was closed");
}

#[tokio::test]
async fn s2_gzip_brotli_and_zstd_bombs_stop_at_the_cap_after_decompression() {
    // Each inflates to far more than the 1 MiB cap (gzip and zstd to 1 GiB).
    let (gzip, brotli, zstd) = (gzip_bomb(1024), brotli_bomb(16), zstd_bomb(1024));
    assert!(gzip.len() < 2 * MIB as usize && zstd.len() < MIB as usize);
    let server = bomb_server(gzip, brotli, zstd).await;
    let fetcher = fetcher(settings());
    for encoding in ["gzip", "br", "zstd"] {
        let (err, elapsed) = fetch_error(&fetcher, Target::Feed, &server.url(&format!("/{encoding}"))).await;
        assert!(matches!(err, FetchError::TooLarge { limit, .. } if limit == MIB), "{encoding}: {err}");
        assert!(elapsed < Duration::from_secs(5), "{encoding}: {elapsed:?}");
    }
}

#[tokio::test]
async fn s3_a_declared_length_over_the_cap_is_refused_before_reading() {
    // Ten gigabytes declared, then nothing: refusing must not wait for the body (or its timeout).
    let server = RawServer::start(|mut conn| async move {
        if conn.read_head().await.is_some() {
            conn.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10737418240\r\n\r\n<html>",
            )
            .await;
            conn.hold_until_closed().await;
        }
    })
    .await;
    let mut settings = settings();
    settings.respect_robots_txt = false;
    let fetcher = fetcher(settings);
    for target in [Target::Feed, Target::Page] {
        let (err, elapsed) = fetch_error(&fetcher, target, &server.url("/huge")).await;
        assert!(matches!(err, FetchError::TooLarge { .. }), "{target:?}: {err}");
        assert!(elapsed < Duration::from_millis(900), "{target:?} waited {elapsed:?}");
    }
}

#[tokio::test]
async fn s4_a_lying_content_length_is_an_error_or_a_cut_and_the_connection_is_not_reused() {
    // Longer than what is sent, then the server hangs up: an error, never a short body.
    let short = RawServer::start(|conn| {
        answer(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss>only this</rss>".to_vec())
    })
    .await;
    let fetcher = fetcher(settings());
    let (err, _) = fetch_error(&fetcher, Target::Feed, &short.url("/feed.xml")).await;
    assert_eq!(err.kind(), "request", "{err}");

    // Shorter than what is sent, and what follows looks like a second response. The client
    // must take the first 5 bytes and never read the rest as the answer to its next request.
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let smuggler = RawServer::start(move |mut conn| {
        let served = served.clone();
        async move {
            while conn.read_head().await.is_some() {
                if served.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE")
                        .await;
                } else {
                    conn.write(&http_response("200 OK", &[], b"fresh")).await;
                    return;
                }
            }
        }
    })
    .await;
    let mut bodies = Vec::new();
    for path in ["/first", "/second"] {
        let url = Url::parse(&smuggler.url(path)).unwrap();
        match fetcher.get(Target::Feed, &url, &Validators::default()).await {
            Ok(Fetched::Body(body)) => bodies.push(String::from_utf8_lossy(&body.bytes).into_owned()),
            other => bodies.push(format!("{other:?}")),
        }
    }
    assert_eq!(bodies[0], "hello");
    assert_eq!(bodies[1], "fresh", "the bytes after the declared length were taken as a response");
    assert_eq!(smuggler.accepted(), 2, "the tainted connection was reused");
}

#[tokio::test]
async fn s5_huge_response_headers_are_a_clean_error() {
    let big_header = RawServer::start(|conn| {
        let mut response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        response.extend(std::iter::repeat_n(b'a', 2 * MIB as usize));
        response.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
        answer(conn, response)
    })
    .await;
    let many_headers = RawServer::start(|conn| {
        let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
        for n in 0..10_000 {
            response.extend_from_slice(format!("X-H{n}: v\r\n").as_bytes());
        }
        response.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        answer(conn, response)
    })
    .await;
    let fetcher = fetcher(settings());
    for server in [&big_header, &many_headers] {
        let (err, elapsed) = fetch_error(&fetcher, Target::Feed, &server.url("/feed.xml")).await;
        assert_eq!(err.kind(), "request", "{err}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}

#[tokio::test]
async fn t1_a_server_that_never_answers_is_left_after_the_read_timeout() {
    let server = RawServer::start(|mut conn| async move {
        conn.read_head().await;
        conn.hold_until_closed().await;
    })
    .await;
    let fetcher = fetcher(settings()); // read 1 s, total 10 s
    let (err, elapsed) = fetch_error(&fetcher, Target::Feed, &server.url("/never")).await;
    eprintln!("t1: never-answering server given up after {elapsed:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.open(), 0, "the connection was closed, the worker freed");
}

#[tokio::test]
async fn t2_a_slow_drip_is_stopped_by_the_total_deadline() {
    // One byte every 0.5 s never trips the 1 s read timeout; only the 2.5 s deadline ends it.
    // Dripped in the body, and dripped in the status line and headers.
    let drip = |headers_first: bool| {
        RawServer::start(move |mut conn| async move {
            if conn.read_head().await.is_none() {
                return;
            }
            let head =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n";
            if headers_first && !conn.write(head).await {
                return;
            }
            let mut bytes = if headers_first { Vec::new() } else { head.to_vec() };
            bytes.extend(std::iter::repeat_n(b'x', 100_000));
            for byte in bytes {
                if !conn.write(&[byte]).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let (body_drip, head_drip) = (drip(true).await, drip(false).await);
    let mut settings = settings();
    settings.request_timeout = Duration::from_millis(2500);
    let fetcher = fetcher(settings);
    let (body_url, head_url) = (body_drip.url("/drip"), head_drip.url("/drip"));
    let (body, head) = tokio::join!(
        fetch_error(&fetcher, Target::Feed, &body_url),
        fetch_error(&fetcher, Target::Feed, &head_url),
    );
    let (err, elapsed) = body;
    eprintln!("t2: body drip stopped after {elapsed:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(elapsed >= Duration::from_millis(2300) && elapsed < Duration::from_secs(4), "{elapsed:?}");
    // reqwest's read timeout covers the whole wait for the response head, not each byte of it:
    // a dripped head is cut even sooner, at the read timeout.
    let (err, elapsed) = head;
    eprintln!("t2: head drip stopped after {elapsed:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(elapsed < Duration::from_millis(2700), "{elapsed:?}");
}

#[tokio::test]
async fn t2_a_chain_of_slow_redirects_shares_one_deadline() {
    // Each hop answers after 0.7 s, well within the read timeout; five of them would take 3.5 s,
    // but the request as a whole has 2 s.
    let server = RawServer::start(|mut conn| async move {
        let Some(head) = conn.read_head().await else { return };
        let hop: u32 = path_of(&head).trim_start_matches("/hop/").parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let location = format!("/hop/{}", hop + 1);
        conn.write(&http_response("302 Found", &[("Location", &location)], b"")).await;
    })
    .await;
    let mut settings = settings();
    settings.request_timeout = Duration::from_secs(2);
    settings.read_timeout = Duration::from_secs(5);
    let fetcher = fetcher(settings);
    let (err, elapsed) = fetch_error(&fetcher, Target::Feed, &server.url("/hop/0")).await;
    eprintln!("t2: redirect chain stopped after {elapsed:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(elapsed < Duration::from_millis(2600), "{elapsed:?}");
}

#[tokio::test]
async fn t4_hanging_feeds_do_not_stop_a_healthy_one_and_concurrency_stays_bounded() {
    let hanging = RawServer::start(|mut conn| async move {
        conn.read_head().await;
        conn.hold_until_closed().await;
    })
    .await;
    let healthy = FixtureServer::start().await;
    serve_talks_site(&healthy);
    let mut feeds: Vec<(String, String)> = (0..12)
        .map(|n| (format!("hang{n}"), format!("http://h{n}.test:{}/feed.xml", hanging.addr.port())))
        .collect();
    feeds.push(("healthy".into(), healthy.url("/talks.xml")));
    let feeds: Vec<(&str, String)> = feeds.iter().map(|(name, url)| (name.as_str(), url.clone())).collect();
    let dir = TestDir::new();
    dir.write_config_with_daemon(
        &feeds,
        "allow_private_networks = true\nmax_concurrent_fetches = 4\nrequest_timeout = \"5s\"\nread_timeout = \"1s\"",
    );
    let config = dir.config();
    let settings = config.daemon.fetch_settings();
    let started = Instant::now();
    run_once_with(&config, fetcher(settings)).await;
    let elapsed = started.elapsed();
    eprintln!("t4: 12 hanging feeds + 1 healthy done in {elapsed:?}");

    assert_eq!(hanging.accepted(), 12);
    // At most 4 at once: the fetches go in waves one read timeout apart, so no 500 ms holds more
    // than 4 connections (the server's own open count lags the client's closes by a moment).
    let accepted_at = hanging.accepted_at();
    let busiest = accepted_at
        .iter()
        .map(|&start| {
            accepted_at.iter().filter(|&&at| at >= start && at - start < Duration::from_millis(500)).count()
        })
        .max()
        .unwrap_or(0);
    assert!(busiest <= 4, "global limit exceeded: {busiest} connections within 500 ms");
    assert!(elapsed >= Duration::from_millis(2900), "three waves of 4 take three read timeouts: {elapsed:?}");
    assert_eq!(dir.alerts().len(), 2, "the healthy feed still alerts");
    // 12 hanging fetches, 4 at a time, 1 s each, plus the start-up jitter of up to 5 s.
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
    let store = Store::open(&config.daemon.state_dir).unwrap();
    for n in 0..12 {
        let error = store.feed_state(&format!("hang{n}")).await.unwrap().unwrap().last_error.unwrap();
        assert!(error.starts_with("timeout:"), "{error}");
    }
}

#[tokio::test]
async fn t4_hosts_that_hung_before_cannot_take_every_slot_from_healthy_ones() {
    let hanging = RawServer::start(|mut conn| async move {
        conn.read_head().await;
        conn.hold_until_closed().await;
    })
    .await;
    let healthy = FixtureServer::start().await;
    healthy.ok("/feed.xml", b"<rss/>".to_vec(), "application/rss+xml");
    let mut settings = settings();
    settings.max_concurrent = 2; // and so one slot for unresponsive hosts
    let fetcher = fetcher(settings);
    let hanging_urls: Vec<Url> = (0..2)
        .map(|n| Url::parse(&format!("http://slow{n}.test:{}/feed.xml", hanging.addr.port())).unwrap())
        .collect();
    let fetch_all = |urls: Vec<Url>| {
        let fetcher = fetcher.clone();
        tokio::spawn(async move {
            let no_validators = Validators::default();
            let fetches = urls.iter().map(|url| fetcher.get(Target::Feed, url, &no_validators));
            futures_util::future::join_all(fetches).await
        })
    };
    // First round: both hang until the read timeout, taking both global slots meanwhile.
    let first = fetch_all(hanging_urls.clone()).await.unwrap();
    assert!(first.iter().all(|result| matches!(result, Err(err) if err.kind() == "timeout")));

    // Second round: the same hosts hang again, now in their own pool; a healthy host is served
    // at once instead of after the read timeout.
    let second = fetch_all(hanging_urls);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let healthy_url = Url::parse(&format!("http://fine.test:{}/feed.xml", healthy.addr.port())).unwrap();
    fetcher.get(Target::Feed, &healthy_url, &Validators::default()).await.unwrap();
    let waited = started.elapsed();
    eprintln!("t4: healthy host served in {waited:?} while two hosts hang");
    assert!(waited < Duration::from_millis(500), "the healthy host waited {waited:?} for a slot");
    second.abort();
}

#[tokio::test]
async fn h4_pdf_and_video_pages_are_refused_before_reading_and_fall_back_to_the_summary() {
    // Headers promise a gigabyte and then stall: reading any of it would cost the read timeout.
    let pages = RawServer::start(|mut conn| async move {
        let Some(head) = conn.read_head().await else { return };
        let content_type = match path_of(&head).as_str() {
            "/report.pdf" => "application/pdf",
            "/clip.mp4" => "video/mp4",
            _ => {
                conn.write(&http_response("404 Not Found", &[], b"")).await;
                return;
            }
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: 1000000000\r\n\r\n%PDF-"
        );
        conn.write(head.as_bytes()).await;
        conn.hold_until_closed().await;
    })
    .await;
    let site = FixtureServer::start().await;
    site.ok(
        "/feed.xml",
        talks_feed(&[pages.url("/report.pdf"), pages.url("/clip.mp4")]),
        "application/rss+xml",
    );
    let dir = TestDir::new();
    // A long read timeout: reading the stalled bodies would take 30 s; refusing them by their
    // headers takes well under 10 s even on a loaded machine.
    dir.write_config(
        &[("docs", site.url("/feed.xml"))],
        "read_timeout = \"30s\"\nrequest_timeout = \"60s\"\n",
    );
    let started = Instant::now();
    run_once(&dir.config()).await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    for alert in &alerts {
        assert_eq!(alert.text_source, "feed");
        let reason = alert.fallback_reason.as_deref().unwrap_or_default();
        assert!(reason.contains("not an HTML page"), "{reason}");
    }
}

#[tokio::test]
async fn r1_retry_after_in_seconds_or_as_a_date_is_stored_and_honoured_across_a_restart() {
    let date =
        (chrono::Utc::now() + chrono::Duration::seconds(600)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server = RawServer::start(move |mut conn| {
        let date = date.clone();
        async move {
            let Some(head) = conn.read_head().await else { return };
            let (status, retry_after) = match path_of(&head).as_str() {
                "/seconds.xml" => ("429 Too Many Requests", "120".to_string()),
                "/date.xml" => ("429 Too Many Requests", date),
                _ => ("503 Service Unavailable", "3600".to_string()),
            };
            conn.write(&http_response(status, &[("Retry-After", &retry_after)], b"slow down")).await;
        }
    })
    .await;
    let dir = TestDir::new();
    dir.write_config(
        &[
            ("seconds", server.url("/seconds.xml")),
            ("date", server.url("/date.xml")),
            ("unavailable", server.url("/unavailable.xml")),
        ],
        "",
    );
    let config = dir.config();
    let summary = run_once(&config).await;
    assert_eq!(summary.failures, 3);
    assert_eq!(server.accepted(), 3);

    let now = chrono::Utc::now().timestamp();
    let store = Store::open(&config.daemon.state_dir).unwrap();
    for (feed, wait, status) in [("seconds", 120, "429"), ("date", 600, "429"), ("unavailable", 3600, "503")]
    {
        let state = store.feed_state(feed).await.unwrap().unwrap();
        let until = state.retry_after_until.unwrap_or_else(|| panic!("{feed}: no retry_after_until"));
        assert!((until - now - wait).abs() <= 5, "{feed}: retry at {until}, expected about now + {wait}");
        assert!(state.next_poll_at.unwrap() >= until, "{feed}: polled again before Retry-After");
        let error = state.last_error.unwrap();
        assert!(error.starts_with("status:") && error.contains(status), "{feed}: {error}");
    }
    drop(store);

    // A restart (the store is reopened) still keeps away from all three hosts.
    let summary = run_once(&config).await;
    assert_eq!(summary.polls, 0);
    assert_eq!(server.accepted(), 3, "a feed was asked again before its Retry-After");
}

#[tokio::test]
async fn requests_to_one_host_are_spaced_by_the_rate_limit_and_other_hosts_are_not_held_up() {
    let server = FixtureServer::start().await;
    server.ok("/feed.xml", b"<rss/>".to_vec(), "application/rss+xml");
    let mut settings = settings();
    settings.host_requests_per_second = 10;
    settings.host_burst = 2;
    settings.per_host = 8;
    let fetcher = fetcher(settings);
    let busy = Url::parse(&format!("http://busy.test:{}/feed.xml", server.addr.port())).unwrap();
    let other = Url::parse(&format!("http://other.test:{}/feed.xml", server.addr.port())).unwrap();
    let no_validators = Validators::default();
    let started = Instant::now();
    let busy_fetches =
        futures_util::future::join_all((0..8).map(|_| fetcher.get(Target::Feed, &busy, &no_validators)));
    let other_fetch = async {
        // Starts while busy.test is being throttled.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let at = Instant::now();
        fetcher.get(Target::Feed, &other, &Validators::default()).await.unwrap();
        at.elapsed()
    };
    let (results, other_took) = tokio::join!(busy_fetches, other_fetch);
    let elapsed = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    eprintln!(
        "rate: 8 requests to one host at 10/s (burst 2) took {elapsed:?}; another host waited {other_took:?}"
    );
    // Two at once, then one every 100 ms: the eighth starts at 600 ms at the earliest.
    assert!(elapsed >= Duration::from_millis(550), "not throttled: {elapsed:?}");
    assert!(other_took < Duration::from_millis(300), "another host was held up: {other_took:?}");
}

#[test]
fn the_default_politeness_settings() {
    let dir = TestDir::new();
    dir.write_config(&[("any", "http://example.org/feed.xml".to_string())], "");
    let settings = dir.config().daemon.fetch_settings();
    assert_eq!(settings.host_requests_per_second, 5);
    assert_eq!(settings.host_burst, 5);
    assert!(settings.respect_robots_txt);
    assert_eq!(settings.robots_token(), "newswatch");
}

#[tokio::test]
async fn robots_txt_disallowed_pages_fall_back_and_feeds_are_exempt() {
    let site = FixtureServer::start().await;
    serve_talks_site(&site);
    // Our group forbids /private/ and the feed itself; every other robot may go anywhere.
    site.ok(
        "/robots.txt",
        b"User-agent: *\nAllow: /\n\nUser-agent: newswatch\nDisallow: /private/\nDisallow: /feed.xml\n"
            .to_vec(),
        "text/plain",
    )
    .ok(
        "/feed.xml",
        talks_feed(&[
            site.url("/private/a.html"),
            site.url("/private/b.html"),
            site.url("/articles/riyadh-talks.html"),
        ]),
        "application/rss+xml",
    )
    .ok("/private/a.html", fixture("site/riyadh-talks.html"), "text/html")
    .ok("/private/b.html", fixture("site/riyadh-talks.html"), "text/html");
    let dir = TestDir::new();
    dir.write_config(&[("site", site.url("/feed.xml"))], "");
    run_once(&dir.config()).await;

    assert_eq!(site.hits_of("/feed.xml").len(), 1, "the subscribed feed is exempt");
    assert_eq!(site.hits_of("/robots.txt").len(), 1, "robots.txt is fetched once per site");
    assert!(site.hits_of("/private/a.html").is_empty() && site.hits_of("/private/b.html").is_empty());
    assert_eq!(site.hits_of("/articles/riyadh-talks.html").len(), 1);
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    for alert in &alerts {
        let url = alert.url.as_deref().unwrap_or_default();
        if url.contains("/private/") {
            assert_eq!(alert.text_source, "feed");
            let reason = alert.fallback_reason.as_deref().unwrap_or_default();
            assert!(reason.contains("disallowed by the site's robots.txt"), "{reason}");
        } else {
            assert_eq!(alert.text_source, "page", "{alert:#?}");
        }
    }
}

#[tokio::test]
async fn a_missing_hanging_or_oversized_robots_txt_allows_every_page() {
    let page = fixture("site/riyadh-talks.html");
    let serve = |robots: fn(RawConn) -> futures_util::future::BoxFuture<'static, ()>| {
        let page = page.clone();
        RawServer::start(move |mut conn| {
            let page = page.clone();
            async move {
                let Some(head) = conn.read_head().await else { return };
                if path_of(&head) == "/robots.txt" {
                    robots(conn).await;
                } else {
                    conn.write(&http_response("200 OK", &[("Content-Type", "text/html")], &page)).await;
                }
            }
        })
    };
    let missing = serve(|mut conn| {
        Box::pin(async move {
            conn.write(&http_response("404 Not Found", &[], b"")).await;
        })
    })
    .await;
    let hanging = serve(|mut conn| Box::pin(async move { conn.hold_until_closed().await })).await;
    let oversized = serve(|mut conn| {
        Box::pin(async move {
            let body = b"User-agent: *\nDisallow: /\n".repeat(40_000); // about 1 MB
            conn.write(&http_response("200 OK", &[("Content-Type", "text/plain")], &body)).await;
        })
    })
    .await;
    let site = FixtureServer::start().await;
    let links: Vec<String> =
        [&missing, &hanging, &oversized].iter().map(|server| server.url("/story.html")).collect();
    site.ok("/feed.xml", talks_feed(&links), "application/rss+xml");
    let dir = TestDir::new();
    dir.write_config_with_daemon(
        &[("site", site.url("/feed.xml"))],
        "allow_private_networks = true\nrequest_timeout = \"5s\"\nread_timeout = \"1s\"",
    );
    run_once(&dir.config()).await;
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    for alert in &alerts {
        assert_eq!(alert.text_source, "page", "{alert:#?}");
    }
    for server in [&missing, &hanging, &oversized] {
        let paths: Vec<String> = server.heads().iter().map(|head| path_of(head)).collect();
        assert_eq!(paths, ["/robots.txt", "/story.html"]);
    }
}

/// Runs the daemon (not `--once`: it must still be alive to be measured) until `failures`
/// feeds have failed, then returns its peak resident memory (VmHWM) in KiB and its log.
fn peak_memory_until_failures(dir: &TestDir, failures: usize) -> (u64, String) {
    let config = dir.config_path().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(["run", "--config", &config])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    let mut seen = 0;
    while seen < failures {
        let left = deadline.saturating_duration_since(Instant::now());
        match line_rx.recv_timeout(left) {
            Ok(line) => {
                seen += usize::from(line.contains("poll failed"));
                log.push_str(&line);
                log.push('\n');
            }
            Err(_) => {
                child.kill().ok();
                child.wait().ok();
                panic!("only {seen} of {failures} feeds failed in time:\n{log}");
            }
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    child.kill().ok();
    child.wait().ok();
    let peak_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (peak_kib, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_s2_the_daemon_stays_small_under_an_endless_body_and_compression_bombs() {
    // The shipped caps (10 MiB per feed); gzip and zstd inflate to 1 GiB, brotli to 64 MiB.
    let endless = RawServer::start(|conn| serve_endless(conn, "application/rss+xml")).await;
    let bombs = bomb_server(gzip_bomb(1024), brotli_bomb(64), zstd_bomb(1024)).await;
    let dir = TestDir::new();
    dir.write_config_with_daemon(
        &[
            ("endless", endless.url("/feed.xml")),
            ("gzip-bomb", bombs.url("/gzip")),
            ("brotli-bomb", bombs.url("/br")),
            ("zstd-bomb", bombs.url("/zstd")),
        ],
        "allow_private_networks = true\nmax_feed_bytes = 10485760",
    );
    let dir_ref = &dir;
    let (peak_kib, log) = tokio::task::block_in_place(|| peak_memory_until_failures(dir_ref, 4));
    eprintln!(
        "s1/s2: daemon VmHWM {:.1} MiB after an endless body and three bombs",
        peak_kib as f64 / 1024.0
    );
    let too_large = log.lines().filter(|line| line.contains("poll failed") && line.contains("too_large"));
    assert_eq!(too_large.count(), 4, "{log}");
    assert!(peak_kib < 100 * 1024, "peak memory {peak_kib} KiB");
}
