//! Configuration: the raw TOML structs, and [`Config::load`], which turns them into a validated
//! [`Config`] or a [`ConfigError`] listing every problem with its file, key path and reason.
//!
//! Nothing starts before the whole configuration, topics included, has been validated.

use crate::classify::{Topic, TopicSpec};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Where `run` and the other commands look for the configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/newswatch.toml";
/// The shipped configuration, embedded so the binary works from any directory.
pub const EMBEDDED_CONFIG: &str = include_str!("../config/newswatch.toml");
/// How the embedded configuration is named in messages.
pub const EMBEDDED_CONFIG_NAME: &str = "<embedded config/newswatch.toml>";

pub const DEFAULT_STATE_DIR: &str = "data";
pub const DEFAULT_USER_AGENT: &str =
    "newswatch/0.1 (news monitor; +https://github.com/newswatch-rs/newswatch)";
pub const DEFAULT_MAX_CONCURRENT_FETCHES: usize = 16;
pub const DEFAULT_PER_HOST_CONCURRENCY: usize = 2;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_BACKFILL: Duration = Duration::from_secs(24 * 60 * 60);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(6 * 60 * 60);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_FEED_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 5 * 1024 * 1024;
pub const DEFAULT_MAX_ITEMS_PER_POLL: usize = 500;

// ---------------------------------------------------------------------------------------------
// Raw structs: they mirror the TOML exactly. Durations and URLs stay strings here so a bad value
// is reported with its key path by `validate`, not as an opaque serde error.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    feeds: Vec<RawFeed>,
    #[serde(default)]
    topics: Vec<TopicSpec>,
    #[serde(default)]
    sinks: Vec<RawSink>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    state_dir: Option<PathBuf>,
    allow_private_networks: Option<bool>,
    allow_hosts: Option<Vec<String>>,
    user_agent: Option<String>,
    max_concurrent_fetches: Option<i64>,
    per_host_concurrency: Option<i64>,
    per_host_rate: Option<i64>,
    per_host_burst: Option<i64>,
    respect_robots_txt: Option<bool>,
    request_timeout: Option<String>,
    connect_timeout: Option<String>,
    read_timeout: Option<String>,
    max_backoff: Option<String>,
    shutdown_grace: Option<String>,
    max_feed_bytes: Option<i64>,
    max_page_bytes: Option<i64>,
    max_items_per_poll: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    interval: Option<String>,
    scrape: Option<bool>,
    backfill: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: String,
    url: String,
    interval: Option<String>,
    scrape: Option<bool>,
    backfill: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: String,
    path: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Validated configuration.

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, or [`EMBEDDED_CONFIG_NAME`].
    pub source: String,
    pub daemon: DaemonConfig,
    pub feeds: Vec<FeedConfig>,
    pub topics: Vec<Topic>,
    pub sinks: Vec<SinkConfig>,
}

/// `[daemon]`: process-wide settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub state_dir: PathBuf,
    /// May URLs found inside feeds (item links, redirects) reach non-public addresses?
    pub allow_private_networks: bool,
    /// Host names (or IP literals) that URLs found inside feeds may reach even when private.
    pub allow_hosts: Vec<String>,
    pub user_agent: String,
    pub max_concurrent_fetches: usize,
    pub per_host_concurrency: usize,
    /// Requests per second to one host (0 = no rate limit).
    pub per_host_rate: u32,
    /// Requests to one host that may start back to back before the rate applies.
    pub per_host_burst: u32,
    /// Whether article pages are checked against their site's robots.txt (feeds never are).
    pub respect_robots_txt: bool,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_backoff: Duration,
    pub shutdown_grace: Duration,
    pub max_feed_bytes: u64,
    pub max_page_bytes: u64,
    pub max_items_per_poll: usize,
}

/// One `[[feeds]]` entry with the `[defaults]` applied.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub url: Url,
    pub interval: Duration,
    pub scrape: bool,
    pub backfill: Duration,
}

/// One `[[sinks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Append one JSON object per line to a file.
    Jsonl { path: PathBuf },
}

impl SinkConfig {
    /// A stable name for the sink, used to track delivery in the outbox.
    pub fn name(&self) -> String {
        match self {
            SinkConfig::Jsonl { path } => format!("jsonl:{}", path.display()),
        }
    }
}

