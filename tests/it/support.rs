//! The test harness: a fixture HTTP server on 127.0.0.1 that answers conditional GETs and counts
//! requests, temp-dir configs, and helpers that run the real pipeline in-process.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswatch::alert::Alert;
use newswatch::config::Config;
use newswatch::fetch::Fetcher;
use newswatch::model::RunMode;
use newswatch::pipeline::{self, RunSummary};
use newswatch::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The fixture directory of this repository.
pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(relative)
}

pub fn fixture(relative: &str) -> Vec<u8> {
    std::fs::read(fixture_path(relative)).unwrap_or_else(|err| panic!("fixture {relative}: {err}"))
}

/// How the server answers one path.
#[derive(Clone)]
pub enum Route {
    /// 200 with this body and content type; ETag and Last-Modified are sent and a matching
    /// conditional GET gets 304. `{{BASE}}` and `{{NOW}}` in the body are filled in.
    Ok { body: Vec<u8>, content_type: &'static str },
    /// Just this status, with an optional Location.
    Status { status: u16, location: Option<String> },
    /// Like `Ok`, but the body is made per request from the number of earlier hits on the path.
    Dynamic { make: Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>, content_type: &'static str },
    /// Any other route, chosen per request from the number of earlier hits on the path.
    PerHit(Arc<dyn Fn(usize) -> Route + Send + Sync>),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub if_none_match: Option<String>,
    /// When it was answered.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Site {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<Vec<Hit>>,
    base: Mutex<String>,
    now: String,
    /// How long a 404 takes: lets tests stretch a run.
    not_found_delay: Mutex<std::time::Duration>,
}

/// A loopback HTTP server for one test.
#[derive(Clone)]
pub struct FixtureServer {
    site: Arc<Site>,
    pub addr: SocketAddr,
}

impl FixtureServer {
    /// Starts a server on `ip` (e.g. "127.0.0.1") on a free port.
    pub async fn start_on(ip: &str) -> FixtureServer {
        let site = Arc::new(Site {
            now: chrono::Utc::now().to_rfc2822().replace("+0000", "GMT"),
            ..Site::default()
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        *site.base.lock().unwrap() = format!("http://{addr}");
        let app = axum::Router::new().fallback(serve).with_state(site.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FixtureServer { site, addr }
    }

    pub async fn start() -> FixtureServer {
        FixtureServer::start_on("127.0.0.1").await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn route(&self, path: &str, route: Route) -> &Self {
        self.site.routes.lock().unwrap().insert(path.to_string(), route);
        self
    }

    pub fn ok(&self, path: &str, body: Vec<u8>, content_type: &'static str) -> &Self {
        self.route(path, Route::Ok { body, content_type })
    }

    pub fn status(&self, path: &str, status: u16) -> &Self {
        self.route(path, Route::Status { status, location: None })
    }

    /// Makes every 404 answer take `delay`.
    pub fn slow_not_found(&self, delay: std::time::Duration) {
        *self.site.not_found_delay.lock().unwrap() = delay;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.site.hits.lock().unwrap().clone()
    }

    pub fn hits_of(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|hit| hit.path == path).collect()
    }
}

async fn serve(State(site): State<Arc<Site>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let previous_hits = site.hits.lock().unwrap().iter().filter(|hit| hit.path == path).count();
    let route = match site.routes.lock().unwrap().get(&path).cloned() {
        Some(Route::Dynamic { make, content_type }) => {
            Some(Route::Ok { body: make(previous_hits), content_type })
        }
        Some(Route::PerHit(choose)) => Some(choose(previous_hits)),
        other => other,
    };
    let response = match route {
        None => {
            let delay = *site.not_found_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            StatusCode::NOT_FOUND.into_response()
        }
        Some(Route::Status { status, location }) => {
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(location) = location {
                response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
            }
            response
        }
        Some(Route::Dynamic { .. } | Route::PerHit(_)) => {
            // Resolved above; a PerHit that returns another PerHit is a test bug.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Some(Route::Ok { body, content_type }) => {
            let base = site.base.lock().unwrap().clone();
            let body =
                String::from_utf8_lossy(&body).replace("{{BASE}}", &base).replace("{{NOW}}", &site.now);
            let etag = format!("\"{:x}\"", fxhash(body.as_bytes()));
            if if_none_match.as_deref() == Some(etag.as_str()) {
                let mut headers = HeaderMap::new();
                headers.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
                (StatusCode::NOT_MODIFIED, headers).into_response()
            } else {
                let mut response = Response::new(Body::from(body));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                headers.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
                headers.insert(header::LAST_MODIFIED, HeaderValue::from_str(&site.now).unwrap());
                response
            }
        }
    };
    let at = std::time::Instant::now();
    site.hits.lock().unwrap().push(Hit { path, status: response.status().as_u16(), if_none_match, at });
    response
}

/// A tiny stable hash for ETags (FNV-1a).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, &b| (hash ^ b as u64).wrapping_mul(0x100000001b3))
}

/// A temp directory holding a config file, the state dir and the alert log.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    /// Daemons started with `spawn_daemon`: killed when the test ends, however it ends.
    daemons: std::sync::Mutex<Vec<u32>>,
}

impl Drop for TestDir {
    fn drop(&mut self) {
        for pid in self.daemons.lock().map(|pids| pids.clone()).unwrap_or_default() {
            // Already gone in a test that stopped its daemon: kill then fails, harmlessly.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir { dir: tempfile::tempdir().unwrap(), daemons: std::sync::Mutex::new(Vec::new()) }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn alert_log(&self) -> PathBuf {
        self.path().join("alerts.jsonl")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("newswatch.toml")
    }

    /// Writes a config watching `feeds` (name, URL), with the default topic; `extra_daemon` is
    /// appended to `[daemon]`.
    pub fn write_config(&self, feeds: &[(&str, String)], extra_daemon: &str) -> PathBuf {
        let mut daemon = String::from("allow_private_networks = true\n");
        // Short timeouts keep failing tests fast, unless the test sets its own.
        for (key, value) in [("request_timeout", "5s"), ("read_timeout", "3s")] {
            if !extra_daemon.contains(key) {
                daemon.push_str(&format!("{key} = {value:?}\n"));
            }
        }
        self.write_config_with_daemon(feeds, &format!("{daemon}{extra_daemon}"))
    }

    /// Starts `newswatch run` (the long-running daemon) on this directory's config, its stderr
    /// piped (read it with `wait_with_output`) or dropped.
    pub fn spawn_daemon(&self, keep_stderr: bool) -> std::process::Child {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--config"])
            .arg(self.config_path())
            .current_dir(self.path())
            // Not the test's stdout: a daemon outliving a failed test must not hold the pipe of
            // `cargo test | tee` open.
            .stdout(std::process::Stdio::null())
            .stderr(if keep_stderr { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .spawn()
            .expect("start newswatch");
        self.daemons.lock().unwrap().push(child.id());
        child
    }

    /// The alert log's complete lines, parsed, for reading while a daemon may be appending:
    /// a last line without its newline is a write in progress (a reader can see part of a
    /// line being copied in) and is left for the next read. Every complete line must be a
    /// whole alert.
    pub fn alerts_written(&self) -> Vec<Alert> {
        match std::fs::read_to_string(self.alert_log()) {
            Err(_) => Vec::new(),
            Ok(text) => {
                let complete = &text[..text.rfind('\n').map_or(0, |at| at + 1)];
                complete
                    .lines()
                    .map(|line| {
                        serde_json::from_str(line)
                            .unwrap_or_else(|err| panic!("bad alert line {line:?}: {err}"))
                    })
                    .collect()
            }
        }
    }

    /// Waits (at most 30 s) until the alert log holds `count` alerts.
    pub async fn wait_for_alerts(&self, count: usize) {
        let started = std::time::Instant::now();
        while self.alerts_written().len() < count {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the daemon wrote no {count} alerts"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn config(&self) -> Config {
        Config::load_file(&self.config_path()).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The alert log's lines, parsed; panics on a line that is not a whole alert.
    pub fn alerts(&self) -> Vec<Alert> {
        match std::fs::read_to_string(self.alert_log()) {
            Err(_) => Vec::new(),
            Ok(text) => text
                .lines()
                .map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|err| panic!("bad alert line {line:?}: {err}"))
                })
                .collect(),
        }
    }
}

/// Runs `run --once` in-process with the production fetcher.
pub async fn run_once(config: &Config) -> RunSummary {
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    run_once_with(config, fetcher).await
}

/// Runs `run --once` in-process with the given fetcher. The store is opened and closed here,
/// so consecutive calls are restarts.
pub async fn run_once_with(config: &Config, fetcher: Fetcher) -> RunSummary {
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let summary = pipeline::run(config, store, fetcher, CancellationToken::new(), RunMode::Once)
        .await
        .expect("the pipeline runs");
    wait_for_store_release(&config.daemon.state_dir).await;
    summary
}

/// A task the pipeline spawned (a fetch cut short at the end of the run) may drop its store
/// handle a moment after `run` returns; the lock goes with the last handle. A process exits
/// here, so only in-process restarts need to wait for it.
async fn wait_for_store_release(state_dir: &std::path::Path) {
    for _ in 0..200 {
        if newswatch::store::daemon_pid(state_dir).is_none() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store of {} is still locked 10 s after run --once returned", state_dir.display());
}

/// Runs `run --once` in-process on an already open store.
pub async fn run_once_on(config: &Config, store: Store) -> RunSummary {
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard()).unwrap();
    pipeline::run(config, store, fetcher, CancellationToken::new(), RunMode::Once)
        .await
        .expect("the pipeline runs")
}

/// Serves the hand-written talks feed and its pages on `server`.
pub fn serve_talks_site(server: &FixtureServer) {
    server
        .ok("/talks.xml", fixture("feeds/talks.xml"), "application/rss+xml; charset=utf-8")
        .ok("/articles/riyadh-talks.html", fixture("site/riyadh-talks.html"), "text/html; charset=utf-8")
        .ok("/articles/football.html", fixture("site/football.html"), "text/html; charset=utf-8")
        .status("/articles/broken-page.html", 500);
}

// Raw TCP fixtures for protocol-level abuse (drip, never answer, lying lengths, huge headers,
// bombs), a config writer with a whole `[daemon]` section, and generated compression bombs.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct RawStats {
    accepted: AtomicUsize,
    open: AtomicUsize,
    heads: Mutex<Vec<String>>,
    accepted_at: Mutex<Vec<std::time::Instant>>,
}

/// A loopback TCP server that hands every accepted connection to a handler, for answers no
/// well-behaved HTTP server would give. It counts connections (total, and open now)
/// and keeps every request head the handler read.
#[derive(Clone)]
pub struct RawServer {
    pub addr: SocketAddr,
    stats: Arc<RawStats>,
}

/// One accepted connection.
pub struct RawConn {
    pub stream: tokio::net::TcpStream,
    stats: Arc<RawStats>,
    buffered: Vec<u8>,
}

impl RawConn {
    /// Reads one request head (up to the blank line) and records it; None when the client
    /// closed first or sent more than 64 KiB without ending its head.
    pub async fn read_head(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffered.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffered[..end]).into_owned();
                self.buffered.drain(..end + 4);
                self.stats.heads.lock().unwrap().push(head.clone());
                return Some(head);
            }
            if self.buffered.len() > 64 * 1024 {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffered.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Writes bytes; false once the client has gone.
    pub async fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Holds the connection open, answering nothing, until the client closes it.
    pub async fn hold_until_closed(&mut self) {
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
    }
}

impl RawServer {
    /// Starts a server on `ip` on a free port.
    pub async fn start_on<F, Fut>(ip: &str, handler: F) -> RawServer
    where
        F: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind loopback");
        RawServer::serve(listener, handler)
    }

    pub async fn start<F, Fut>(handler: F) -> RawServer
    where
        F: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        RawServer::start_on("127.0.0.1", handler).await
    }

    /// Starts a server on exactly `addr`; None when that address is taken.
    pub async fn start_at<F, Fut>(addr: SocketAddr, handler: F) -> Option<RawServer>
    where
        F: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind(addr).await.ok()?;
        Some(RawServer::serve(listener, handler))
    }

    fn serve<F, Fut>(listener: tokio::net::TcpListener, handler: F) -> RawServer
    where
        F: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(RawStats::default());
        let handler = Arc::new(handler);
        let server_stats = stats.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stats = server_stats.clone();
                stats.accepted.fetch_add(1, Ordering::SeqCst);
                stats.accepted_at.lock().unwrap().push(std::time::Instant::now());
                stats.open.fetch_add(1, Ordering::SeqCst);
                let connection = handler(RawConn { stream, stats: stats.clone(), buffered: Vec::new() });
                tokio::spawn(async move {
                    connection.await;
                    stats.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        RawServer { addr, stats }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// When each connection was accepted, in order.
    pub fn accepted_at(&self) -> Vec<std::time::Instant> {
        self.stats.accepted_at.lock().unwrap().clone()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.stats.open.load(Ordering::SeqCst)
    }

    /// Every request head read so far.
    pub fn heads(&self) -> Vec<String> {
        self.stats.heads.lock().unwrap().clone()
    }
}

/// A whole HTTP/1.1 response that closes its connection.
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl TestDir {
    /// Writes a config whose `[daemon]` section is `daemon_lines` (plus `state_dir`), so a test
    /// can choose every timeout and cap itself; one feed per (name, URL).
    pub fn write_config_with_daemon(&self, feeds: &[(&str, String)], daemon_lines: &str) -> PathBuf {
        let mut text = format!(
            "[daemon]\nstate_dir = {:?}\n{daemon_lines}\n\n[defaults]\ninterval = \"1m\"\nbackfill = \"24h\"\n\n",
            self.state_dir().display().to_string()
        );
        for (name, url) in feeds {
            text.push_str(&format!("[[feeds]]\nname = {name:?}\nurl = {url:?}\n\n"));
        }
        // Every matching item alerts on its own: these tests count items, and their synthetic
        // items are one story (tests/it/story.rs tests the story alerts).
        text.push_str("[[topics]]\nid = \"us-russia-talks\"\non_same_story = \"alert\"\n\n");
        text.push_str(&format!(
            "[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
            self.alert_log().display().to_string()
        ));
        std::fs::write(self.config_path(), text).unwrap();
        self.config_path()
    }
}

/// An RSS feed with one matching item per link (titles and summaries about US–Russia talks),
/// dated `{{NOW}}` so FixtureServer fills in the time; links are XML-escaped.
pub fn talks_feed(links: &[String]) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (n, link) in links.iter().enumerate() {
        xml.push_str(&format!(
            "<item><title>Lavrov and Rubio hold talks, part {n}</title><link>{}</link><guid>g{n}</guid><pubDate>{}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov, part {n}.</description></item>",
            link.replace('&', "&amp;").replace('<', "&lt;"),
            chrono::Utc::now().to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// A gzip stream that inflates to `mebibytes` MiB of zeros, built from one compressed MiB
/// repeated (each segment ends with a full flush, so every segment after the first is the
/// same bytes) instead of compressing gigabytes in a debug build. The trailer's CRC is not
/// computed: a reader that honours its cap never gets there.
pub fn gzip_bomb(mebibytes: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut segment = |input: &[u8], flush: FlushCompress| {
        let mut out = Vec::with_capacity(8 * 1024);
        let mut consumed = 0;
        loop {
            out.reserve(8 * 1024);
            let before = deflate.total_in();
            deflate.compress_vec(&input[consumed..], &mut out, flush).unwrap();
            consumed += (deflate.total_in() - before) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    };
    let first = segment(&zeros, FlushCompress::Full);
    let repeated = segment(&zeros, FlushCompress::Full);
    let mut bomb = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    bomb.extend_from_slice(&first);
    for _ in 1..mebibytes {
        bomb.extend_from_slice(&repeated);
    }
    bomb.extend_from_slice(&segment(&[], FlushCompress::Finish));
    bomb.extend_from_slice(&[0; 4]); // CRC-32, never checked (see above)
    bomb.extend_from_slice(&((mebibytes as u32) << 20).to_le_bytes());
    bomb
}

/// A zstd stream of `mebibytes` frames, each inflating to 1 MiB of zeros (a stream of
/// several frames is valid zstd, and the client decodes every frame).
pub fn zstd_bomb(mebibytes: usize) -> Vec<u8> {
    let frame = zstd::bulk::compress(&vec![0u8; 1 << 20], 19).unwrap();
    frame.repeat(mebibytes)
}

/// A brotli stream inflating to `mebibytes` MiB of zeros. Brotli has no multi-member form, so
/// this one is really compressed; keep it to tens of MiB in tests.
pub fn brotli_bomb(mebibytes: usize) -> Vec<u8> {
    use std::io::Write;
    let zeros = vec![0u8; 1 << 20];
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, 5, 24);
    for _ in 0..mebibytes {
        writer.write_all(&zeros).unwrap();
    }
    writer.into_inner()
}

/// Runs the built `newswatch` binary in `dir`, as a user would, and waits for it.
pub fn newswatch(args: &[&str], dir: &TestDir) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_newswatch"))
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run newswatch")
}

/// Command output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
