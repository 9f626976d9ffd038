//! Configuration: the raw TOML structs, and [`Config::load`], which turns them into a validated
//! [`Config`] or a [`ConfigError`] listing every problem with its file, key path and reason.
//!
//! Nothing starts before the whole configuration, topics included, has been validated.

pub mod edit;
mod email;
mod nats;
pub mod opml;
mod raw;
mod store;
mod validate;

use crate::classify::Topic;
use crate::fetch::{FetchSettings, Guard, MAX_ROBOTS_BYTES, PublicOnly, ROBOTS_TTL};
pub use email::{DEFAULT_EMAIL_TIMEOUT, DIGEST_RANGE, EMAIL_TIMEOUT_RANGE, EmailConfig, Secret};
pub use nats::{
    DEFAULT_NATS_DUPLICATE_WINDOW, DEFAULT_NATS_MAX_AGE, DEFAULT_NATS_STREAM, DEFAULT_NATS_SUBJECT,
    DEFAULT_NATS_TIMEOUT, NatsConfig, subject_matches,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use store::{
    DEFAULT_LEASE_TIMEOUT, DEFAULT_POOL_SIZE, LEASE_TIMEOUT_RANGE, PostgresConfig, StoreConfig, redact_url,
};
use url::Url;

/// Where `run` and the other commands look for the configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/newswatch.toml";
/// The shipped configuration, embedded so the binary works from any directory.
pub const EMBEDDED_CONFIG: &str = include_str!("../../config/newswatch.toml");
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
/// Requests per second to one host. Loopback hosts are not exempt: a local test server gets the
/// same treatment as a newsroom, and tests raise the rate in their configuration.
pub const DEFAULT_HOST_REQUESTS_PER_SECOND: u32 = 5;
/// Requests to one host that may start back to back before the rate applies.
pub const DEFAULT_HOST_BURST: u32 = 5;

/// The range a duration key accepts: `(shortest, longest)`, both inclusive. A value outside it is
/// a configuration error naming the key, so no setting can overflow time arithmetic later or
/// turn a poller into a busy loop.
pub type DurationRange = (Duration, Duration);

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const DAY: u64 = 86_400;

/// `interval` (defaults and feeds): at least a second (tests and local servers poll that
/// often; public feeds want minutes), at most 30 days.
pub const INTERVAL_RANGE: DurationRange = (secs(1), secs(30 * DAY));
/// The shortest `min_interval` derived from `interval` when none is configured: a quarter of the
/// interval, but not under a minute (unless the interval itself is shorter).
pub const DERIVED_MIN_INTERVAL_FLOOR: Duration = secs(60);
/// The longest `max_interval` derived from `interval` when none is configured: twice the
/// interval, but not over a day (unless the interval itself is longer). Twice, not more: a quiet
/// feed that suddenly carries the story should still alert within minutes, so by default slowing
/// down at most doubles the delay; a user who wants fewer polls sets `max_interval` higher.
pub const DERIVED_MAX_INTERVAL_CEILING: Duration = secs(DAY);

/// The `(min_interval, max_interval)` a feed polled every `interval` gets when neither is
/// configured: `interval / 4` (at least a minute, at most `interval`) and `interval × 2` (at most
/// a day, at least `interval`).
pub fn derived_interval_bounds(interval: Duration) -> (Duration, Duration) {
    let min = (interval / 4).max(DERIVED_MIN_INTERVAL_FLOOR.min(interval));
    let max = interval.saturating_mul(2).min(DERIVED_MAX_INTERVAL_CEILING.max(interval));
    (min, max)
}

/// `backfill`: up to ten years back.
pub const BACKFILL_RANGE: DurationRange = (secs(1), secs(3650 * DAY));
/// `request_timeout` and `read_timeout`: 100 ms to one hour.
pub const REQUEST_TIMEOUT_RANGE: DurationRange = (Duration::from_millis(100), secs(3600));
/// `connect_timeout`: 100 ms to ten minutes.
pub const CONNECT_TIMEOUT_RANGE: DurationRange = (Duration::from_millis(100), secs(600));
/// `max_backoff`: one second to 30 days (a failing feed is still retried at least that often).
pub const MAX_BACKOFF_RANGE: DurationRange = (secs(1), secs(30 * DAY));
/// `shutdown_grace`: 100 ms to ten minutes (systemd's stop timeout should exceed it).
pub const SHUTDOWN_GRACE_RANGE: DurationRange = (Duration::from_millis(100), secs(600));
/// `seen_retention`: a week to a hundred years. Shorter would forget items faster than a feed
/// that answers 304 for days is asked for its full list again.
pub const SEEN_RETENTION_RANGE: DurationRange = (secs(7 * DAY), secs(36_500 * DAY));
/// How long a seen item no feed carries any more is remembered.
pub const DEFAULT_SEEN_RETENTION: Duration = secs(180 * DAY);
/// `alerts --since` / `--until`: one second to a hundred years back.
pub const SINCE_RANGE: DurationRange = (secs(1), secs(36_500 * DAY));

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
    /// `[stories]` and the topics' `on_same_story` / `update_every`.
    pub stories: StoriesConfig,
    /// `[store]`: SQLite in the state directory, or a shared PostgreSQL.
    pub store: StoreConfig,
}

