//! Load benchmark (issue 15): a loopback "internet" of N feeds across M host names (all
//! resolved to 127.0.0.1 by the resolver injected into the daemon), serving feed XML built from the fixture
//! feeds (`tests/fixtures/feeds`) and article pages from the fixture extraction pages
//! (`tests/fixtures/pages`), against the real daemon pipeline (fetch, parse, scrape, extract,
//! classify, record, alert). The farm runs in a child process (this binary again, with
//! `--farm-child`), so the figures of this process — CPU, peak RSS, threads — are the daemon's
//! own (plus the bench's small alert-log follower, on a thread left out of the CPU figures);
//! the farm's own peak RSS is printed apart. Phases:
//!
//! 1. optional: the store is filled with `--seen` items first (as a long-running daemon's would be);
//! 2. cold round (`run --once`): every feed new, every item's page fetched and extracted;
//! 3. 304 round (`run --once`): nothing changed, every feed answers 304;
//! 4. daemon: the daemon runs for `--secs` with every feed polled every `--interval`; each
//!    interval a share `--changed` of the feeds publishes `--new` items, the rest answer 304.
//!    The feeds' `min_interval` and `max_interval` are the interval itself, so "the feed's
//!    interval" is the one configured; with `--adaptive` they are the derived bounds
//!    (`interval/4 ..= interval × 2`, README "Scheduling") and quiet feeds slow down.
//!
//! It prints fetches/s, articles/s fully processed, CPU seconds per 1,000 articles and per 1,000
//! polls answered 304, peak RSS, peak threads, database bytes
//! per seen item, and publish-to-alert latency p50/p99 (from the instant an item appears in its
//! feed to its alert line in the JSON Lines log), split into the wait for the poll and the time
//! from the response that carried the item to its alert line, and set against the interval the
//! feed was actually polled at (the gap between that poll and the one before). A quarter of the
//! items alert.
//!
//! `cargo bench --bench load -- [--feeds 1000] [--hosts 50] [--items 5] [--seen 0]
//! [--interval 10] [--secs 30] [--changed 0.1] [--new 1] [--adaptive]`

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswatch::config::Config;
use newswatch::fetch::{Fetcher, Lookup};
use newswatch::model::RunMode;
use newswatch::store::{ItemRecord, Store};
use std::collections::HashMap;
use std::io::{BufRead, Read, Seek};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

mod common;
use common::material::{Material, load_material};

/// Every `h<n>.load.test` is 127.0.0.1; anything else does not exist.
#[derive(Debug)]
struct LoadNames;

impl Lookup for LoadNames {
    fn lookup(&self, host: String) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let answer = if host.ends_with(".load.test") {
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        } else {
            Err(std::io::Error::other(format!("no such name {host}")))
        };
        Box::pin(async move { answer })
    }
}

struct Args {
    feeds: usize,
    hosts: usize,
    items: usize,
    seen: usize,
    interval_secs: u64,
    secs: u64,
    changed: f64,
    new: usize,
    /// The derived `min_interval..=max_interval` instead of the interval itself.
    adaptive: bool,
    /// This process is the farm (started by the bench itself).
    farm_child: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        feeds: 1000,
        hosts: 50,
        items: 5,
        seen: 0,
        interval_secs: 10,
        secs: 30,
        changed: 0.1,
        new: 1,
        adaptive: false,
        farm_child: false,
    };
    let words: Vec<String> = std::env::args().skip(1).collect();
    args.adaptive = words.iter().any(|word| word == "--adaptive");
    args.farm_child = words.iter().any(|word| word == "--farm-child");
    for pair in words.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--feeds" => args.feeds = value.parse().expect("--feeds N"),
            "--hosts" => args.hosts = value.parse().expect("--hosts M"),
            "--items" => args.items = value.parse().expect("--items K"),
            "--seen" => args.seen = value.parse().expect("--seen S"),
            "--interval" => args.interval_secs = value.parse().expect("--interval SECONDS"),
            "--secs" => args.secs = value.parse().expect("--secs SECONDS"),
            "--changed" => args.changed = value.parse().expect("--changed SHARE"),
            "--new" => args.new = value.parse().expect("--new ITEMS"),
            _ => {}
        }
    }
    args.hosts = args.hosts.clamp(1, args.feeds.max(1));
    args
}

