//! Several instances on one PostgreSQL store (issue 16): three real daemons share a fresh
//! schema and a loopback farm of feeds on ten hosts (127.0.0.1 to 127.0.0.10). Every alert
//! reaches the JSON Lines logs exactly once (counted by id over the three logs), each host is
//! polled by one instance only, no feed is polled twice in an interval once the instances have
//! split the hosts, and when one is killed with SIGKILL its feeds are polled by the others
//! within the lease timeout plus one interval, again with every alert once.
//!
//! Runs when `NEWSWATCH_TEST_PG` names a database (`.ci/run` sets it when PostgreSQL answers);
//! otherwise it says so on stderr and passes without testing anything.

use crate::support::{FixtureServer, Route, TestDir, talks_feed};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Hosts of the small farm (loopback addresses), each serving [`FEEDS_PER_HOST`] feeds.
const HOSTS: usize = 10;
const FEEDS_PER_HOST: usize = 3;
const FEEDS: usize = HOSTS * FEEDS_PER_HOST;
const ITEMS_PER_GENERATION: usize = 2;
/// Every feed's fixed interval (min = max, so the adaptive schedule keeps it).
const INTERVAL: Duration = Duration::from_secs(4);
const LEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The tests of this module each run three debug daemons; one at a time, so a loaded CI
/// machine does not starve their lease keepers into hand-overs the tests then count.
pub(crate) static THREE_DAEMONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A schema of its own in the test database, dropped at the end.
pub(crate) struct Schema {
    admin_url: String,
    pub(crate) name: String,
    /// A URL whose connections use the schema.
    pub(crate) url: String,
}

impl Schema {
    pub(crate) async fn create(admin_url: &str) -> Schema {
        let name = format!("nw_it_{}_{:04x}", std::process::id(), fastrand::u16(..));
        let client = connect(admin_url).await;
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.unwrap();
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{name}");
        Schema { admin_url: admin_url.to_string(), name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = connect(&admin_url).await;
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
            })
        })
        .join();
    }
}

pub(crate) async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("NEWSWATCH_TEST_PG: cannot connect: {err}"));
    tokio::spawn(connection);
    client
}

/// One instance's directory: its config (the shared store, the farm's feeds) and its log.
fn instance_dir(schema: &Schema, farm: &Farm) -> TestDir {
    instance_dir_with(schema, farm, INTERVAL, LEASE_TIMEOUT, "")
}

/// [`instance_dir`] with the feeds' `interval`, the `lease_timeout` and more `[[sinks]]` (TOML)
/// after the log.
fn instance_dir_with(
    schema: &Schema,
    farm: &Farm,
    interval: Duration,
    lease_timeout: Duration,
    sinks: &str,
) -> TestDir {
    let dir = TestDir::new();
    let mut text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nrequest_timeout = \"5s\"\nread_timeout = \"3s\"\n\n\
         [defaults]\ninterval = \"{secs}s\"\nmin_interval = \"{secs}s\"\nmax_interval = \"{secs}s\"\nscrape = false\nbackfill = \"24h\"\n\n\
         [store]\nkind = \"postgres\"\nurl = {:?}\nlease_timeout = \"{}s\"\n\n",
        dir.state_dir().display().to_string(),
        schema.url,
        lease_timeout.as_secs(),
        secs = interval.as_secs(),
    );
    for n in 0..farm.feeds {
        text.push_str(&format!("[[feeds]]\nname = \"feed{n}\"\nurl = {:?}\n\n", farm.feed_url(n)));
    }
    text.push_str("[[topics]]\nid = \"us-russia-talks\"\non_same_story = \"alert\"\n\n");
    text.push_str(&format!(
        "[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        dir.alert_log().display().to_string()
    ));
    text.push_str(sinks);
    std::fs::write(dir.config_path(), text).unwrap();
    dir
}

/// The farm: one fixture server per loopback host; feed `n` lives on host `n % hosts` and
/// lists generation `g`'s items once the farm is switched to it. Bodies are made once, so an
/// unchanged feed answers 304 to its ETag.
struct Farm {
    servers: Vec<FixtureServer>,
    feeds: usize,
    generation: Arc<AtomicUsize>,
}