/// The default `[stories] window`: an item joins a story with an item published this close.
pub const DEFAULT_STORY_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// `[stories] window`: one hour to 30 days.
pub const STORY_WINDOW_RANGE: DurationRange = (secs(3600), secs(30 * DAY));
/// The default `update_every` of a topic.
pub const DEFAULT_UPDATE_EVERY: Duration = Duration::from_secs(3600);
/// `update_every`: one second (tests) to 30 days.
pub const UPDATE_EVERY_RANGE: DurationRange = (secs(1), secs(30 * DAY));

/// How stories are formed and alerted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoriesConfig {
    /// Items further apart than this (by published time) are never one story.
    pub window: Duration,
    /// Per topic id; a topic missing here has the defaults ([`StoryPolicy::default`]).
    pub policies: std::collections::BTreeMap<String, StoryPolicy>,
}

impl Default for StoriesConfig {
    fn default() -> StoriesConfig {
        StoriesConfig { window: DEFAULT_STORY_WINDOW, policies: Default::default() }
    }
}

impl StoriesConfig {
    /// The policy of a topic.
    pub fn policy(&self, topic: &str) -> StoryPolicy {
        self.policies.get(topic).copied().unwrap_or_default()
    }
}

/// What a topic does with a later matching item of a story it already alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSameStory {
    /// At most one `update` alert per story per `update_every`, with the newcomers.
    Update,
    /// Record the item in its story; no alert.
    Suppress,
    /// Every matching item alerts on its own (`kind = "update"`, the item's own id), with the
    /// story's id and counts: for consumers that group alerts themselves.
    Alert,
}

/// A topic's `on_same_story` and `update_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoryPolicy {
    pub on_same_story: OnSameStory,
    pub update_every: Duration,
}

impl Default for StoryPolicy {
    fn default() -> StoryPolicy {
        StoryPolicy { on_same_story: OnSameStory::Update, update_every: DEFAULT_UPDATE_EVERY }
    }
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
    /// Where the daemon serves `/healthz` and `/metrics` (`[daemon] listen`); None = not at all.
    pub listen: Option<std::net::SocketAddr>,
    /// Seen items that no feed has carried for this long are pruned; None (`"off"`): kept forever.
    pub seen_retention: Option<Duration>,
}

/// One `[[feeds]]` entry with the `[defaults]` applied.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub url: Url,
    /// The starting interval: the poller adapts it to how often the feed publishes, within
    /// `min_interval..=max_interval` (see `poll::schedule`).
    pub interval: Duration,
    /// The shortest wait between two polls of this feed.
    pub min_interval: Duration,
    /// The longest wait between two polls of this feed (server hints are capped by it too).
    pub max_interval: Duration,
    pub scrape: bool,
    pub backfill: Duration,
    /// Free labels (an OPML category on import, a grouping on export).
    pub tags: Vec<String>,
}

/// One `[[sinks]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// The user-given `name`, or the name derived from the kind and path (what versions before
    /// named sinks used, so their pending alerts carry over).
    pub name: String,
    pub kind: SinkKind,
    /// Only alerts of these topics (empty: every topic).
    pub topics: Vec<String>,
    /// Only alerts scoring at least this.
    pub min_score: f64,
}

/// What a sink is.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    /// Append one JSON object per line to a file.
    Jsonl { path: PathBuf, rotation: Rotation },
    /// POST each alert to a URL.
    Webhook(WebhookConfig),
    /// One JSON line per alert on standard output.
    Stdout,
    /// Send alerts by e-mail, one message each or a digest per period.
    Email(Box<EmailConfig>),
    /// Publish each alert to a NATS JetStream stream.
    Nats(Box<NatsConfig>),
}

/// When a JSON Lines log is rotated (renamed to `<path>.1`, older ones shifted up to `.keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub every: Option<RotateEvery>,
    /// How many rotated files are kept.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation { every: None, keep: DEFAULT_ROTATE_KEEP }
    }
}