/// Seconds since the Unix epoch: the one clock the farm and the bench share.
fn epoch_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64())
}

/// When a response first carried an item, and when its feed was polled before (None on the
/// feed's first poll); epoch seconds.
type Served = (f64, Option<f64>);

/// The farm (in the child process): feed versions (each version publishes `new` items), when
/// each item appeared, and counters.
struct Farm {
    material: Material,
    port: u16,
    hosts: usize,
    items: usize,
    new: usize,
    versions: Vec<AtomicU32>,
    /// (feed, item) -> when it first appeared in its feed.
    appeared: Mutex<HashMap<(usize, usize), f64>>,
    /// feed -> when it was last polled (any answer).
    last_poll: Mutex<HashMap<usize, f64>>,
    /// (feed, item) -> the first response that carried it: when, and when the feed was polled
    /// before that (None on its first poll).
    served: Mutex<HashMap<(usize, usize), Served>>,
    feed_200: AtomicU64,
    feed_304: AtomicU64,
    pages: AtomicU64,
    publishing: AtomicBool,
}

fn host(hosts: usize, feed: usize) -> String {
    format!("h{}.load.test", feed % hosts)
}

fn feed_url(hosts: usize, port: u16, feed: usize) -> String {
    format!("http://{}:{port}/feeds/{feed}.xml", host(hosts, feed))
}

impl Farm {
    /// The items of `feed` at `version`: the newest `items`, item numbers counting up.
    fn item_range(&self, version: u32) -> std::ops::Range<usize> {
        let end = self.items + version as usize * self.new;
        end.saturating_sub(self.items)..end
    }

    /// Notes a poll of `feed` now; returns when it was polled before.
    fn polled(&self, feed: usize) -> Option<f64> {
        self.last_poll.lock().unwrap().insert(feed, epoch_now())
    }

    fn document(&self, feed: usize, version: u32, previous_poll: Option<f64>) -> String {
        let mut xml = self.material.channel_head.clone();
        let date = chrono::Utc::now().to_rfc2822();
        let now = epoch_now();
        let mut appeared = self.appeared.lock().unwrap();
        let mut served = self.served.lock().unwrap();
        for item in self.item_range(version).rev() {
            appeared.entry((feed, item)).or_insert(now);
            served.entry((feed, item)).or_insert((now, previous_poll));
            let link = format!("http://{}:{}/a/{feed}/{item}", host(self.hosts, feed), self.port);
            // The marker is chosen by feed and item together: a feed that publishes once in a
            // short run adds only item 5 or 6, so the item number alone would mark almost no
            // item of the daemon phase.
            xml.push_str(&self.material.item_block(feed, item, &link, &date));
        }
        xml.push_str("</channel></rss>");
        xml
    }

    /// Makes `feed` publish: its next version, whose new items appear now.
    fn publish(&self, feed: usize) {
        let version = self.versions[feed].fetch_add(1, Relaxed) + 1;
        let mut appeared = self.appeared.lock().unwrap();
        let range = self.item_range(version);
        for item in range.end.saturating_sub(self.new)..range.end {
            appeared.insert((feed, item), epoch_now());
        }
    }
}