impl Config {
    /// The path of the first JSON Lines sink: what `newswatch alerts` reads.
    pub fn alert_log(&self) -> Option<&Path> {
        self.sinks.iter().map(|SinkConfig::Jsonl { path }| path.as_path()).next()
    }
}

/// Every problem found in a configuration, each with its key path.
#[derive(Debug)]
pub struct ConfigError {
    /// The file (or [`EMBEDDED_CONFIG_NAME`]).
    pub source: String,
    pub problems: Vec<Problem>,
}

/// One problem: where (a key path such as `feeds[2].url`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{}: {}: {}", self.source, one.key, one.reason),
            many => {
                write!(f, "{} has {} problems", self.source, many.len())?;
                for problem in many {
                    write!(f, "\n  {}: {}", problem.key, problem.reason)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads `path`, or, when `path` is None, `config/newswatch.toml` if it exists and the
    /// embedded default otherwise.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(path) => Self::load_file(path),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::load_file(Path::new(DEFAULT_CONFIG_PATH))
            }
            // The embedded default refers to topic files relative to `config/`; the built-in
            // topics resolve without them.
            None => Self::from_toml(EMBEDDED_CONFIG, EMBEDDED_CONFIG_NAME, Path::new("config")),
        }
    }

    /// Loads and validates one file.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            source: source.clone(),
            problems: vec![Problem { key: "(file)".into(), reason: format!("cannot read: {err}") }],
        })?;
        let config_dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, &source, config_dir)
    }

    /// Parses and validates TOML text; `source` names it in errors and `config_dir` is where
    /// relative topic files are looked up.
    pub fn from_toml(text: &str, source: &str, config_dir: &Path) -> Result<Config, ConfigError> {
        let fail = |key: String, reason: String| ConfigError {
            source: source.to_string(),
            problems: vec![Problem { key, reason }],
        };
        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|err| fail(line_of(text, err.span()), err.message().to_string()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let line = line_of(text, inner.span());
            let key = if path == "." { line } else { format!("{path} ({line})") };
            fail(key, inner.message().to_string())
        })?;
        validate(raw, config_dir).map_err(|problems| ConfigError { source: source.to_string(), problems })
    }
}

/// "line N" for a byte span, or "document" when there is none.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1;
            format!("line {line}")
        }
        None => "document".to_string(),
    }
}

/// Parses a duration such as `"90s"`, `"10m"` or `"2h"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|err| format!("{text:?} is not a duration like \"90s\", \"10m\" or \"2h\" ({err})"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(duration)
}

/// Collects problems while validating, each under its key path.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Problem { key: key.into(), reason: reason.into() });
    }

    fn duration(&mut self, key: &str, value: Option<&String>, default: Duration) -> Duration {
        match value.map(|text| parse_duration(text)) {
            None => default,
            Some(Ok(duration)) => duration,
            Some(Err(reason)) => {
                self.push(key, reason);
                default
            }
        }
    }

    fn count(&mut self, key: &str, value: Option<i64>, default: u64, range: (u64, u64)) -> u64 {
        match value {
            None => default,
            Some(n) if n >= range.0 as i64 && n <= range.1 as i64 => n as u64,
            Some(n) => {
                self.push(key, format!("{n} is out of range {}..={}", range.0, range.1));
                default
            }
        }
    }
}

