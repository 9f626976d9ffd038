//! Scale-out benchmark (issue 16): how much 1, 2 and 3 `newswatch run` processes on one
//! PostgreSQL database get done on this machine, and what the database costs. A loopback farm
//! serves `--feeds` feeds on `--hosts` loopback addresses (127.0.0.1 up), built from the fixture
//! feeds, with the fixture article pages behind every item. For each instance count, on a fresh
//! schema:
//!
//! 1. the instances start with every feed empty and wait until they have split the hosts;
//! 2. **cold**: every feed publishes `--items` new items at once; timed until every item is
//!    recorded (fetch, parse, scrape, extract, classify, record, alert): articles/s, and CPU
//!    seconds per 1,000 articles of the instances and of the PostgreSQL server processes;
//! 3. **304**: for `--secs` nothing changes and every poll is answered 304: polls/s and CPU
//!    seconds per 1,000 polls, instances and database apart.
//!
//! The database's CPU share is its CPU over the instances' and its own together. PostgreSQL's
//! CPU is that of the instances' sessions (`application_name = newswatch`) and the server's
//! background processes, so other clients of the same server count only through the latter.
//!
//! `cargo bench --bench scale_out -- [--pg postgres://root@127.0.0.1:5432/test] [--feeds 1000]
//! [--hosts 50] [--items 20] [--instances 1,2,3] [--interval 5] [--secs 20]`
//! The URL may also come from `NEWSWATCH_BENCH_PG` or `NEWSWATCH_TEST_PG`; without one it says
//! so and does nothing.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

mod common;
use common::material::{Material, load_material};

struct Args {
    pg: Option<String>,
    feeds: usize,
    hosts: usize,
    items: usize,
    instances: Vec<usize>,
    interval_secs: u64,
    secs: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        pg: std::env::var("NEWSWATCH_BENCH_PG").or_else(|_| std::env::var("NEWSWATCH_TEST_PG")).ok(),
        feeds: 1000,
        hosts: 50,
        items: 20,
        instances: vec![1, 2, 3],
        interval_secs: 5,
        secs: 20,
    };
    let words: Vec<String> = std::env::args().skip(1).collect();
    for pair in words.windows(2) {
        let value = pair[1].as_str();
        match pair[0].as_str() {
            "--pg" => args.pg = Some(value.to_string()),
            "--feeds" => args.feeds = value.parse().expect("--feeds N"),
            "--hosts" => args.hosts = value.parse().expect("--hosts M"),
            "--items" => args.items = value.parse().expect("--items K"),
            "--instances" => {
                args.instances =
                    value.split(',').map(|n| n.trim().parse().expect("--instances 1,2,3")).collect()
            }
            "--interval" => args.interval_secs = value.parse().expect("--interval SECONDS"),
            "--secs" => args.secs = value.parse().expect("--secs SECONDS"),
            _ => {}
        }
    }
    args.hosts = args.hosts.clamp(1, args.feeds.clamp(1, 254));
    args
}

/// The farm: one listener per loopback host; every feed is empty at version 0 and lists
/// `items` items from version 1 on.
struct Farm {
    material: Material,
    /// The port of host `h` (127.0.0.`h + 1`).
    ports: Vec<u16>,
    items: usize,
    version: AtomicU32,
    feed_200: AtomicU64,
    feed_304: AtomicU64,
    pages: AtomicU64,
}

impl Farm {
    fn base(&self, feed: usize) -> String {
        let host = feed % self.ports.len();
        format!("http://127.0.0.{}:{}", host + 1, self.ports[host])
    }

    fn feed_url(&self, feed: usize) -> String {
        format!("{}/feeds/{feed}.xml", self.base(feed))
    }

    fn document(&self, feed: usize, version: u32) -> String {
        let mut xml = self.material.channel_head.clone();
        if version > 0 {
            let now = chrono::Utc::now().to_rfc2822();
            for item in 0..self.items {
                let link = format!("{}/a/{feed}/{item}", self.base(feed));
                xml.push_str(&self.material.item_block(feed, item, &link, &now));
            }
        }
        xml.push_str("</channel></rss>");
        xml
    }
}

async fn serve_feed(State(farm): State<Arc<Farm>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(feed) = name.strip_suffix(".xml").and_then(|n| n.parse::<usize>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let version = farm.version.load(Relaxed);
    let etag = format!("\"v{version}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        farm.feed_304.fetch_add(1, Relaxed);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    farm.feed_200.fetch_add(1, Relaxed);
    let xml = farm.document(feed, version);
    ([(header::CONTENT_TYPE, "application/rss+xml".to_string()), (header::ETAG, etag)], xml).into_response()
}

async fn serve_page(State(farm): State<Arc<Farm>>, Path((feed, item)): Path<(usize, usize)>) -> Response {
    farm.pages.fetch_add(1, Relaxed);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], farm.material.page(feed, item)).into_response()
}

