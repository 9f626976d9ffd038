//! Smart polling (issue 15): adaptive intervals within their bounds, server hints (`<ttl>`,
//! `<sy:updatePeriod>`, `Cache-Control: max-age`, `Expires`) honoured, and a restart that resumes
//! the spread schedule instead of polling every feed at once. The real daemon pipeline polls a
//! loopback server that counts and timestamps every request; assertions count requests in
//! windows with wide margins (a loaded machine only makes polls later, never earlier).

use crate::support::TestDir;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswatch::config::Config;
use newswatch::fetch::Fetcher;
use newswatch::model::RunMode;
use newswatch::pipeline::{self, RunSummary};
use newswatch::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Makes a feed body from the number of earlier requests for its path.
type MakeBody = Arc<dyn Fn(usize) -> String + Send + Sync>;

struct Feed {
    make: MakeBody,
    headers: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct FarmState {
    feeds: HashMap<String, Feed>,
    /// Every request: path and when it arrived.
    hits: Vec<(String, Instant)>,
    /// Every response: path and status.
    statuses: Vec<(String, u16)>,
}

/// A loopback server of feeds that answers conditional GETs (ETag) with 304 and sends each
/// feed's extra headers on 200 and 304 alike.
#[derive(Clone, Default)]
struct Farm {
    state: Arc<Mutex<FarmState>>,
    base: String,
}

impl Farm {
    async fn start() -> Farm {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind loopback");
        let farm = Farm { base: format!("http://{}", listener.local_addr().unwrap()), ..Farm::default() };
        let app = axum::Router::new().fallback(serve).with_state(farm.state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        farm
    }

    fn feed(&self, path: &str, make: MakeBody, headers: Vec<(&'static str, String)>) -> String {
        self.state.lock().unwrap().feeds.insert(path.to_string(), Feed { make, headers });
        format!("{}{path}", self.base)
    }

    fn static_feed(&self, path: &str, body: String, headers: Vec<(&'static str, String)>) -> String {
        self.feed(path, Arc::new(move |_| body.clone()), headers)
    }

    /// When each request for `path` arrived, in order.
    fn hits_of(&self, path: &str) -> Vec<Instant> {
        let state = self.state.lock().unwrap();
        state.hits.iter().filter(|(hit, _)| hit == path).map(|(_, at)| *at).collect()
    }

    /// The status of every response for `path`, in order.
    fn statuses_of(&self, path: &str) -> Vec<u16> {
        let state = self.state.lock().unwrap();
        state.statuses.iter().filter(|(hit, _)| hit == path).map(|(_, status)| *status).collect()
    }

    /// Requests per path that arrived at or after `since`.
    fn hits_since(&self, since: Instant) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (path, at) in &self.state.lock().unwrap().hits {
            if *at >= since {
                *counts.entry(path.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

async fn serve(State(state): State<Arc<Mutex<FarmState>>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let mut state = state.lock().unwrap();
    let previous = state.hits.iter().filter(|(hit, _)| *hit == path).count();
    state.hits.push((path.clone(), Instant::now()));
    let Some(feed) = state.feeds.get(&path) else { return StatusCode::NOT_FOUND.into_response() };
    let body = (feed.make)(previous);
    let headers_of_feed = feed.headers.clone();
    let etag = format!(
        "\"{:x}\"",
        body.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
    );
    let mut response = if if_none_match.is_some_and(|value| value == etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(axum::body::Body::from(body));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/rss+xml"));
        response
    };
    state.statuses.push((path, response.status().as_u16()));
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    for (name, value) in &headers_of_feed {
        headers.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    response
}

/// An RSS 2.0 document with `head` in its channel and one undated item per key.
fn rss(head: &str, keys: impl IntoIterator<Item = String>) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>t</title>{head}"
    );
    for key in keys {
        xml.push_str(&format!(
            "<item><title>Story {key} about nothing in particular</title><guid>{key}</guid><description>Plain words for story {key}, long enough for a fingerprint.</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

/// Writes a config for `feeds_toml` (whole `[[feeds]]` tables) polling one loopback host as fast
/// as it likes, and loads it.
fn config(dir: &TestDir, feeds_toml: &str) -> Config {
    let text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nper_host_rate = 0\nper_host_concurrency = 16\nrequest_timeout = \"10s\"\n\n[defaults]\nscrape = false\n\n{feeds_toml}\n[[topics]]\nid = \"us-russia-talks\"\n\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        dir.state_dir().display().to_string(),
        dir.alert_log().display().to_string()
    );
    std::fs::write(dir.config_path(), text).unwrap();
    dir.config()
}

/// A wall clock frozen where the test puts it.
#[derive(Debug)]
struct FixedClock(chrono::DateTime<chrono::Utc>);

impl newswatch::poll::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// The daemon (RunMode::Daemon) running in-process until `stop`.
struct Daemon {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<RunSummary>,
}

impl Daemon {
    fn start(config: &Config, clock: Option<chrono::DateTime<chrono::Utc>>) -> Daemon {
        let store = Store::open(&config.daemon.state_dir).unwrap();
        let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
        let shutdown = CancellationToken::new();
        let (config, stop) = (config.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            let run = match clock {
                Some(at) => {
                    let clock = Arc::new(FixedClock(at));
                    pipeline::run_with_clock(&config, store, fetcher, stop, RunMode::Daemon, clock).await
                }
                None => pipeline::run(&config, store, fetcher, stop, RunMode::Daemon).await,
            };
            run.expect("the pipeline ends cleanly")
        });
        Daemon { shutdown, task }
    }

    async fn stop(self) -> RunSummary {
        self.shutdown.cancel();
        self.task.await.unwrap()
    }
}

/// Waits (at most `limit`) until `done` holds.
async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_interval_ms(config: &Config, feed: &str) -> i64 {
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let schedule = store.feed_schedule(feed).await.unwrap().expect("the feed was polled");
    schedule.poll_interval_ms.expect("the adaptive interval is stored")
}

/// After a 304 the next poll reuses the feed's state instead of reading the store (the common
/// case of a large watch list); after a 200 it must send the validators of that 200, or the
/// feed would be fetched in full on every poll from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_after_304s_send_the_stored_validators_and_after_a_change_the_new_ones() {
    let farm = Farm::start().await;
    // The same document for the first four requests, another one from the fifth on.
    let feed = farm.feed(
        "/changes.xml",
        Arc::new(|hits| {
            let version = if hits < 4 { 1 } else { 2 };
            rss("", (0..version).map(|n| format!("changes-{n}")))
        }),
        vec![],
    );
    let dir = TestDir::new();
    let config = config(
        &dir,
        &format!(
            "[[feeds]]\nname = \"changes\"\nurl = {feed:?}\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_interval = \"1s\"\n"
        ),
    );
    let daemon = Daemon::start(&config, None);
    wait_until(Duration::from_secs(60), "seven polls", || farm.statuses_of("/changes.xml").len() >= 7).await;
    daemon.stop().await;
    let statuses = farm.statuses_of("/changes.xml");
    // 200 (first), 304 × 3 (the stored ETag, then the one kept after each 304), 200 (changed:
    // the old ETag no longer matches), then 304s: the new ETag was used.
    assert_eq!(&statuses[..7], &[200, 304, 304, 304, 200, 304, 304], "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_intervals_speed_up_for_a_busy_feed_and_slow_down_for_a_quiet_one_within_bounds() {
    let farm = Farm::start().await;
    // Three new items on every request: more than one per poll, so the poller should come sooner.
    let busy = farm.feed(
        "/busy.xml",
        Arc::new(|hits| rss("", (0..3 * (hits + 1)).map(|n| format!("busy-{n}")))),
        vec![],
    );
    // Never changes: every poll after the first is a 304, so the poller should back off.
    let quiet = farm.static_feed("/quiet.xml", rss("", ["quiet-0".to_string()]), vec![]);
    let dir = TestDir::new();
    let config = config(
        &dir,
        &format!(
            "[[feeds]]\nname = \"busy\"\nurl = {busy:?}\ninterval = \"3s\"\nmin_interval = \"1s\"\nmax_interval = \"8s\"\n\n\
             [[feeds]]\nname = \"quiet\"\nurl = {quiet:?}\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_interval = \"4s\"\n"
        ),
    );
    let daemon = Daemon::start(&config, None);
    // quiet: 1 s, 1.5 s, 2.25 s, 3.4 s, then 4 s (its max); busy: 3 s, then 1 s (its min).
    wait_until(Duration::from_secs(90), "five polls of each feed", || {
        farm.hits_of("/quiet.xml").len() >= 6 && farm.hits_of("/busy.xml").len() >= 6
    })
    .await;
    daemon.stop().await;
    assert_eq!(stored_interval_ms(&config, "busy").await, 1000, "a busy feed is polled at its min_interval");
    assert_eq!(
        stored_interval_ms(&config, "quiet").await,
        4000,
        "a quiet feed is polled at its max_interval"
    );
    // `feeds list --json` shows the bounds and where the schedule stands.
    let config_arg = dir.config_path().display().to_string();
    let listed = tokio::task::block_in_place(|| {
        crate::support::newswatch(&["feeds", "list", "--json", "--config", &config_arg], &dir)
    });
    let lines: Vec<serde_json::Value> = crate::support::text(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let busy_line = lines.iter().find(|line| line["name"] == "busy").expect("busy listed");
    assert_eq!(
        (&busy_line["poll_interval_secs"], &busy_line["min_interval_secs"], &busy_line["max_interval_secs"]),
        (&serde_json::json!(1.0), &serde_json::json!(1), &serde_json::json!(8)),
        "{busy_line}"
    );
    // The server saw the quiet feed's gaps grow: waits only get longer under load, so the last
    // gap is at least the grown interval less its jitter (3.4 s × 0.95 or more).
    let quiet_hits = farm.hits_of("/quiet.xml");
    let gaps: Vec<Duration> = quiet_hits.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(gaps[gaps.len() - 1] >= Duration::from_millis(3200), "{gaps:?}");
    assert!(gaps[gaps.len() - 1] > gaps[0], "the gaps grew: {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_update_period_max_age_and_expires_hold_a_feed_back_up_to_max_interval() {
    let farm = Farm::start().await;
    let item = || vec!["one".to_string()];
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc2822().replace("+0000", "GMT");
    let feeds = [
        ("plain", farm.static_feed("/plain.xml", rss("", item()), vec![])),
        ("ttl", farm.static_feed("/ttl.xml", rss("<ttl>60</ttl>", item()), vec![])),
        ("sy", farm.static_feed("/sy.xml", rss("<sy:updatePeriod>hourly</sy:updatePeriod>", item()), vec![])),
        (
            "maxage",
            farm.static_feed("/maxage.xml", rss("", item()), vec![("cache-control", "max-age=3600".into())]),
        ),
        ("expires", farm.static_feed("/expires.xml", rss("", item()), vec![("expires", in_an_hour)])),
        // A day's ttl is still capped by this feed's max_interval of two hours.
        ("ttl-day", farm.static_feed("/ttl-day.xml", rss("<ttl>1440</ttl>", item()), vec![])),
    ];
    let mut feeds_toml = String::new();
    for (name, url) in &feeds {
        feeds_toml.push_str(&format!(
            "[[feeds]]\nname = {name:?}\nurl = {url:?}\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_interval = \"2h\"\n\n"
        ));
    }
    let dir = TestDir::new();
    let config = config(&dir, &feeds_toml);
    let started = chrono::Utc::now().timestamp();
    let daemon = Daemon::start(&config, None);
    // The plain feed, polled every 1 s then 1.5 s, 2.25 s, …: four polls take about 5 s. In that
    // time the hinted feeds must have been polled once and only once.
    wait_until(Duration::from_secs(60), "four polls of the plain feed", || {
        farm.hits_of("/plain.xml").len() >= 4
    })
    .await;
    daemon.stop().await;
    let finished = chrono::Utc::now().timestamp();
    for (name, _) in &feeds[1..] {
        assert_eq!(
            farm.hits_of(&format!("/{name}.xml")).len(),
            1,
            "{name} was polled again before its hint ran out"
        );
    }
    let store = Store::open(&config.daemon.state_dir).unwrap();
    for (name, _) in &feeds[1..] {
        let schedule = store.feed_schedule(name).await.unwrap().unwrap();
        let next = schedule.next_poll_at.unwrap();
        let (shortest, longest) = if *name == "ttl-day" { (7200, 7200) } else { (3600, 3600) };
        // ±5 % jitter around the hint, never beyond max_interval.
        assert!(next >= started + shortest * 95 / 100, "{name}: next poll at +{}s", next - started);
        assert!(
            next <= finished + (longest * 105 / 100).min(7200) + 1,
            "{name}: next poll at +{}s",
            next - started
        );
    }
    let ttl = store.feed_schedule("ttl").await.unwrap().unwrap();
    assert_eq!(ttl.feed_hint_secs, Some(3600), "the document's hint is kept for the 304s to come");
    drop(store);

    // An hour later (by the injected clock) the feed is due; it answers 304, which carries no
    // document, yet the remembered <ttl> still holds the next poll an hour off.
    let later = ttl.next_poll_at.unwrap();
    let daemon = Daemon::start(&config, Some(chrono::DateTime::from_timestamp(later, 0).unwrap()));
    wait_until(Duration::from_secs(60), "the ttl feed polled again", || farm.hits_of("/ttl.xml").len() >= 2)
        .await;
    let summary = daemon.stop().await;
    assert!(summary.not_modified >= 1, "{summary:?}");
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let after = store.feed_schedule("ttl").await.unwrap().unwrap();
    let next = after.next_poll_at.unwrap();
    assert!(next >= later + 3600 * 95 / 100, "after a 304 the next poll is only +{}s", next - later);
    assert_eq!(after.feed_hint_secs, Some(3600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_the_spread_schedule_and_polls_only_the_feeds_that_are_due() {
    const FEEDS: usize = 1000;
    let farm = Farm::start().await;
    let body = rss("", std::iter::empty());
    let mut feeds_toml = String::new();
    for n in 0..FEEDS {
        let url = farm.static_feed(&format!("/f{n}.xml"), body.clone(), vec![]);
        feeds_toml.push_str(&format!("[[feeds]]\nname = \"f{n}\"\nurl = {url:?}\ninterval = \"1h\"\n\n"));
    }
    let dir = TestDir::new();
    let config = config(&dir, &feeds_toml);

    // A fresh install: every feed is fetched promptly, but not all at once.
    let first_start = Instant::now();
    let daemon = Daemon::start(&config, None);
    wait_until(Duration::from_secs(120), "every feed polled once", || {
        farm.hits_since(first_start).len() == FEEDS
    })
    .await;
    let all_polled_after = first_start.elapsed();
    daemon.stop().await;
    let first_second =
        farm.hits_since(first_start).len() - farm.hits_since(first_start + Duration::from_secs(1)).len();
    assert!(first_second <= FEEDS * 3 / 10, "{first_second} of {FEEDS} feeds polled in the first second");
    eprintln!(
        "fresh start: {FEEDS} feeds all polled within {:.1}s, {first_second} in the first second",
        all_polled_after.as_secs_f64()
    );

    // The stored schedule: every feed an hour (± jitter) after its poll.
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let states = store.feed_states().await.unwrap();
    drop(store);
    assert_eq!(states.len(), FEEDS);
    let mut due_times: Vec<(String, i64)> =
        states.iter().map(|state| (state.name.clone(), state.next_poll_at.expect("scheduled"))).collect();
    for (name, next) in &due_times {
        let polled = states.iter().find(|state| &state.name == name).unwrap().last_fetch_at.unwrap();
        assert!(
            (3420..=3780).contains(&(next - polled)),
            "{name}: next poll {}s after the last",
            next - polled
        );
    }
    due_times.sort_by_key(|(_, next)| *next);
    // Restart "later", at the median due time: about half the feeds are due, the rest are not.
    let restart_at = due_times[FEEDS / 2].1;
    let due: Vec<&str> =
        due_times.iter().filter(|(_, next)| *next <= restart_at).map(|(name, _)| name.as_str()).collect();
    assert!(due.len() >= FEEDS / 4 && due.len() < FEEDS, "{} due", due.len());

    let second_start = Instant::now();
    let clock = chrono::DateTime::from_timestamp(restart_at, 0).unwrap();
    let daemon = Daemon::start(&config, Some(clock));
    wait_until(Duration::from_secs(120), "every due feed polled", || {
        let hits = farm.hits_since(second_start);
        due.iter().all(|name| hits.contains_key(&format!("/{name}.xml")))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = daemon.stop().await;
    let elapsed = second_start.elapsed().as_secs() as i64;
    let hits = farm.hits_since(second_start);
    // No thundering herd: only feeds due by now (restart time + the seconds that passed) were
    // polled, each once, and the overdue ones were spread out, not sent in one burst.
    for (path, count) in &hits {
        let name = &path[1..path.len() - 4];
        let next = due_times.iter().find(|(feed, _)| feed == name).unwrap().1;
        assert!(
            next <= restart_at + elapsed + 1,
            "{name} polled {}s before it was due",
            next - restart_at - elapsed
        );
        assert_eq!(*count, 1, "{name} polled {count} times after the restart");
    }
    assert!(hits.len() < FEEDS * 3 / 4, "{} of {FEEDS} feeds polled after the restart", hits.len());
    // Every request the farm saw is a poll the daemon counted. Polls in flight when the daemon
    // stopped are counted though their request may never have reached the farm.
    assert!(hits.len() <= summary.polls as usize, "{} hits, {summary:?}", hits.len());
    let first_second = hits.len() - farm.hits_since(second_start + Duration::from_secs(1)).len();
    assert!(
        first_second <= due.len() * 3 / 10,
        "{first_second} of {} due feeds polled in the first second",
        due.len()
    );
    eprintln!(
        "restart: {} of {FEEDS} feeds due, {} polled in the first {elapsed}s, {first_second} in the first second",
        due.len(),
        hits.len()
    );
}