fn validate(raw: RawConfig, config_dir: &Path) -> Result<Config, Vec<Problem>> {
    let mut problems = Problems::default();
    let d = &raw.daemon;
    let user_agent = d.user_agent.clone().unwrap_or_else(|| DEFAULT_USER_AGENT.to_string());
    if user_agent.trim().is_empty() || user_agent.chars().any(char::is_control) {
        problems.push("daemon.user_agent", "must be non-empty printable text");
    }
    let state_dir = d.state_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    if state_dir.as_os_str().is_empty() {
        problems.push("daemon.state_dir", "must not be empty");
    }
    let daemon = DaemonConfig {
        allow_private_networks: d.allow_private_networks.unwrap_or(false),
        allow_hosts: d.allow_hosts.clone().unwrap_or_default(),
        user_agent,
        max_concurrent_fetches: problems.count(
            "daemon.max_concurrent_fetches",
            d.max_concurrent_fetches,
            DEFAULT_MAX_CONCURRENT_FETCHES as u64,
            (1, 1024),
        ) as usize,
        per_host_concurrency: problems.count(
            "daemon.per_host_concurrency",
            d.per_host_concurrency,
            DEFAULT_PER_HOST_CONCURRENCY as u64,
            (1, 64),
        ) as usize,
        per_host_rate: problems.count(
            "daemon.per_host_rate",
            d.per_host_rate,
            crate::fetch::DEFAULT_HOST_REQUESTS_PER_SECOND as u64,
            (0, 10_000),
        ) as u32,
        per_host_burst: problems.count(
            "daemon.per_host_burst",
            d.per_host_burst,
            crate::fetch::DEFAULT_HOST_BURST as u64,
            (1, 10_000),
        ) as u32,
        respect_robots_txt: d.respect_robots_txt.unwrap_or(true),
        request_timeout: problems.duration(
            "daemon.request_timeout",
            d.request_timeout.as_ref(),
            DEFAULT_REQUEST_TIMEOUT,
        ),
        connect_timeout: problems.duration(
            "daemon.connect_timeout",
            d.connect_timeout.as_ref(),
            DEFAULT_CONNECT_TIMEOUT,
        ),
        read_timeout: problems.duration("daemon.read_timeout", d.read_timeout.as_ref(), DEFAULT_READ_TIMEOUT),
        max_backoff: problems.duration("daemon.max_backoff", d.max_backoff.as_ref(), DEFAULT_MAX_BACKOFF),
        shutdown_grace: problems.duration(
            "daemon.shutdown_grace",
            d.shutdown_grace.as_ref(),
            DEFAULT_SHUTDOWN_GRACE,
        ),
        max_feed_bytes: problems.count(
            "daemon.max_feed_bytes",
            d.max_feed_bytes,
            DEFAULT_MAX_FEED_BYTES,
            (1024, 1 << 30),
        ),
        max_page_bytes: problems.count(
            "daemon.max_page_bytes",
            d.max_page_bytes,
            DEFAULT_MAX_PAGE_BYTES,
            (1024, 1 << 30),
        ),
        max_items_per_poll: problems.count(
            "daemon.max_items_per_poll",
            d.max_items_per_poll,
            DEFAULT_MAX_ITEMS_PER_POLL as u64,
            (1, 100_000),
        ) as usize,
        state_dir,
    };

    let default_interval =
        problems.duration("defaults.interval", raw.defaults.interval.as_ref(), DEFAULT_INTERVAL);
    let default_backfill =
        problems.duration("defaults.backfill", raw.defaults.backfill.as_ref(), DEFAULT_BACKFILL);
    let default_scrape = raw.defaults.scrape.unwrap_or(true);

    let mut feeds = Vec::with_capacity(raw.feeds.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    if raw.feeds.is_empty() {
        problems.push("feeds", "no [[feeds]] configured: there is nothing to watch");
    }
    for (index, feed) in raw.feeds.iter().enumerate() {
        let key = |field: &str| format!("feeds[{index}].{field}");
        if !valid_name(&feed.name) {
            problems.push(
                key("name"),
                format!("{:?} must be 1-64 characters of letters, digits, '-', '_' or '.'", feed.name),
            );
        } else if let Some(first) = names.insert(&feed.name, index) {
            problems.push(key("name"), format!("{:?} is already used by feeds[{first}]", feed.name));
        }
        let url = match Url::parse(&feed.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
            Ok(_) => {
                problems.push(key("url"), format!("{:?} is not an http(s) URL", feed.url));
                None
            }
            Err(err) => {
                problems.push(key("url"), format!("{:?} is not a valid URL ({err})", feed.url));
                None
            }
        };
        let interval = problems.duration(&key("interval"), feed.interval.as_ref(), default_interval);
        let backfill = problems.duration(&key("backfill"), feed.backfill.as_ref(), default_backfill);
        if let Some(url) = url {
            feeds.push(FeedConfig {
                name: feed.name.clone(),
                url,
                interval,
                scrape: feed.scrape.unwrap_or(default_scrape),
                backfill,
            });
        }
    }

    let mut sinks = Vec::new();
    for (index, sink) in raw.sinks.iter().enumerate() {
        match sink.kind.as_str() {
            "jsonl" => match &sink.path {
                Some(path) if !path.as_os_str().is_empty() => {
                    let sink = SinkConfig::Jsonl { path: path.clone() };
                    if sinks.contains(&sink) {
                        problems.push(format!("sinks[{index}].path"), "the same file is already a sink");
                    }
                    sinks.push(sink);
                }
                _ => problems.push(format!("sinks[{index}].path"), "a jsonl sink needs a path"),
            },
            other => problems.push(
                format!("sinks[{index}].kind"),
                format!("unknown sink kind {other:?} (known: \"jsonl\")"),
            ),
        }
    }
    if raw.sinks.is_empty() {
        sinks.push(SinkConfig::Jsonl { path: daemon.state_dir.join("alerts.jsonl") });
    }

    let mut topic_ids: HashMap<&str, usize> = HashMap::new();
    for (index, spec) in raw.topics.iter().enumerate() {
        if let Some(first) = topic_ids.insert(&spec.id, index) {
            problems.push(
                format!("topics[{index}].id"),
                format!("{:?} is already used by topics[{first}]", spec.id),
            );
        }
    }
    if raw.topics.is_empty() {
        problems.push("topics", "no [[topics]] configured: nothing could ever alert");
    }
    let topics = match Topic::load_all(&raw.topics, config_dir) {
        Ok(topics) => topics,
        Err(errors) => {
            for error in errors {
                problems.push(error.location.clone(), error.reason.clone());
            }
            Vec::new()
        }
    };

    if problems.0.is_empty() {
        Ok(Config { source: String::new(), daemon, feeds, topics, sinks })
    } else {
        Err(problems.0)
    }
}

/// Feed names appear in logs and alerts; keep them short and plain.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "test.toml", Path::new("config"))
    }

    const MINIMAL: &str = r#"