/// CPU seconds (user + system) of process `pid` (Linux, clock ticks of 10 ms); 0 once gone.
fn process_cpu(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0.0, |stat| common::stat_cpu_seconds(&stat))
}

/// PostgreSQL's processes that work for the instances: the backends of sessions named
/// `newswatch` (the instances set that `application_name`) and the server's own background
/// processes (WAL writer, checkpointer, …), not other clients' backends.
async fn postgres_pids(admin: &tokio_postgres::Client) -> Vec<u32> {
    let rows = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'newswatch' OR backend_type <> 'client backend'",
            &[],
        )
        .await
        .unwrap_or_default();
    rows.iter().filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok()).collect()
}

/// The instances' and the database's CPU seconds since `start`.
struct Cpu {
    pids: Vec<u32>,
    /// PostgreSQL's processes and their CPU seconds at the start (a backend that ends takes
    /// its CPU with it; the instances' pooled sessions live through a phase).
    db: Vec<(u32, f64)>,
    start: f64,
}

impl Cpu {
    async fn start(pids: &[u32], admin: &tokio_postgres::Client) -> Cpu {
        let pids = pids.to_vec();
        let start = pids.iter().map(|&pid| process_cpu(pid)).sum();
        let db = postgres_pids(admin).await.into_iter().map(|pid| (pid, process_cpu(pid))).collect();
        Cpu { pids, db, start }
    }

    /// (instances, database): the database's counts the sessions there at the start and at the
    /// end (a session opened in between from 0).
    async fn elapsed(&self, admin: &tokio_postgres::Client) -> (f64, f64) {
        let instances: f64 = self.pids.iter().map(|&pid| process_cpu(pid)).sum();
        let mut db = 0.0;
        let now = postgres_pids(admin).await;
        for pid in &now {
            let before = self.db.iter().find(|(known, _)| known == pid).map_or(0.0, |(_, cpu)| *cpu);
            db += (process_cpu(*pid) - before).max(0.0);
        }
        (instances - self.start, db)
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("scale_out: cannot connect to {url}: {err}"));
    tokio::spawn(connection);
    client
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.map_or(0, |row| row.get(0))
}