/// `rotate = "daily"` or a size such as `"100MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateEvery {
    /// At the first write of a new UTC day.
    Daily,
    /// Before a write that would take the file past this many bytes.
    Bytes(u64),
}

pub const DEFAULT_ROTATE_KEEP: usize = 7;
/// `rotate` sizes: 1 KB to 100 GB.
pub const ROTATE_BYTES_RANGE: (u64, u64) = (1_000, 100_000_000_000);

/// Parses `"daily"` or a size: a number and B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB.
pub fn parse_rotate(text: &str) -> Result<RotateEvery, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("daily") {
        return Ok(RotateEvery::Daily);
    }
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("{text:?} is neither \"daily\" nor a size like \"100MB\"")),
    };
    let bytes = number.parse::<u64>().ok().and_then(|n| n.checked_mul(factor));
    match bytes {
        Some(bytes) if (ROTATE_BYTES_RANGE.0..=ROTATE_BYTES_RANGE.1).contains(&bytes) => {
            Ok(RotateEvery::Bytes(bytes))
        }
        _ => Err(format!("{text:?} is out of range: from 1KB to 100GB")),
    }
}

/// `kind = "webhook"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: Url,
    pub format: WebhookFormat,
    /// Extra request headers, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The alert line itself.
    Json,
    /// A Slack incoming-webhook message.
    Slack,
    /// A Discord webhook message.
    Discord,
}

/// `timeout` of a webhook: 100 ms to 10 minutes.
pub const WEBHOOK_TIMEOUT_RANGE: DurationRange = (Duration::from_millis(100), secs(600));
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl SinkConfig {
    /// A JSON Lines sink at `path` without a name of its own.
    pub fn jsonl(path: PathBuf) -> SinkConfig {
        let kind = SinkKind::Jsonl { path, rotation: Rotation::default() };
        SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
    }

    /// Whether an alert of `topic` scoring `score` goes to this sink.
    pub fn accepts(&self, topic: &str, score: f64) -> bool {
        (self.topics.is_empty() || self.topics.iter().any(|wanted| wanted == topic))
            && score >= self.min_score
    }

    /// The name derived from kind and path, e.g. `jsonl:data/alerts.jsonl`.
    pub fn derived_name(&self) -> String {
        self.kind.derived_name()
    }
}

impl SinkKind {
    fn derived_name(&self) -> String {
        match self {
            SinkKind::Jsonl { path, .. } => format!("jsonl:{}", path.display()),
            // Webhook URLs often carry a secret in their path: the name shows the host and a
            // short hash, never the URL.
            SinkKind::Webhook(webhook) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(webhook.url.as_str().as_bytes());
                format!("webhook:{}:{}", webhook.url.host_str().unwrap_or("-"), hex::encode(&digest[..4]))
            }
            SinkKind::Stdout => "stdout".to_string(),
            // The server and a short hash of the recipients: addresses stay out of the name.
            SinkKind::Email(email) => {
                use sha2::Digest;
                let recipients: Vec<String> = email.to.iter().map(|to| to.email.to_string()).collect();
                let digest = sha2::Sha256::digest(recipients.join(",").as_bytes());
                format!("email:{}:{}", email.smtp.host_str().unwrap_or("-"), hex::encode(&digest[..4]))
            }
            // Server, stream and subject: two sinks differing in any of them deliver separately.
            SinkKind::Nats(nats) => {
                let port = nats.url.port().map(|port| format!(":{port}")).unwrap_or_default();
                format!("nats:{}{port}:{}:{}", nats.url.host_str().unwrap_or("-"), nats.stream, nats.subject)
            }
        }
    }
}

impl DaemonConfig {
    /// What the fetcher needs from the configuration: the knobs it has, and the protocol
    /// constants of `fetch` for the ones it does not.
    pub fn fetch_settings(&self) -> FetchSettings {
        FetchSettings {
            user_agent: self.user_agent.clone(),
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            max_concurrent: self.max_concurrent_fetches,
            per_host: self.per_host_concurrency,
            max_feed_bytes: self.max_feed_bytes,
            max_page_bytes: self.max_page_bytes,
            host_requests_per_second: self.per_host_rate,
            host_burst: self.per_host_burst,
            respect_robots_txt: self.respect_robots_txt,
            robots_ttl: ROBOTS_TTL,
            max_robots_bytes: MAX_ROBOTS_BYTES,
        }
    }

    /// The network guard for URLs found in feeds: public addresses only, unless allowed here.
    pub fn guard(&self) -> Guard {
        Guard {
            policy: Arc::new(PublicOnly),
            allow_private: self.allow_private_networks,
            allow_hosts: self.allow_hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
        }
    }
}