async fn serve_feed(State(farm): State<Arc<Farm>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(feed) = name.strip_suffix(".xml").and_then(|n| n.parse::<usize>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(version) = farm.versions.get(feed).map(|version| version.load(Relaxed)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let previous_poll = farm.polled(feed);
    let etag = format!("\"v{version}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        farm.feed_304.fetch_add(1, Relaxed);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    farm.feed_200.fetch_add(1, Relaxed);
    let xml = farm.document(feed, version, previous_poll);
    ([(header::CONTENT_TYPE, "application/rss+xml".to_string()), (header::ETAG, etag)], xml).into_response()
}

async fn serve_page(State(farm): State<Arc<Farm>>, Path((feed, item)): Path<(usize, usize)>) -> Response {
    farm.pages.fetch_add(1, Relaxed);
    let page = farm.material.page(feed, item);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn serve_robots() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// The farm's counters: feeds answered 200 and 304, pages served, and its own peak RSS (KiB).
async fn serve_stats(State(farm): State<Arc<Farm>>) -> Response {
    let stats = [
        farm.feed_200.load(Relaxed),
        farm.feed_304.load(Relaxed),
        farm.pages.load(Relaxed),
        status_value("VmHWM:"),
    ];
    serde_json::to_string(&stats).unwrap().into_response()
}

/// Starts publishing: `per_interval` publications spread over every `interval_ms`, as real
/// newsrooms publish, each by a feed drawn at random.
async fn serve_publish(State(farm): State<Arc<Farm>>, Query(query): Query<HashMap<String, u64>>) -> Response {
    let (interval_ms, per_interval) =
        (query.get("interval_ms").copied().unwrap_or(0), query.get("per_interval").copied().unwrap_or(0));
    if per_interval > 0 && interval_ms > 0 && !farm.publishing.swap(true, Relaxed) {
        let gap = Duration::from_millis(interval_ms) / per_interval as u32;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(gap).await;
                farm.publish(fastrand::usize(0..farm.versions.len()));
            }
        });
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Every item that appeared at or after `since` (epoch seconds), as
/// `[feed, item, appeared, served or null, previous poll or null]`.
async fn serve_timings(State(farm): State<Arc<Farm>>, Query(query): Query<HashMap<String, f64>>) -> Response {
    let since = query.get("since").copied().unwrap_or(0.0);
    let appeared = farm.appeared.lock().unwrap();
    let served = farm.served.lock().unwrap();
    let rows: Vec<serde_json::Value> = appeared
        .iter()
        .filter(|(_, at)| **at >= since)
        .map(|(&(feed, item), &at)| {
            let (response, before) =
                served.get(&(feed, item)).map_or((None, None), |&(at, before)| (Some(at), before));
            serde_json::json!([feed, item, at, response, before])
        })
        .collect();
    serde_json::to_string(&rows).unwrap().into_response()
}

/// The farm process: serves until its standard input closes (the bench ended or died).
fn farm_main(args: &Args) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let farm = Arc::new(Farm {
        material: load_material(),
        port,
        hosts: args.hosts,
        items: args.items,
        new: args.new,
        versions: (0..args.feeds).map(|_| AtomicU32::new(0)).collect(),
        appeared: Mutex::new(HashMap::new()),
        last_poll: Mutex::new(HashMap::new()),
        served: Mutex::new(HashMap::new()),
        feed_200: AtomicU64::new(0),
        feed_304: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        publishing: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/feeds/{name}", axum::routing::get(serve_feed))
        .route("/a/{feed}/{item}", axum::routing::get(serve_page))
        .route("/robots.txt", axum::routing::get(serve_robots))
        .route("/_stats", axum::routing::get(serve_stats))
        .route("/_publish", axum::routing::get(serve_publish))
        .route("/_timings", axum::routing::get(serve_timings))
        .with_state(farm);
    runtime.spawn(async move { axum::serve(listener, app).await.ok() });
    println!("{port}");
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink).ok();
        std::process::exit(0);
    });
    runtime.block_on(std::future::pending::<()>());
}

/// An item's timing in the farm (epoch seconds): when it appeared, when a response first
/// carried it, and when its feed was polled before that response.
type Timing = (f64, Option<f64>, Option<f64>);

/// A row of the farm's `/_timings`: feed, item, then the item's [`Timing`].
type TimingRow = (usize, usize, f64, Option<f64>, Option<f64>);

/// The farm child and how to reach its control endpoints.
struct FarmProcess {
    child: std::process::Child,
    port: u16,
    client: reqwest::Client,
}

/// The farm's counters at one moment.
#[derive(Clone, Copy)]
struct Counts {
    feed_200: u64,
    feed_304: u64,
    pages: u64,
    /// The farm process's peak RSS, KiB.
    peak_kib: u64,
}

impl FarmProcess {
    fn start(args: &Args) -> FarmProcess {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--farm-child", "--feeds", &args.feeds.to_string(), "--hosts", &args.hosts.to_string()])
            .args(["--items", &args.items.to_string(), "--new", &args.new.to_string()])
            // A heap profiler preloaded into the bench (heaptrack) profiles the daemon, not the farm.
            .env_remove("LD_PRELOAD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the farm process starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the farm prints its port");
        // reqwest is built without a default TLS provider (the daemon installs ring's).
        let _ = rustls::crypto::ring::default_provider().install_default();
        FarmProcess { child, port, client: reqwest::Client::new() }
    }

    async fn get(&self, path: &str) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        self.client.get(url).send().await.unwrap().text().await.unwrap()
    }

    async fn counts(&self) -> Counts {
        let [feed_200, feed_304, pages, peak_kib]: [u64; 4] =
            serde_json::from_str(&self.get("/_stats").await).unwrap();
        Counts { feed_200, feed_304, pages, peak_kib }
    }

    /// (feed, item) -> (appeared, first served, the poll before that) for items that appeared
    /// since `since`.
    async fn timings(&self, since: f64) -> HashMap<(usize, usize), Timing> {
        let rows: Vec<TimingRow> =
            serde_json::from_str(&self.get(&format!("/_timings?since={since}")).await).unwrap();
        rows.into_iter()
            .map(|(feed, item, appeared, served, before)| ((feed, item), (appeared, served, before)))
            .collect()
    }
}

