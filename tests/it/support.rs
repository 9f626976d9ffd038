//! The test harness: a fixture HTTP server on 127.0.0.1 that answers conditional GETs and counts
//! requests, temp-dir configs, and helpers that run the real pipeline in-process.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use newswatch::alert::Alert;
use newswatch::config::Config;
use newswatch::fetch::Fetcher;
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
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub if_none_match: Option<String>,
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
        Some(Route::Dynamic { .. }) => unreachable!("made into Ok above"),
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
    site.hits.lock().unwrap().push(Hit { path, status: response.status().as_u16(), if_none_match });
    response
}

/// A tiny stable hash for ETags (FNV-1a).
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, &b| (hash ^ b as u64).wrapping_mul(0x100000001b3))
}

/// A temp directory holding a config file, the state dir and the alert log.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir { dir: tempfile::tempdir().unwrap() }
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
        let mut daemon = format!(
            "state_dir = {:?}\nallow_private_networks = true\n",
            self.state_dir().display().to_string()
        );
        // Short timeouts keep failing tests fast, unless the test sets its own.
        for (key, value) in [("request_timeout", "5s"), ("read_timeout", "3s")] {
            if !extra_daemon.contains(key) {
                daemon.push_str(&format!("{key} = {value:?}\n"));
            }
        }
        let mut text = format!(
            "[daemon]\n{daemon}{extra_daemon}\n\n[defaults]\ninterval = \"1m\"\nbackfill = \"24h\"\n\n"
        );
        for (name, url) in feeds {
            text.push_str(&format!("[[feeds]]\nname = {name:?}\nurl = {url:?}\n\n"));
        }
        text.push_str("[[topics]]\nid = \"us-russia-talks\"\n\n");
        text.push_str(&format!(
            "[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
            self.alert_log().display().to_string()
        ));
        std::fs::write(self.config_path(), text).unwrap();
        self.config_path()
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
    let fetcher = Fetcher::new(&config.daemon).unwrap();
    run_once_with(config, fetcher).await
}

/// Runs `run --once` in-process with the given fetcher. The store is opened and closed here,
/// so consecutive calls are restarts.
pub async fn run_once_with(config: &Config, fetcher: Fetcher) -> RunSummary {
    let store = Store::open(&config.daemon.state_dir).unwrap();
    pipeline::run(config, store, fetcher, CancellationToken::new(), true).await
}

/// Runs `run --once` in-process on an already open store.
pub async fn run_once_on(config: &Config, store: Store) -> RunSummary {
    let fetcher = Fetcher::new(&config.daemon).unwrap();
    pipeline::run(config, store, fetcher, CancellationToken::new(), true).await
}

/// Serves the hand-written talks feed and its pages on `server`.
pub fn serve_talks_site(server: &FixtureServer) {
    server
        .ok("/talks.xml", fixture("feeds/talks.xml"), "application/rss+xml; charset=utf-8")
        .ok("/articles/riyadh-talks.html", fixture("site/riyadh-talks.html"), "text/html; charset=utf-8")
        .ok("/articles/football.html", fixture("site/football.html"), "text/html; charset=utf-8")
        .status("/articles/broken-page.html", 500);
}
