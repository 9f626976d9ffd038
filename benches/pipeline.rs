//! End-to-end benchmark: `run --once` over a loopback site of generated feeds and article pages,
//! through the real fetcher, parser, extractor, classifier and recorder. Prints items per second
//! for a first round (everything new: every page fetched and extracted), a second round
//! (conditional GETs answered 304), the process's peak memory and its peak thread count.
//!
//! `cargo bench --bench pipeline [-- FEEDS ITEMS_PER_FEED]` (default 20 × 50).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswatch::config::Config;
use newswatch::fetch::Fetcher;
use newswatch::model::RunMode;
use newswatch::store::Store;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

struct Site {
    feeds: Vec<String>,
    base: String,
}

const PARAGRAPHS: [&str; 4] = [
    "The delegations met for more than four hours and agreed to appoint negotiating teams, officials on both sides said after the meeting, which was held behind closed doors.",
    "Markets moved little on the news; analysts said the outcome had been widely expected and that attention would now turn to the next round of economic data due later this week.",
    "Local officials said the new road would open next spring, after delays caused by the weather and by a dispute over the contract that went to court twice last year.",
    "The coach praised the defence, which conceded only two goals in the whole tournament, and said the team would now prepare for the continental competition in the autumn.",
];

fn title(feed: usize, item: usize) -> String {
    if item.is_multiple_of(4) {
        format!("Lavrov and Rubio hold talks on the war, round {feed}-{item}")
    } else {
        format!("Regional news story number {feed}-{item}")
    }
}

fn page(feed: usize, item: usize) -> String {
    let mut body = String::new();
    for n in 0..12 {
        let text = if item.is_multiple_of(4) && n == 0 {
            "US Secretary of State Marco Rubio and Russian Foreign Minister Sergei Lavrov held talks in Riyadh on Tuesday."
        } else {
            PARAGRAPHS[(item + n) % PARAGRAPHS.len()]
        };
        body.push_str(&format!("<p>{text}</p>"));
    }
    format!(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{t}</title></head><body><nav><a href='/'>Home</a> | <a href='/world'>World</a></nav><main><article><h1>{t}</h1>{body}</article><aside><h2>Most read</h2><ul><li><a href='/x'>Putin and Trump to meet for summit talks</a></li></ul></aside></main><footer>© Bench</footer></body></html>",
        t = title(feed, item)
    )
}

async fn serve_feed(State(site): State<Arc<Site>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(n) = name.strip_suffix(".xml").and_then(|n| n.parse::<usize>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(xml) = site.feeds.get(n) else { return StatusCode::NOT_FOUND.into_response() };
    let etag = format!("\"feed-{n}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let xml = xml.replace("{{BASE}}", &site.base);
    ([(header::CONTENT_TYPE, "application/rss+xml".to_string()), (header::ETAG, etag)], xml).into_response()
}

async fn serve_page(Path((feed, item)): Path<(usize, usize)>) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page(feed, item)).into_response()
}

/// The process's thread count now (Linux; 0 elsewhere).
fn threads_now() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Threads:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Samples the thread count every 2 ms on a thread of its own; returns the peak so far.
fn sample_peak_threads() -> Arc<std::sync::atomic::AtomicU64> {
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampled = peak.clone();
    std::thread::spawn(move || {
        loop {
            sampled.fetch_max(threads_now(), std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    peak
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let n_feeds = args.first().copied().unwrap_or(20);
    let per_feed = args.get(1).copied().unwrap_or(50);
    let peak_threads = sample_peak_threads();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let now = chrono::Utc::now().to_rfc2822();
        let feeds = (0..n_feeds)
            .map(|feed| {
                let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>bench</title>");
                for item in 0..per_feed {
                    xml.push_str(&format!(
                        "<item><title>{}</title><link>{{{{BASE}}}}/a/{feed}/{item}</link><guid>b-{feed}-{item}</guid><pubDate>{now}</pubDate><description>A short summary of story {feed}-{item}.</description></item>",
                        title(feed, item)
                    ));
                }
                xml.push_str("</channel></rss>");
                xml
            })
            .collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let site = Arc::new(Site { feeds, base: base.clone() });
        let app = axum::Router::new()
            .route("/feeds/{name}", axum::routing::get(serve_feed))
            .route("/a/{feed}/{item}", axum::routing::get(serve_page))
            .with_state(site);
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });

        let dir = tempfile::tempdir().unwrap();
        let mut text = format!(
            "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nper_host_concurrency = 8\nper_host_rate = 0\n[[topics]]\nid = \"us-russia-talks\"\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
            dir.path().join("state").display().to_string(),
            dir.path().join("alerts.jsonl").display().to_string()
        );
        for feed in 0..n_feeds {
            text.push_str(&format!("[[feeds]]\nname = \"f{feed}\"\nurl = \"{base}/feeds/{feed}.xml\"\n"));
        }
        let config = Config::from_toml(&text, "bench.toml", std::path::Path::new(".")).unwrap();
        let items = n_feeds * per_feed;
        for round in ["first round (all new, pages fetched)", "second round (304s)"] {
            let store = Store::open(&config.daemon.state_dir).unwrap();
            let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
            let started = Instant::now();
            let summary = newswatch::pipeline::run(&config, store, fetcher, CancellationToken::new(), RunMode::Once)
                .await
                .expect("the pipeline runs");
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "pipeline {round}: {n_feeds} feeds, {} new items, {} alerts in {seconds:.3} s = {:.0} items/s",
                summary.new_items,
                summary.alerts,
                items as f64 / seconds
            );
        }
        let alerts = newswatch::sink::jsonl::read_log(&dir.path().join("alerts.jsonl")).unwrap();
        let wrong: Vec<&str> =
            alerts.iter().filter(|alert| !alert.title.starts_with("Lavrov")).map(|alert| alert.title.as_str()).collect();
        println!("pipeline alerts on stories that are not talks: {} {:?}", wrong.len(), &wrong[..wrong.len().min(3)]);
        println!("pipeline peak RSS: {} MiB", peak_rss_kib() / 1024);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "pipeline peak threads: {} ({cores} cores; the budget is 2 x cores + 8 = {}, the sampler included)",
            peak_threads.load(std::sync::atomic::Ordering::Relaxed),
            2 * cores + 8
        );
    });
}