[[feeds]]
name = "one"
url = "http://127.0.0.1:8080/feed.xml"

[[topics]]
id = "us-russia-talks"
"#;

    #[test]
    fn shipped_config_is_valid() {
        let config = Config::from_toml(EMBEDDED_CONFIG, EMBEDDED_CONFIG_NAME, Path::new("config"))
            .unwrap_or_else(|err| panic!("{err}"));
        assert!((15..=30).contains(&config.feeds.len()), "{} feeds", config.feeds.len());
        assert!(config.topics.iter().any(|topic| topic.id == "us-russia-talks"));
    }

    #[test]
    fn defaults_apply_and_sink_defaults_to_state_dir() {
        let config = load(MINIMAL).unwrap();
        let feed = &config.feeds[0];
        assert_eq!(feed.interval, DEFAULT_INTERVAL);
        assert!(feed.scrape);
        assert_eq!(config.sinks, vec![SinkConfig::Jsonl { path: PathBuf::from("data/alerts.jsonl") }]);
        assert!(!config.daemon.allow_private_networks);
    }

    #[test]
    fn unknown_key_names_its_path() {
        let err = load(&format!("{MINIMAL}\n[defaults]\nintervl = \"5m\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("test.toml: defaults"), "{text}");
        assert!(text.contains("unknown field `intervl`"), "{text}");
    }

    #[test]
    fn every_problem_is_listed_with_its_key() {
        let text = r#"
[defaults]
interval = "soon"
[[feeds]]
name = "a"
url = "htp://example"
[[feeds]]
name = "a"
url = "https://example.org/rss"
backfill = "0s"
[[topics]]
id = "us-russia-talks"
[[sinks]]
kind = "webhook"
"#;
        let err = load(text).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["defaults.interval", "feeds[0].url", "feeds[1].name", "feeds[1].backfill", "sinks[0].kind"],
            "{err}"
        );
        assert!(err.to_string().contains("\"a\" is already used by feeds[0]"));
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = load("[daemon]\nstate_dir = \n").unwrap_err();
        assert!(err.to_string().starts_with("test.toml: line 2"), "{err}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("ten minutes").is_err());
    }
}