impl Config {
    /// The path of the first JSON Lines sink: what `newswatch alerts` reads.
    pub fn alert_log(&self) -> Option<&Path> {
        self.sinks.iter().find_map(|sink| match &sink.kind {
            SinkKind::Jsonl { path, .. } => Some(path.as_path()),
            _ => None,
        })
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
        let mut unknown = Vec::new();
        let mut collect = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let collecting = serde_ignored::Deserializer::new(deserializer, &mut collect);
        let raw: raw::RawConfig = serde_path_to_error::deserialize(collecting).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let line = line_of(text, inner.span());
            let key = if path == "." { line } else { format!("{path} ({line})") };
            fail(key, inner.message().to_string())
        })?;
        let mut problems: Vec<Problem> = unknown.iter().map(|path| unknown_key(path)).collect();
        match validate::validate(raw, config_dir) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError { source: source.to_string(), problems }),
            Err(more) => {
                problems.extend(more);
                Err(ConfigError { source: source.to_string(), problems })
            }
        }
    }
}

/// The problem for one unknown key: `path` as serde_ignored writes it ("feeds.1.scrap"), shown
/// as our key paths ("feeds[1].scrap") with the closest known key of its section as a hint.
fn unknown_key(path: &str) -> Problem {
    let parts: Vec<&str> = path.split('.').collect();
    let mut key = String::new();
    let mut section = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            key.push_str(&format!("[{part}]"));
            continue;
        }
        if !key.is_empty() {
            key.push('.');
        }
        key.push_str(part);
        if index + 1 < parts.len() {
            section.push(*part);
        }
    }
    let name = parts.last().copied().unwrap_or_default();
    let reason = match crate::text::did_you_mean(name, raw::known_keys(&section.join("."))) {
        Some(known) => format!("unknown key `{name}`; did you mean `{known}`?"),
        None => format!("unknown key `{name}`"),
    };
    Problem { key, reason }
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
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} needs a unit, like \"{trimmed}s\", \"{trimmed}m\" or \"{trimmed}h\""));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|err| format!("{text:?} is not a duration like \"90s\", \"10m\" or \"2h\" ({err})"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(duration)
}

/// Parses a duration and checks it against `range`.
pub fn parse_duration_in(text: &str, range: DurationRange) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration < range.0 || duration > range.1 {
        return Err(format!(
            "{text:?} is out of range: from {} to {}",
            format_duration(range.0),
            format_duration(range.1)
        ));
    }
    Ok(duration)
}