impl Drop for FarmProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// CPU seconds (user + system) of this process, and of its threads whose name starts `bench`
/// or `sampler` (Linux; clock ticks of 10 ms).
fn cpu_seconds() -> (f64, f64) {
    let ticks = common::stat_cpu_seconds;
    let total = std::fs::read_to_string("/proc/self/stat").map_or(0.0, |stat| ticks(&stat));
    let mut excluded = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.starts_with("bench") || name.starts_with("sampler") {
                excluded +=
                    std::fs::read_to_string(task.path().join("stat")).map_or(0.0, |stat| ticks(&stat));
            }
        }
    }
    (total, excluded)
}

/// CPU seconds of the pipeline (the process without the bench's follower and the sampler) since
/// `since`.
struct CpuClock {
    start: (f64, f64),
}

impl CpuClock {
    fn start() -> CpuClock {
        CpuClock { start: cpu_seconds() }
    }

    fn pipeline_seconds(&self) -> f64 {
        let now = cpu_seconds();
        (now.0 - self.start.0) - (now.1 - self.start.1)
    }
}

fn status_value(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(key))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Samples the thread count every 5 ms on a thread of its own; returns the peak so far.
fn sample_peak_threads() -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let sampled = peak.clone();
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            loop {
                sampled.fetch_max(status_value("Threads:"), Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .unwrap();
    peak
}

/// One alert line's timing, in seconds (to 10 ms).
#[derive(Clone, Copy)]
struct Latency {
    /// From the item's appearance in its feed to its alert line.
    total: f64,
    /// From the response that first carried the item to its alert line: the pipeline's part.
    after_response: f64,
    /// The interval the feed was actually polled at: from the poll before that response to it.
    polled_every: Option<f64>,
}

/// Follows the alert log and notes, for every alert line, its item (feed, item) and when the
/// line was read (epoch seconds). Returns them when `stop` is cancelled.
async fn follow_alerts(path: std::path::PathBuf, stop: CancellationToken) -> Vec<((usize, usize), f64)> {
    let mut seen = Vec::new();
    let mut offset = std::fs::metadata(&path).map_or(0, |meta| meta.len());
    let mut partial = String::new();
    while !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let Ok(mut file) = std::fs::File::open(&path) else { continue };
        if file.seek(std::io::SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            offset += line.len() as u64;
            partial.push_str(&line);
            line.clear();
            if !partial.ends_with('\n') {
                continue;
            }
            let now = epoch_now();
            if let Ok(alert) = serde_json::from_str::<serde_json::Value>(&partial) {
                // The title carries " [feed-item]"; the alert's url may be the page's canonical
                // link (the fixture pages name their original site), not the farm's /a/feed/item.
                let numbers = alert["title"].as_str().and_then(|title| {
                    let (feed, item) = title.rsplit_once('[')?.1.split_once(']')?.0.split_once('-')?;
                    Some((feed.parse::<usize>().ok()?, item.parse::<usize>().ok()?))
                });
                if let Some(numbers) = numbers {
                    seen.push((numbers, now));
                }
            }
            partial.clear();
        }
    }
    seen
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * share).round() as usize]
}