/// One instance's configuration: the shared schema, the farm's feeds, a JSON Lines log.
fn instance_config(
    dir: &std::path::Path,
    url: &str,
    farm: &Farm,
    feeds: usize,
    interval: u64,
) -> std::path::PathBuf {
    let mut text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nper_host_concurrency = 8\nper_host_rate = 0\nmax_concurrent_fetches = 64\n\n\
         [defaults]\ninterval = \"{interval}s\"\nmin_interval = \"{interval}s\"\nmax_interval = \"{interval}s\"\nbackfill = \"24h\"\n\n\
         [store]\nkind = \"postgres\"\nurl = {url:?}\nlease_timeout = \"6s\"\n\n\
         [[topics]]\nid = \"us-russia-talks\"\n\n[[topics]]\nid = \"load-marker\"\nquery = 'loadmark'\nthreshold = 0.5\non_same_story = \"alert\"\n\n\
         [[sinks]]\nkind = \"jsonl\"\npath = {:?}\n\n",
        dir.join("state").display().to_string(),
        dir.join("alerts.jsonl").display().to_string(),
    );
    for feed in 0..feeds {
        text.push_str(&format!("[[feeds]]\nname = \"f{feed}\"\nurl = \"{}\"\n", farm.feed_url(feed)));
    }
    let path = dir.join("newswatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "scale_out: timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

async fn run_instances(args: &Args, url: &str, farm: &Arc<Farm>, instances: usize) {
    let admin = connect(url).await;
    let schema = format!("nw_bench_{}_{instances}", std::process::id());
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    farm.version.store(0, Relaxed);
    let dirs: Vec<tempfile::TempDir> = (0..instances).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut children: Vec<std::process::Child> = dirs
        .iter()
        .map(|dir| {
            let config = instance_config(dir.path(), &schema_url, farm, args.feeds, args.interval_secs);
            std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
                .args(["run", "--config"])
                .arg(&config)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start newswatch")
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(std::process::Child::id).collect();

    // Settled: every host leased, each instance holding its fair share, every feed polled once.
    let hosts = args.hosts;
    let settle = wait_until("the instances to split the hosts", Duration::from_secs(180), async || {
        let leased = admin
            .query(&*format!("SELECT owner, COUNT(*) FROM {schema}.leases GROUP BY owner"), &[])
            .await
            .unwrap_or_default();
        let counts: Vec<i64> = leased.iter().map(|row| row.get(1)).collect();
        counts.len() == instances
            && counts.iter().sum::<i64>() == hosts as i64
            && counts.iter().all(|&n| (hosts / instances..=hosts.div_ceil(instances)).contains(&(n as usize)))
            && farm.feed_200.load(Relaxed) as usize >= args.feeds
    })
    .await;

    // Cold: every feed publishes its items now.
    let expected = (args.feeds * args.items) as i64;
    let seen_sql = format!("SELECT COUNT(*) FROM {schema}.seen");
    let cpu = Cpu::start(&pids, &admin).await;
    farm.version.store(1, Relaxed);
    let seconds = wait_until("every item recorded", Duration::from_secs(600), async || {
        count(&admin, &seen_sql).await >= expected
    })
    .await
    .as_secs_f64();
    let (instance_cpu, db_cpu) = cpu.elapsed(&admin).await;
    let alerts = count(&admin, &format!("SELECT COUNT(DISTINCT alert_id) FROM {schema}.outbox")).await;
    println!(
        "scale_out {instances} instance(s): settled in {:.1} s; cold: {expected} articles ({alerts} alerts) in {seconds:.2} s = {:.0} articles/s; CPU s per 1,000 articles: instances {:.3}, database {:.3} (database share {:.0} %)",
        settle.as_secs_f64(),
        expected as f64 / seconds,
        instance_cpu * 1000.0 / expected as f64,
        db_cpu * 1000.0 / expected as f64,
        100.0 * db_cpu / (instance_cpu + db_cpu).max(1e-9),
    );

    // 304: nothing changes for a while.
    tokio::time::sleep(Duration::from_secs(args.interval_secs)).await;
    let before = farm.feed_304.load(Relaxed);
    let cpu = Cpu::start(&pids, &admin).await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let seconds = started.elapsed().as_secs_f64();
    let (instance_cpu, db_cpu) = cpu.elapsed(&admin).await;
    let polls = farm.feed_304.load(Relaxed) - before;
    println!(
        "scale_out {instances} instance(s): 304 for {seconds:.0} s: {polls} polls = {:.0} polls/s; CPU s per 1,000 polls: instances {:.3}, database {:.3} (database share {:.0} %); {:.1} % of a core in all",
        polls as f64 / seconds,
        instance_cpu * 1000.0 / polls.max(1) as f64,
        db_cpu * 1000.0 / polls.max(1) as f64,
        100.0 * db_cpu / (instance_cpu + db_cpu).max(1e-9),
        100.0 * (instance_cpu + db_cpu) / seconds,
    );

    for child in &mut children {
        let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
}

fn main() {
    let args = parse_args();
    let Some(url) = args.pg.clone() else {
        println!(
            "scale_out: no database (set --pg URL, NEWSWATCH_BENCH_PG or NEWSWATCH_TEST_PG); nothing measured"
        );
        return;
    };
    // The farm has a runtime of its own, apart from the one that watches the database.
    let farm_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("farm")
        .enable_all()
        .build()
        .unwrap();
    let listeners: Vec<tokio::net::TcpListener> = (0..args.hosts)
        .map(|host| {
            farm_runtime
                .block_on(tokio::net::TcpListener::bind(format!("127.0.0.{}:0", host + 1)))
                .expect("bind a loopback address")
        })
        .collect();
    let farm = Arc::new(Farm {
        material: load_material(),
        ports: listeners.iter().map(|listener| listener.local_addr().unwrap().port()).collect(),
        items: args.items,
        version: AtomicU32::new(0),
        feed_200: AtomicU64::new(0),
        feed_304: AtomicU64::new(0),
        pages: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/feeds/{name}", axum::routing::get(serve_feed))
        .route("/a/{feed}/{item}", axum::routing::get(serve_page))
        .route("/robots.txt", axum::routing::get(|| async { StatusCode::NOT_FOUND }))
        .with_state(farm.clone());
    for listener in listeners {
        let app = app.clone();
        farm_runtime.spawn(async move { axum::serve(listener, app).await.ok() });
    }
    println!(
        "scale_out: {} feeds on {} loopback hosts, {} items each with a page, interval {} s; {} cores",
        args.feeds,
        args.hosts,
        args.items,
        args.interval_secs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for &instances in &args.instances {
        farm.feed_200.store(0, Relaxed);
        runtime.block_on(run_instances(&args, &url, &farm, instances));
    }
}