/// A duration in the project's own style: the largest unit that states it exactly ("30d",
/// "1h", "100ms"), so range messages read like the values users write.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if duration.subsec_nanos() != 0 || secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
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
        assert_eq!(config.sinks, vec![SinkConfig::jsonl(PathBuf::from("data/alerts.jsonl"))]);
        assert_eq!(config.sinks[0].name, "jsonl:data/alerts.jsonl", "named as before sinks had names");
        assert!(!config.daemon.allow_private_networks);
    }

    #[test]
    fn interval_bounds_are_derived_inherited_or_overridden_and_must_hold_the_interval() {
        let config = load(MINIMAL).unwrap();
        let feed = &config.feeds[0];
        assert_eq!(
            (feed.min_interval, feed.max_interval),
            (Duration::from_secs(150), Duration::from_secs(1200))
        );
        assert_eq!(
            derived_interval_bounds(Duration::from_secs(1)),
            (Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(
            derived_interval_bounds(Duration::from_secs(120)).0,
            Duration::from_secs(60),
            "at least a minute"
        );
        assert_eq!(
            derived_interval_bounds(Duration::from_secs(18 * 3600)).1,
            Duration::from_secs(86_400),
            "at most a day"
        );
        let inherited =
            load(&format!("{MINIMAL}\n[defaults]\nmin_interval = \"1m\"\nmax_interval = \"2h\"\n")).unwrap();
        assert_eq!(inherited.feeds[0].min_interval, Duration::from_secs(60));
        assert_eq!(inherited.feeds[0].max_interval, Duration::from_secs(7200));
        let text = "[defaults]\nmin_interval = \"5m\"\n[[feeds]]\nname = \"fast\"\nurl = \"http://127.0.0.1:8080/a.xml\"\ninterval = \"1m\"\n[[feeds]]\nname = \"own\"\nurl = \"http://127.0.0.1:8080/b.xml\"\ninterval = \"10m\"\nmin_interval = \"1m\"\nmax_interval = \"5m\"\n[[topics]]\nid = \"us-russia-talks\"\n";
        let err = load(text).unwrap_err();
        let problems: Vec<(&str, &str)> =
            err.problems.iter().map(|p| (p.key.as_str(), p.reason.as_str())).collect();
        assert_eq!(
            problems,
            [
                ("feeds[0].interval", "1m is shorter than defaults.min_interval 5m"),
                ("feeds[1].max_interval", "5m is shorter than this feed's interval 10m"),
            ],
            "{err}"
        );
    }

    #[test]
    fn unknown_key_names_its_path() {
        let err = load(&format!("{MINIMAL}\n[defaults]\nintervl = \"5m\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("test.toml: defaults.intervl"), "{text}");
        assert!(text.contains("unknown key `intervl`; did you mean `interval`?"), "{text}");
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_hint() {
        let text = format!(
            "[daemon]\nper_host_rte = 3\nstate_dri = \"x\"\n[[sinks]]\nkind = \"jsonl\"\npath = \"a.jsonl\"\ncolour = 1\n[[feeds]]\nname = \"two\"\nurl = \"http://127.0.0.1:8080/feed.xml\"\nscrap = true\nzzz = 1\n{MINIMAL}"
        );
        let err = load(&text).unwrap_err();
        let problems: Vec<(&str, &str)> =
            err.problems.iter().map(|p| (p.key.as_str(), p.reason.as_str())).collect();
        assert_eq!(
            problems,
            [
                ("daemon.per_host_rte", "unknown key `per_host_rte`; did you mean `per_host_rate`?"),
                ("daemon.state_dri", "unknown key `state_dri`; did you mean `state_dir`?"),
                ("feeds[0].scrap", "unknown key `scrap`; did you mean `scrape`?"),
                ("feeds[0].zzz", "unknown key `zzz`"),
                ("sinks[0].colour", "unknown key `colour`"),
            ],
            "{err}"
        );
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
kind = "pigeon"
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
    fn sinks_have_unique_names() {
        let sinks = "[[sinks]]\nkind = \"jsonl\"\nname = \"main\"\npath = \"a.jsonl\"\n\n[[sinks]]\nkind = \"jsonl\"\nname = \"main\"\npath = \"b.jsonl\"\n\n[[sinks]]\nkind = \"jsonl\"\nname = \"a b\"\npath = \"c.jsonl\"\n";
        let err = load(&format!("{MINIMAL}\n{sinks}")).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["sinks[1].name", "sinks[2].name"], "{err}");
        let named =
            load(&format!("{MINIMAL}\n[[sinks]]\nkind = \"jsonl\"\nname = \"main\"\npath = \"a.jsonl\"\n"))
                .unwrap();
        assert_eq!(named.sinks[0].name, "main");
        assert_eq!(named.sinks[0].derived_name(), "jsonl:a.jsonl");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = load("[daemon]\nstate_dir = \n").unwrap_err();
        assert!(err.to_string().starts_with("test.toml: line 2"), "{err}");
    }

    #[test]
    fn out_of_range_durations_name_their_key() {
        let text = format!(
            "{MINIMAL}\n[daemon]\nread_timeout = \"300000y\"\nshutdown_grace = \"1ms\"\n[defaults]\nbackfill = \"300000y\"\ninterval = \"1ns\"\n"
        );
        let err = load(&text).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["daemon.read_timeout", "daemon.shutdown_grace", "defaults.interval", "defaults.backfill"],
            "{err}"
        );
        assert!(err.to_string().contains("\"1ns\" is out of range: from 1s to 30d"), "{err}");
        let feed = "[[feeds]]\nname = \"one\"\nurl = \"http://127.0.0.1:8080/feed.xml\"\ninterval = \"9999d\"\n[[topics]]\nid = \"us-russia-talks\"\n";
        let err = load(feed).unwrap_err();
        assert_eq!(err.problems[0].key, "feeds[0].interval", "{err}");
    }

    #[test]
    fn range_ends_are_accepted() {
        let text = format!(
            "{MINIMAL}\n[daemon]\nmax_backoff = \"30d\"\nconnect_timeout = \"100ms\"\n[defaults]\nbackfill = \"3650d\"\ninterval = \"1s\"\n"
        );
        let config = load(&text).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(config.feeds[0].backfill, Duration::from_secs(3650 * 86_400));
    }

    #[test]
    fn a_bare_number_asks_for_a_unit_in_our_style() {
        let reason = parse_duration("5").unwrap_err();
        assert_eq!(reason, "\"5\" needs a unit, like \"5s\", \"5m\" or \"5h\"");
        assert_eq!(format_duration(Duration::from_secs(3650 * 86_400)), "3650d");
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("ten minutes").is_err());
    }
}