fn db_bytes(state_dir: &std::path::Path) -> u64 {
    ["newswatch.db", "newswatch.db-wal"]
        .iter()
        .filter_map(|file| std::fs::metadata(state_dir.join(file)).ok())
        .map(|meta| meta.len())
        .sum()
}

fn main() {
    let args = parse_args();
    if args.farm_child {
        farm_main(&args);
        return;
    }
    let peak_threads = sample_peak_threads();
    let farm = FarmProcess::start(&args);
    // The bench's own work (the farm's control requests, following the alert log) runs on a
    // runtime of its own, whose threads are left out of the pipeline's CPU figures.
    let bench = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench")
        .enable_all()
        .build()
        .unwrap();
    let counts = || bench.block_on(farm.counts());

    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let alert_log = dir.path().join("alerts.jsonl");
    let mut text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nper_host_concurrency = 8\nper_host_rate = 0\nmax_concurrent_fetches = 64\n[defaults]\ninterval = \"{}s\"\n{}[[topics]]\nid = \"us-russia-talks\"\n[[topics]]\nid = \"load-marker\"\nquery = 'loadmark'\nthreshold = 0.5\non_same_story = \"alert\"\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        state_dir.display().to_string(),
        args.interval_secs,
        // Without --adaptive every feed is polled at exactly the interval (jitter aside).
        if args.adaptive {
            String::new()
        } else {
            format!("min_interval = \"{0}s\"\nmax_interval = \"{0}s\"\n", args.interval_secs)
        },
        alert_log.display().to_string()
    );
    for feed in 0..args.feeds {
        text.push_str(&format!(
            "[[feeds]]\nname = \"f{feed}\"\nurl = \"{}\"\n",
            feed_url(args.hosts, farm.port, feed)
        ));
    }
    let config = Config::from_toml(&text, "load.toml", std::path::Path::new("."))
        .unwrap_or_else(|err| panic!("{err}"));
    drop(text);
    let fetcher = || {
        Fetcher::with_parts(config.daemon.fetch_settings(), config.daemon.guard(), Arc::new(LoadNames))
            .unwrap()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "load: {} feeds on {} host names, {} items per feed, interval {} s; the farm in process {}",
        args.feeds,
        args.hosts,
        args.items,
        args.interval_secs,
        farm.child.id()
    );

    if args.seen > 0 {
        let started = Instant::now();
        let store = Store::open(&state_dir).unwrap();
        runtime.block_on(async {
            for start in (0..args.seen).step_by(5_000) {
                let records = (start..(start + 5_000).min(args.seen))
                    .map(|n| ItemRecord {
                        key: format!("https://www.example-{}.com/news/2026/11/story-{n:08}/", n % 97),
                        link: Some(format!("https://www.example-{}.com/news/2026/11/story-{n:08}/", n % 97)),
                        feed: format!("f{}", n % args.feeds.max(1)),
                        verdicts: Some(
                            "[{\"matched\":false,\"score\":0.0,\"topic\":\"us-russia-talks\"}]".into(),
                        ),
                        fingerprint: Some(format!("{n:032x}")),
                        ..ItemRecord::default()
                    })
                    .collect();
                store.record_items(records, chrono::Utc::now().timestamp() - 86_400).await.unwrap();
            }
        });
        drop(store);
        println!(
            "load: store filled with {} seen items in {:.0} s",
            args.seen,
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    drop(Store::open(&state_dir).unwrap());
    println!("load: start-up (store open) {:.1} ms", started.elapsed().as_secs_f64() * 1e3);

    // Cold round: every item new, every page fetched and extracted.
    let before = counts();
    let cpu = CpuClock::start();
    let started = Instant::now();
    let summary = runtime.block_on(newswatch::pipeline::run(
        &config,
        Store::open(&state_dir).unwrap(),
        fetcher(),
        CancellationToken::new(),
        RunMode::Once,
    ));
    let summary = summary.expect("the cold round runs");
    let (seconds, cpu_secs) = (started.elapsed().as_secs_f64(), cpu.pipeline_seconds());
    let after = counts();
    let fetches =
        (after.feed_200 + after.feed_304 + after.pages) - (before.feed_200 + before.feed_304 + before.pages);
    println!(
        "load cold round: {} polls, {} articles recorded, {} alerts in {seconds:.2} s: {:.0} fetches/s, {:.0} articles/s, {:.3} CPU s per 1,000 articles; peak RSS so far {} MiB",
        summary.polls,
        summary.recorded,
        summary.alerts,
        fetches as f64 / seconds,
        summary.recorded as f64 / seconds,
        cpu_secs * 1000.0 / summary.recorded.max(1) as f64,
        status_value("VmHWM:") / 1024
    );

    // 304 round: nothing changed.
    let before_304 = counts().feed_304;
    let cpu = CpuClock::start();
    let started = Instant::now();
    let summary = runtime
        .block_on(newswatch::pipeline::run(
            &config,
            Store::open(&state_dir).unwrap(),
            fetcher(),
            CancellationToken::new(),
            RunMode::Once,
        ))
        .expect("the 304 round runs");
    let (seconds, cpu_secs) = (started.elapsed().as_secs_f64(), cpu.pipeline_seconds());
    let answered_304 = counts().feed_304 - before_304;
    println!(
        "load 304 round (run --once, store opened and closed): {} polls, {answered_304} answered 304 in {seconds:.2} s: {:.3} CPU s per 1,000 polls",
        summary.polls,
        cpu_secs * 1000.0 / answered_304.max(1) as f64
    );

    // The daemon: polls on schedule; each interval a share of the feeds publishes.
    let shutdown = CancellationToken::new();
    let follow_stop = CancellationToken::new();
    let daemon_since = epoch_now();
    let follower = bench.spawn(follow_alerts(alert_log.clone(), follow_stop.clone()));
    let per_interval = ((args.feeds as f64) * args.changed).round() as u64;
    bench.block_on(
        farm.get(&format!("/_publish?interval_ms={}&per_interval={per_interval}", args.interval_secs * 1000)),
    );
    let before = counts();
    let cpu = CpuClock::start();
    let started = Instant::now();
    let daemon = {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        let (store, fetcher) = (Store::open(&state_dir).unwrap(), fetcher());
        runtime.spawn(async move {
            newswatch::pipeline::run(&config, store, fetcher, shutdown, RunMode::Daemon).await
        })
    };
    // Start-up (the story window read back, the sinks reconciled) is paid once per process:
    // the steady state is measured from the end of the first interval (or third of the run).
    let warm_up = Duration::from_secs(args.interval_secs.min(args.secs / 3));
    std::thread::sleep(warm_up);
    let steady_cpu = CpuClock::start();
    let steady_before = counts();
    std::thread::sleep(Duration::from_secs(args.secs).saturating_sub(warm_up));
    let steady_cpu_secs = steady_cpu.pipeline_seconds();
    let steady_after = counts();
    let steady = (
        steady_after.feed_200 - steady_before.feed_200,
        steady_after.feed_304 - steady_before.feed_304,
        steady_after.pages - steady_before.pages,
    );
    shutdown.cancel();
    let summary = runtime.block_on(daemon).unwrap().expect("the daemon runs");
    let (seconds, cpu_secs) = (started.elapsed().as_secs_f64(), cpu.pipeline_seconds());
    std::thread::sleep(Duration::from_millis(100));
    follow_stop.cancel();
    let alert_lines = bench.block_on(follower).unwrap();
    let after = counts();
    let (n200, n304, pages) =
        (after.feed_200 - before.feed_200, after.feed_304 - before.feed_304, after.pages - before.pages);
    // Taken before the bench reads the farm's timings back: what follows is the bench's, not
    // the daemon's.
    let peak_rss_mib = status_value("VmHWM:") / 1024;
    // A run shorter than an interval polls nothing in the steady state: no figure, not one
    // divided by a count of zero.
    let per_1000 = |cpu: f64, polls: u64| match polls {
        0 => "no polls, so no figure for".to_string(),
        _ => format!("{:.3}", cpu * 1000.0 / polls as f64),
    };
    println!(
        "load daemon steady state (after the first {} s): {} polls ({} changed, {} answered 304), {} pages: {} CPU s per 1,000 polls (all kinds)",
        warm_up.as_secs(),
        steady.0 + steady.1,
        steady.0,
        steady.1,
        steady.2,
        per_1000(steady_cpu_secs, steady.0 + steady.1)
    );
    let timings = bench.block_on(farm.timings(daemon_since));
    let latencies: Vec<Latency> = alert_lines
        .iter()
        .filter_map(|(key, written)| {
            let &(appeared, served, previous_poll) = timings.get(key)?;
            let served = served?;
            Some(Latency {
                total: written - appeared,
                after_response: written - served,
                polled_every: previous_poll.map(|before| served - before),
            })
        })
        .collect();
    let sorted = |value: fn(&Latency) -> Option<f64>| {
        let mut values: Vec<f64> = latencies.iter().filter_map(value).collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let total = sorted(|latency| Some(latency.total));
    let after_response = sorted(|latency| Some(latency.after_response));
    let polled_every = sorted(|latency| latency.polled_every);
    // How far past the interval the feed was actually polled at each alert came: the target
    // "p99 <= the feed's interval + 2 s" for adaptive intervals.
    let beyond_interval = sorted(|latency| latency.polled_every.map(|every| latency.total - every));
    println!(
        "load daemon {seconds:.0} s: {} polls ({n200} changed, {n304} answered 304), {pages} pages, {} articles recorded: {:.0} fetches/s; {} CPU s per 1,000 polls (all kinds), {:.1} % of a core",
        summary.polls,
        summary.recorded,
        (n200 + n304 + pages) as f64 / seconds,
        per_1000(cpu_secs, summary.polls),
        cpu_secs / seconds * 100.0
    );
    let bounds = if args.adaptive {
        "adaptive: min_interval..=max_interval derived from it"
    } else {
        "min_interval = max_interval = interval"
    };
    println!(
        "load publish-to-alert latency over {} alerts: p50 {:.2} s, p99 {:.2} s (interval {} s, {bounds}; target p99 <= interval + 2 s)",
        total.len(),
        percentile(&total, 0.5),
        percentile(&total, 0.99),
        args.interval_secs
    );
    println!(
        "load   of which from the response carrying the item to its alert line: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        percentile(&after_response, 0.5),
        percentile(&after_response, 0.99),
        after_response.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "load   the feeds' actual interval at those polls: p50 {:.2} s, p99 {:.2} s; latency minus that interval: p99 {:.2} s (target <= 2 s)",
        percentile(&polled_every, 0.5),
        percentile(&polled_every, 0.99),
        percentile(&beyond_interval, 0.99)
    );
    let store = Store::open(&state_dir).unwrap();
    let (_, seen) = runtime.block_on(store.counts()).unwrap();
    drop(store);
    println!(
        "load database: {seen} seen items, {:.0} bytes per seen item (WAL included)",
        db_bytes(&state_dir) as f64 / seen.max(1) as f64
    );
    println!(
        "load peak RSS: {peak_rss_mib} MiB (the daemon, with the bench's follower; the farm process apart: {} MiB)",
        after.peak_kib / 1024
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "load peak threads: {} ({cores} cores; includes the bench's runtime (2) and the sampler)",
        peak_threads.load(Relaxed)
    );
}