impl Farm {
    /// The small farm: [`FEEDS`] feeds on [`HOSTS`] hosts.
    async fn start(generations: usize, items_per_generation: usize) -> Farm {
        Farm::start_sized(HOSTS, FEEDS, generations, items_per_generation).await
    }

    /// `feeds` feeds on `hosts` loopback hosts (127.0.0.1 up to 127.0.0.`hosts`, at most 254).
    async fn start_sized(
        hosts: usize,
        feeds: usize,
        generations: usize,
        items_per_generation: usize,
    ) -> Farm {
        let mut servers = Vec::with_capacity(hosts);
        for host in 0..hosts {
            servers.push(FixtureServer::start_on(&format!("127.0.0.{}", host + 1)).await);
        }
        let farm = Farm { servers, feeds, generation: Arc::new(AtomicUsize::new(0)) };
        for n in 0..feeds {
            let server = &farm.servers[n % hosts];
            let bodies: Vec<Vec<u8>> = (1..=generations)
                .map(|generation| {
                    let links: Vec<String> = (0..generation * items_per_generation)
                        .map(|k| server.url(&format!("/a/{n}/{k}")))
                        .collect();
                    talks_feed(&links)
                })
                .collect();
            let generation = farm.generation.clone();
            server.route(
                &format!("/f{n}.xml"),
                Route::Dynamic {
                    make: Arc::new(move |_| bodies[generation.load(Ordering::SeqCst)].clone()),
                    content_type: "application/rss+xml",
                },
            );
        }
        farm
    }

    fn feed_url(&self, n: usize) -> String {
        self.servers[n % self.servers.len()].url(&format!("/f{n}.xml"))
    }

    /// Feed polls: (host index, path, when).
    fn polls(&self) -> Vec<(usize, String, Instant)> {
        let mut polls = Vec::new();
        for (host, server) in self.servers.iter().enumerate() {
            for hit in server.hits().into_iter().filter(|hit| hit.path.starts_with("/f")) {
                polls.push((host, hit.path, hit.at));
            }
        }
        polls
    }
}

/// Alert ids over every instance's log, with how often each appears (complete lines: the
/// instances may still be writing).
fn alert_counts(dirs: &[TestDir]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for dir in dirs {
        for alert in dir.alerts_written() {
            *counts.entry(alert.id).or_insert(0) += 1;
        }
    }
    counts
}

pub(crate) async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The hosts each instance (by pid) holds a live lease on.
pub(crate) async fn leases_by_pid(admin: &tokio_postgres::Client, schema: &str) -> HashMap<i64, Vec<String>> {
    let rows = admin
        .query(
            &*format!(
                "SELECT i.pid, l.host FROM {schema}.instances i
                   JOIN {schema}.leases l ON l.owner = i.id
                  WHERE l.expires_at_ms >= (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
            ),
            &[],
        )
        .await
        .unwrap_or_default();
    let mut by_pid: HashMap<i64, Vec<String>> = HashMap::new();
    for row in rows {
        by_pid.entry(row.get(0)).or_default().push(row.get(1));
    }
    by_pid
}

/// Watches the leases until `stop` and returns every change of a host's owner it saw after its
/// first look: (host index, when).
async fn watch_handovers(
    admin_url: String,
    schema: String,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<(usize, Instant)> {
    let admin = connect(&admin_url).await;
    let mut owners: Option<HashMap<usize, String>> = None;
    let mut changes = Vec::new();
    while !stop.is_cancelled() {
        let rows =
            admin.query(&*format!("SELECT host, owner FROM {schema}.leases"), &[]).await.unwrap_or_default();
        let now: HashMap<usize, String> = rows
            .iter()
            .filter_map(|row| {
                let host: String = row.get(0);
                let index = host.trim_start_matches("127.0.0.").parse::<usize>().ok()?.checked_sub(1)?;
                Some((index, row.get(1)))
            })
            .collect();
        if let Some(before) = &owners {
            for (host, owner) in &now {
                if before.get(host) != Some(owner) {
                    changes.push((*host, Instant::now()));
                }
            }
        }
        owners = Some(now);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_feeds_and_survive_a_kill() {
    let Ok(admin_url) = std::env::var("NEWSWATCH_TEST_PG") else {
        let _ = writeln!(
            std::io::stderr(),
            "note: NEWSWATCH_TEST_PG is not set: the three-instance PostgreSQL test did NOT run"
        );
        return;
    };
    let _one_at_a_time = THREE_DAEMONS.lock().await;
    let schema = Schema::create(&admin_url).await;
    let admin = connect(&admin_url).await;

    let farm = Farm::start(2, ITEMS_PER_GENERATION).await;
    let dirs: Vec<TestDir> = (0..3).map(|_| instance_dir(&schema, &farm)).collect();
    let mut daemons: Vec<std::process::Child> = dirs.iter().map(|dir| dir.spawn_daemon(false)).collect();
    let pids: Vec<i64> = daemons.iter().map(|daemon| i64::from(daemon.id())).collect();

    // Settled: every host leased, each instance holding 3 or 4 of the 10; no lease changes
    // hands after that.
    let last_seen = std::sync::Mutex::new(HashMap::new());
    let settling = async || {
        let leases = leases_by_pid(&admin, &schema.name).await;
        *last_seen.lock().unwrap() = leases.clone();
        leases.values().map(Vec::len).sum::<usize>() == HOSTS
            && pids.iter().all(|pid| {
                leases.get(pid).is_some_and(|hosts| (HOSTS / 3..=HOSTS.div_ceil(3)).contains(&hosts.len()))
            })
    };
    let what = "three instances to split the hosts";
    if tokio::time::timeout(Duration::from_secs(90), wait_for(what, Duration::from_secs(91), settling))
        .await
        .is_err()
    {
        panic!("timed out waiting for {what}; leases by pid: {:?}", last_seen.lock().unwrap());
    }
    let settled = Instant::now();
    let expected = FEEDS * ITEMS_PER_GENERATION;
    wait_for("every first-generation alert", Duration::from_secs(90), async || {
        alert_counts(&dirs).len() >= expected
    })
    .await;
    // Two more intervals of settled polling (mostly 304s) to look for double polls in.
    tokio::time::sleep(INTERVAL * 2).await;
    let counts = alert_counts(&dirs);
    assert_eq!(counts.len(), expected, "alerts: {counts:?}");
    assert!(counts.values().all(|&n| n == 1), "an alert in two logs: {counts:?}");
    let mut by_feed: HashMap<String, Vec<Instant>> = HashMap::new();
    for (_, path, at) in farm.polls() {
        by_feed.entry(path).or_default().push(at);
    }
    assert_eq!(by_feed.len(), FEEDS, "every feed polled");
    let double_polls: Vec<(&String, Duration)> = by_feed
        .iter()
        .flat_map(|(path, hits)| hits.windows(2).map(move |pair| (path, pair[1] - pair[0])))
        .filter(|(_, gap)| *gap < INTERVAL / 2)
        .collect();
    let after_settling: Vec<_> = by_feed
        .iter()
        .flat_map(|(path, hits)| {
            hits.windows(2).filter(|pair| pair[0] > settled).map(move |pair| (path, pair[1] - pair[0]))
        })
        .filter(|(_, gap)| *gap < INTERVAL / 2)
        .collect();
    eprintln!("double polls (gap under half an interval): {} during start-up hand-overs", double_polls.len());
    assert!(
        after_settling.is_empty(),
        "feeds polled twice in an interval after settling: {after_settling:?}"
    );

    // `status` lists the three instances alive, with their leases.
    let status = crate::support::newswatch(
        &["status", "--config", &dirs[0].config_path().display().to_string()],
        &dirs[0],
    );
    let status_text = crate::support::text(&status.stdout);
    eprintln!("{status_text}");
    assert!(status.status.success(), "{}", crate::support::text(&status.stderr));
    assert!(status_text.contains("(3 instances alive)"), "{status_text}");
    assert!(status_text.contains("30 configured on 10 hosts, 10 hosts leased"), "{status_text}");
    assert_eq!(status_text.lines().filter(|line| line.contains(" alive ")).count(), 3, "{status_text}");

    // kill -9 one instance at random; its feeds must be polled by the others within the lease
    // timeout plus one interval (plus a lease round and slack for a loaded machine).
    let victim = fastrand::usize(..3);
    let victim_hosts: Vec<usize> = leases_by_pid(&admin, &schema.name)
        .await
        .remove(&pids[victim])
        .expect("the victim holds leases")
        .iter()
        .map(|host| host.trim_start_matches("127.0.0.").parse::<usize>().unwrap() - 1)
        .collect();
    daemons[victim].kill().unwrap();
    daemons[victim].wait().unwrap();
    let killed = Instant::now();
    farm.generation.store(1, Ordering::SeqCst);
    let bound = LEASE_TIMEOUT + INTERVAL + LEASE_TIMEOUT / 3 + Duration::from_secs(10);
    let victim_paths: Vec<String> =
        (0..FEEDS).filter(|n| victim_hosts.contains(&(n % HOSTS))).map(|n| format!("/f{n}.xml")).collect();
    let polled_after_kill = |path: &String| {
        farm.polls()
            .into_iter()
            .filter(|(_, polled, at)| polled == path && *at > killed)
            .map(|(_, _, at)| at)
            .min()
    };
    wait_for("the killed instance's feeds to be polled again", bound, async || {
        victim_paths.iter().all(|path| polled_after_kill(path).is_some())
    })
    .await;
    let takeover = victim_paths.iter().filter_map(polled_after_kill).max().map(|at| at - killed);
    eprintln!("feeds of the killed instance polled again after {takeover:?} (bound {bound:?})");

    let expected = FEEDS * ITEMS_PER_GENERATION * 2;
    let survivors: Vec<usize> = (0..3).filter(|&n| n != victim).collect();
    let victim_lines = dirs[victim].alerts().len();
    wait_for("every second-generation alert", Duration::from_secs(90), async || {
        alert_counts(&dirs).len() >= expected
    })
    .await;
    let counts = alert_counts(&dirs);
    assert_eq!(counts.len(), expected);
    assert!(counts.values().all(|&n| n == 1), "an alert in two logs: {counts:?}");
    assert_eq!(dirs[victim].alerts().len(), victim_lines, "the dead instance wrote nothing more");
    for survivor in survivors {
        daemons[survivor].kill().unwrap();
        daemons[survivor].wait().unwrap();
    }
}

/// kill -9 one of three instances at a random moment, restart it, twenty times, while the
/// feeds keep publishing: afterwards every alert is in the logs exactly once (by id), none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_random_kills_lose_and_repeat_nothing() {
    let Ok(admin_url) = std::env::var("NEWSWATCH_TEST_PG") else {
        let _ = writeln!(std::io::stderr(), "note: NEWSWATCH_TEST_PG is not set: the kill test did NOT run");
        return;
    };
    const KILLS: usize = 20;
    let _one_at_a_time = THREE_DAEMONS.lock().await;
    let schema = Schema::create(&admin_url).await;
    // Generation g: each feed lists g + 1 items; the next generation after every kill.
    let generations = KILLS + 2;
    let farm = Farm::start(generations, 1).await;
    let dirs: Vec<TestDir> = (0..3).map(|_| instance_dir(&schema, &farm)).collect();
    let mut daemons: Vec<std::process::Child> = dirs.iter().map(|dir| dir.spawn_daemon(false)).collect();
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(200..2500))).await;
        let victim = fastrand::usize(..3);
        daemons[victim].kill().unwrap();
        daemons[victim].wait().unwrap();
        daemons[victim] = dirs[victim].spawn_daemon(false);
        farm.generation.store((kill + 1).min(generations - 1), Ordering::SeqCst);
    }
    farm.generation.store(generations - 1, Ordering::SeqCst);
    // Backfill covers the items' dates, so every item listed alerts once.
    let expected = FEEDS * generations;
    wait_for("every alert after the kills", Duration::from_secs(120), async || {
        alert_counts(&dirs).len() >= expected
    })
    .await;
    // A little longer, for a duplicate still on its way.
    tokio::time::sleep(INTERVAL + LEASE_TIMEOUT).await;
    let counts = alert_counts(&dirs);
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!("{KILLS} kills: {} alerts, {} in two logs", counts.len(), repeated.len());
    assert_eq!(counts.len(), expected, "alerts lost");
    assert!(repeated.is_empty(), "alerts delivered twice: {repeated:?}");
    for daemon in &mut daemons {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}

/// Three instances, one database, a farm of 1,000 feeds on 50 hosts, alerts to each instance's
/// JSON Lines log and to one NATS JetStream stream: every expected alert is in the union of the
/// logs exactly once and on the stream exactly once (by alert id), and once the instances have
/// split the hosts no feed is polled twice in an interval. Needs `NEWSWATCH_TEST_PG`; the NATS
/// half needs `NEWSWATCH_TEST_NATS` too (without it the logs alone are checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_feeds_on_three_instances_alert_once_in_the_logs_and_on_nats() {
    const BIG_HOSTS: usize = 50;
    const BIG_FEEDS: usize = 1000;
    /// Long enough for a debug daemon to poll its third of the farm well within one interval.
    const BIG_INTERVAL: Duration = Duration::from_secs(10);
    /// No instance dies here: a lease long enough that a starved debug daemon on a loaded
    /// machine does not lose its hosts between two renewals.
    const BIG_LEASE_TIMEOUT: Duration = Duration::from_secs(20);
    let Ok(admin_url) = std::env::var("NEWSWATCH_TEST_PG") else {
        let _ = writeln!(
            std::io::stderr(),
            "note: NEWSWATCH_TEST_PG is not set: the 1,000-feed three-instance test did NOT run"
        );
        return;
    };
    let nats = crate::nats::nats_url("a_thousand_feeds_on_three_instances (NATS half)");
    let _one_at_a_time = THREE_DAEMONS.lock().await;
    let schema = Schema::create(&admin_url).await;
    let admin = connect(&admin_url).await;
    let (stream, prefix) = crate::nats::fresh_names();
    let sinks = match &nats {
        Some(url) => format!(
            "\n[[sinks]]\nkind = \"nats\"\nname = \"bus\"\nurl = \"{url}\"\nsubject = \"{prefix}.<topic>\"\nstream = \"{stream}\"\nmax_age = \"10m\"\n"
        ),
        None => String::new(),
    };

    let farm = Farm::start_sized(BIG_HOSTS, BIG_FEEDS, 1, 1).await;
    let dirs: Vec<TestDir> =
        (0..3).map(|_| instance_dir_with(&schema, &farm, BIG_INTERVAL, BIG_LEASE_TIMEOUT, &sinks)).collect();
    let mut daemons: Vec<std::process::Child> = dirs.iter().map(|dir| dir.spawn_daemon(false)).collect();
    let pids: Vec<i64> = daemons.iter().map(|daemon| i64::from(daemon.id())).collect();

    let settling = async || {
        let leases = leases_by_pid(&admin, &schema.name).await;
        leases.values().map(Vec::len).sum::<usize>() == BIG_HOSTS
            && pids.iter().all(|pid| {
                leases
                    .get(pid)
                    .is_some_and(|hosts| (BIG_HOSTS / 3..=BIG_HOSTS.div_ceil(3)).contains(&hosts.len()))
            })
    };
    wait_for("three instances to split 50 hosts", Duration::from_secs(120), settling).await;
    let settled = Instant::now();
    let watching = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(watch_handovers(admin_url.clone(), schema.name.clone(), watching.clone()));
    let expected = BIG_FEEDS;
    wait_for("every alert in the logs", Duration::from_secs(180), async || {
        alert_counts(&dirs).len() >= expected
    })
    .await;
    // Two more settled intervals (every feed answering 304) to look for double polls in.
    tokio::time::sleep(BIG_INTERVAL * 2).await;
    let counts = alert_counts(&dirs);
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(counts.len(), expected, "alerts in the logs");
    assert!(repeated.is_empty(), "alerts in two logs: {repeated:?}");
    let per_instance: Vec<usize> = dirs.iter().map(|dir| dir.alerts().len()).collect();
    eprintln!("1,000 feeds: {} alerts in the logs, by instance {per_instance:?}", counts.len());

    watching.cancel();
    let handovers = watcher.await.unwrap();
    let mut by_feed: HashMap<String, (usize, Vec<Instant>)> = HashMap::new();
    for (host, path, at) in farm.polls() {
        by_feed.entry(path).or_insert((host, Vec::new())).1.push(at);
    }
    assert_eq!(by_feed.len(), BIG_FEEDS, "every feed polled");
    // Two polls of one feed less than half an interval apart, after settling.
    let doubles: Vec<(&String, usize, Instant, Instant)> = by_feed
        .iter()
        .flat_map(|(path, (host, hits))| {
            hits.windows(2)
                .filter(|pair| pair[0] > settled && pair[1] - pair[0] < BIG_INTERVAL / 2)
                .map(move |pair| (path, *host, pair[0], pair[1]))
        })
        .collect();
    // A double poll is a hand-over's when its host changed hands from an interval before the
    // first poll to just after the second (a lease that lapsed on a starved machine).
    let (handed_over, unexplained): (Vec<_>, Vec<_>) =
        doubles.iter().partition(|(_, host, first, second)| {
            handovers.iter().any(|(changed, at)| {
                changed == host && *at + BIG_INTERVAL >= *first && *at <= *second + Duration::from_secs(1)
            })
        });
    let polls: usize = by_feed.values().map(|(_, hits)| hits.len()).sum();
    eprintln!(
        "1,000 feeds: {polls} polls; after settling {} lease hand-overs, {} double polls at a hand-over, {} otherwise",
        handovers.len(),
        handed_over.len(),
        unexplained.len()
    );
    assert!(
        unexplained.is_empty(),
        "feeds polled twice in an interval after settling, with no hand-over of their host: {:?}",
        unexplained.iter().map(|(path, _, first, second)| (path, *second - *first)).collect::<Vec<_>>()
    );

    if let Some(url) = &nats {
        let js = crate::nats::jetstream_at(url).await;
        let log_ids: Vec<String> = counts.keys().cloned().collect();
        let started = Instant::now();
        let on_stream = loop {
            let on_stream = crate::nats::counts(&crate::nats::stored(&js, &stream).await);
            if log_ids.iter().all(|id| on_stream.contains_key(id))
                || started.elapsed() > Duration::from_secs(60)
            {
                break on_stream;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let missing = log_ids.iter().filter(|id| !on_stream.contains_key(*id)).count();
        let twice: Vec<_> = on_stream.iter().filter(|(_, n)| **n > 1).collect();
        eprintln!(
            "1,000 feeds: {} alerts on NATS, {missing} missing, {} twice",
            on_stream.len(),
            twice.len()
        );
        assert_eq!(missing, 0, "alerts in the logs but not on NATS");
        assert_eq!(on_stream.len(), expected, "alerts on NATS that no log has");
        assert!(twice.is_empty(), "alerts twice on NATS: {twice:?}");
        let _ = js.delete_stream(&stream).await;
    }
    for daemon in &mut daemons {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}

/// A bad `[store]` stops `run` and `check-config` before anything starts, naming the file, the
/// key and the reason; a good one is summarised without its password. Needs no database.
#[test]
fn bad_store_configuration_is_refused_before_anything_starts() {
    let dir = TestDir::new();
    let feeds =
        "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/rss\"\n[[topics]]\nid = \"us-russia-talks\"\n";
    let config = dir.config_path().display().to_string();
    let cases = [
        ("[store]\nkind = \"postgres\"\nurl_env = \"NEWSWATCH_IT_NO_SUCH_VARIABLE\"\n", "store.url_env"),
        ("[store]\nkind = \"postgres\"\nurl = \"mysql://x\"\n", "store.url"),
        ("[store]\nurl = \"postgres://root@127.0.0.1/test\"\n", "store.url"),
        ("[store]\nkind = \"postgress\"\n", "store.kind"),
    ];
    for (store, key) in cases {
        std::fs::write(dir.config_path(), format!("[daemon]\nstate_dir = \"state\"\n{store}{feeds}"))
            .unwrap();
        for command in ["check-config", "run"] {
            let output = crate::support::newswatch(&[command, "--config", &config], &dir);
            let stderr = crate::support::text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command} with {store}: {stderr}");
            assert!(stderr.contains(&config) && stderr.contains(key), "{command}: {stderr}");
        }
        assert!(!dir.path().join("state").exists(), "nothing started");
    }
    std::fs::write(
        dir.config_path(),
        format!("[store]\nkind = \"postgres\"\nurl = \"postgres://nw:hunter2@db.example:5432/nw\"\n{feeds}"),
    )
    .unwrap();
    let output = crate::support::newswatch(&["check-config", "--config", &config], &dir);
    let stdout = crate::support::text(&output.stdout);
    assert!(output.status.success(), "{}", crate::support::text(&output.stderr));
    assert!(stdout.contains("store: postgres postgres://nw:***@db.example:5432/nw"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}
