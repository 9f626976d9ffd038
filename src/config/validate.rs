//! Raw configuration -> validated [`Config`], one function per section. Every problem is
//! collected with its key path; nothing stops at the first one.

use super::raw::{RawConfig, RawDaemon, RawDefaults, RawFeed, RawSink, RawStories};
use super::*;
use crate::classify::{Topic, TopicSpec};
use std::collections::HashMap;

/// Collects problems while validating, each under its key path.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Problem { key: key.into(), reason: reason.into() });
    }

    fn duration(
        &mut self,
        key: &str,
        value: Option<&String>,
        default: Duration,
        range: DurationRange,
    ) -> Duration {
        match value.map(|text| parse_duration_in(text, range)) {
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

/// Validates every section; the problems of all of them, or the whole configuration.
pub(super) fn validate(raw: RawConfig, config_dir: &Path) -> Result<Config, Vec<Problem>> {
    let mut problems = Problems::default();
    let daemon = daemon(&raw.daemon, &mut problems);
    let feeds = feeds(&raw.defaults, &raw.feeds, &mut problems);
    let topic_ids: Vec<&str> = raw.topics.iter().map(|spec| spec.id.as_str()).collect();
    let sinks = sinks(&raw.sinks, &daemon, &topic_ids, &mut problems);
    let topics = topics(&raw.topics, config_dir, &mut problems);
    let stories = stories(&raw.stories, &raw.topics, &mut problems);
    let env = |name: &str| std::env::var(name).ok();
    let store = super::store::validate(&raw.store, &env, &mut |key, reason| {
        problems.push(format!("store.{key}"), reason)
    });
    if problems.0.is_empty() {
        Ok(Config { source: String::new(), daemon, feeds, topics, sinks, stories, store })
    } else {
        Err(problems.0)
    }
}

/// `[daemon]`.
fn daemon(d: &RawDaemon, problems: &mut Problems) -> DaemonConfig {
    let user_agent = d.user_agent.clone().unwrap_or_else(|| DEFAULT_USER_AGENT.to_string());
    if user_agent.trim().is_empty() || user_agent.chars().any(char::is_control) {
        problems.push("daemon.user_agent", "must be non-empty printable text");
    }
    let state_dir = d.state_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    if state_dir.as_os_str().is_empty() {
        problems.push("daemon.state_dir", "must not be empty");
    }
    DaemonConfig {
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
            DEFAULT_HOST_REQUESTS_PER_SECOND as u64,
            (0, 10_000),
        ) as u32,
        per_host_burst: problems.count(
            "daemon.per_host_burst",
            d.per_host_burst,
            DEFAULT_HOST_BURST as u64,
            (1, 10_000),
        ) as u32,
        respect_robots_txt: d.respect_robots_txt.unwrap_or(true),
        request_timeout: problems.duration(
            "daemon.request_timeout",
            d.request_timeout.as_ref(),
            DEFAULT_REQUEST_TIMEOUT,
            REQUEST_TIMEOUT_RANGE,
        ),
        connect_timeout: problems.duration(
            "daemon.connect_timeout",
            d.connect_timeout.as_ref(),
            DEFAULT_CONNECT_TIMEOUT,
            CONNECT_TIMEOUT_RANGE,
        ),
        read_timeout: problems.duration(
            "daemon.read_timeout",
            d.read_timeout.as_ref(),
            DEFAULT_READ_TIMEOUT,
            REQUEST_TIMEOUT_RANGE,
        ),
        max_backoff: problems.duration(
            "daemon.max_backoff",
            d.max_backoff.as_ref(),
            DEFAULT_MAX_BACKOFF,
            MAX_BACKOFF_RANGE,
        ),
        shutdown_grace: problems.duration(
            "daemon.shutdown_grace",
            d.shutdown_grace.as_ref(),
            DEFAULT_SHUTDOWN_GRACE,
            SHUTDOWN_GRACE_RANGE,
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
            (1, 1_000),
        ) as usize,
        listen: listen(d.listen.as_deref(), problems),
        seen_retention: match d.seen_retention.as_deref() {
            Some("off") => None,
            Some(text) => Some(problems.duration(
                "daemon.seen_retention",
                Some(&text.to_string()),
                DEFAULT_SEEN_RETENTION,
                SEEN_RETENTION_RANGE,
            )),
            None => Some(DEFAULT_SEEN_RETENTION),
        },
        state_dir,
    }
}

/// `daemon.listen`: an IP address and port (port 0 = any free port). A host name is refused:
/// the address is bound once at start-up, and which address a name gives is not the config's.
fn listen(value: Option<&str>, problems: &mut Problems) -> Option<std::net::SocketAddr> {
    let text = value?;
    match text.trim().parse::<std::net::SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(
                "daemon.listen",
                format!("{text:?} is not an IP address and port, e.g. \"127.0.0.1:9184\" or \"[::1]:9184\""),
            );
            None
        }
    }
}

/// `[defaults]` and `[[feeds]]`.
fn feeds(defaults: &RawDefaults, raw_feeds: &[RawFeed], problems: &mut Problems) -> Vec<FeedConfig> {
    let default_interval =
        problems.duration("defaults.interval", defaults.interval.as_ref(), DEFAULT_INTERVAL, INTERVAL_RANGE);
    let default_backfill =
        problems.duration("defaults.backfill", defaults.backfill.as_ref(), DEFAULT_BACKFILL, BACKFILL_RANGE);
    let default_scrape = defaults.scrape.unwrap_or(true);
    let default_min_interval = defaults
        .min_interval
        .as_ref()
        .map(|text| problems.duration("defaults.min_interval", Some(text), INTERVAL_RANGE.0, INTERVAL_RANGE));
    let default_max_interval = defaults
        .max_interval
        .as_ref()
        .map(|text| problems.duration("defaults.max_interval", Some(text), INTERVAL_RANGE.1, INTERVAL_RANGE));
    if let (Some(min), Some(max)) = (default_min_interval, default_max_interval)
        && min > max
    {
        problems.push(
            "defaults.min_interval",
            format!("{} is longer than max_interval {}", format_duration(min), format_duration(max)),
        );
    }

    let mut feeds = Vec::with_capacity(raw_feeds.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    if raw_feeds.is_empty() {
        problems.push("feeds", "no [[feeds]] configured: there is nothing to watch");
    }
    for (index, feed) in raw_feeds.iter().enumerate() {
        let key = |field: &str| format!("feeds[{index}].{field}");
        if !valid_name(&feed.name) {
            problems.push(
                key("name"),
                format!("{:?} must be 1-64 characters of letters, digits, '-', '_' or '.'", feed.name),
            );
        } else if let Some(first) = names.insert(&feed.name, index) {
            problems.push(key("name"), format!("{:?} is already used by feeds[{first}]", feed.name));
        }
        for (tag_index, tag) in feed.tags.iter().flatten().enumerate() {
            if tag.trim().is_empty() || tag.chars().count() > 64 || tag.chars().any(char::is_control) {
                problems.push(
                    format!("feeds[{index}].tags[{tag_index}]"),
                    format!("{tag:?} must be 1-64 printable characters"),
                );
            }
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
        let interval =
            problems.duration(&key("interval"), feed.interval.as_ref(), default_interval, INTERVAL_RANGE);
        let backfill =
            problems.duration(&key("backfill"), feed.backfill.as_ref(), default_backfill, BACKFILL_RANGE);
        let (min_interval, max_interval) =
            interval_bounds(feed, interval, (default_min_interval, default_max_interval), &key, problems);
        if let Some(url) = url {
            feeds.push(FeedConfig {
                name: feed.name.clone(),
                url,
                interval,
                min_interval,
                max_interval,
                scrape: feed.scrape.unwrap_or(default_scrape),
                backfill,
                tags: feed.tags.clone().unwrap_or_default(),
            });
        }
    }
    feeds
}

/// A feed's `min_interval` and `max_interval`: its own, else `[defaults]`, else derived from its
/// `interval` ([`derived_interval_bounds`]). The interval must lie between them: it is where the
/// adaptive schedule starts.
fn interval_bounds(
    feed: &RawFeed,
    interval: Duration,
    defaults: (Option<Duration>, Option<Duration>),
    key: &dyn Fn(&str) -> String,
    problems: &mut Problems,
) -> (Duration, Duration) {
    let (derived_min, derived_max) = derived_interval_bounds(interval);
    let own_min = feed
        .min_interval
        .as_ref()
        .map(|text| problems.duration(&key("min_interval"), Some(text), derived_min, INTERVAL_RANGE));
    let own_max = feed
        .max_interval
        .as_ref()
        .map(|text| problems.duration(&key("max_interval"), Some(text), derived_max, INTERVAL_RANGE));
    let min = own_min.or(defaults.0).unwrap_or(derived_min);
    let max = own_max.or(defaults.1).unwrap_or(derived_max);
    // Derived bounds always hold; a configured one that does not is named where it was written:
    // the feed's own key, or the feed's interval when the bound came from [defaults].
    let (interval_text, min_text, max_text) =
        (format_duration(interval), format_duration(min), format_duration(max));
    if own_min.is_some() && min > interval {
        problems.push(
            key("min_interval"),
            format!("{min_text} is longer than this feed's interval {interval_text}"),
        );
    } else if own_min.is_none() && min > interval {
        problems.push(
            key("interval"),
            format!("{interval_text} is shorter than defaults.min_interval {min_text}"),
        );
    }
    if own_max.is_some() && max < interval {
        problems.push(
            key("max_interval"),
            format!("{max_text} is shorter than this feed's interval {interval_text}"),
        );
    } else if own_max.is_none() && max < interval {
        problems.push(
            key("interval"),
            format!("{interval_text} is longer than defaults.max_interval {max_text}"),
        );
    }
    (min.min(interval), max.max(interval))
}

/// `[[sinks]]`; without any, one JSON Lines log in the state directory.
fn sinks(
    raw_sinks: &[RawSink],
    daemon: &DaemonConfig,
    topic_ids: &[&str],
    problems: &mut Problems,
) -> Vec<SinkConfig> {
    let mut sinks: Vec<SinkConfig> = Vec::new();
    for (index, raw) in raw_sinks.iter().enumerate() {
        let key = |field: &str| format!("sinks[{index}].{field}");
        let only_for = |field: &str, present: bool, kinds: &str, problems: &mut Problems| {
            if present {
                problems.push(key(field), format!("`{field}` applies to {kinds} sinks only"));
            }
        };
        if raw.kind != "jsonl" {
            only_for("path", raw.path.is_some(), "jsonl", problems);
            only_for("rotate", raw.rotate.is_some(), "jsonl", problems);
            only_for("keep", raw.keep.is_some(), "jsonl", problems);
        }
        if raw.kind != "webhook" {
            only_for("format", raw.format.is_some(), "webhook", problems);
            only_for("headers", raw.headers.is_some(), "webhook", problems);
        }
        if raw.kind != "webhook" && raw.kind != "nats" {
            only_for("url", raw.url.is_some(), "webhook and nats", problems);
        }
        if !matches!(raw.kind.as_str(), "webhook" | "email" | "nats") {
            only_for("timeout", raw.timeout.is_some(), "webhook, email and nats", problems);
        }
        if raw.kind != "nats" {
            for (field, present) in [
                ("subject", raw.subject.is_some()),
                ("stream", raw.stream.is_some()),
                ("max_age", raw.max_age.is_some()),
                ("duplicate_window", raw.duplicate_window.is_some()),
            ] {
                only_for(field, present, "nats", problems);
            }
        }
        if raw.kind != "email" {
            for (field, present) in [
                ("smtp", raw.smtp.is_some()),
                ("username", raw.username.is_some()),
                ("password_env", raw.password_env.is_some()),
                ("password", raw.password.is_some()),
                ("from", raw.from.is_some()),
                ("to", raw.to.is_some()),
                ("digest", raw.digest.is_some()),
            ] {
                only_for(field, present, "email", problems);
            }
        }
        let sink = match raw.kind.as_str() {
            "jsonl" => match &raw.path {
                Some(path) if !path.as_os_str().is_empty() => {
                    if sinks.iter().any(
                        |sink| matches!(&sink.kind, SinkKind::Jsonl { path: known, .. } if known == path),
                    ) {
                        problems.push(key("path"), "the same file is already a sink");
                    }
                    let every = match raw.rotate.as_deref().map(parse_rotate) {
                        None => None,
                        Some(Ok(every)) => Some(every),
                        Some(Err(reason)) => {
                            problems.push(key("rotate"), reason);
                            None
                        }
                    };
                    let keep = problems.count(&key("keep"), raw.keep, DEFAULT_ROTATE_KEEP as u64, (1, 1000))
                        as usize;
                    let kind = SinkKind::Jsonl { path: path.clone(), rotation: Rotation { every, keep } };
                    SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
                }
                _ => {
                    problems.push(key("path"), "a jsonl sink needs a path");
                    continue;
                }
            },
            "webhook" => {
                let Some(webhook) = webhook(raw, &key, problems) else { continue };
                let kind = SinkKind::Webhook(webhook);
                SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
            }
            "email" => {
                let mut found = Vec::new();
                let email = email::validate(raw, &|name| std::env::var(name).ok(), &mut found);
                for (field, reason) in found {
                    problems.push(key(&field), reason);
                }
                let Some(email) = email else { continue };
                let kind = SinkKind::Email(Box::new(email));
                SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
            }
            "nats" => {
                // The topics this sink takes: its filter, or every configured topic.
                let taken: Vec<&str> = match &raw.topics {
                    Some(wanted) if !wanted.is_empty() => wanted.iter().map(String::as_str).collect(),
                    _ => topic_ids.to_vec(),
                };
                let mut found = Vec::new();
                let nats = nats::validate(raw, &taken, &mut found);
                for (field, reason) in found {
                    problems.push(key(&field), reason);
                }
                let Some(nats) = nats else { continue };
                let kind = SinkKind::Nats(Box::new(nats));
                SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
            }
            "stdout" => {
                if sinks.iter().any(|sink| sink.kind == SinkKind::Stdout) {
                    problems.push(key("kind"), "there is already a stdout sink");
                }
                let kind = SinkKind::Stdout;
                SinkConfig { name: kind.derived_name(), kind, topics: Vec::new(), min_score: 0.0 }
            }
            other => {
                problems.push(
                    key("kind"),
                    format!(
                        "unknown sink kind {other:?} (known: \"jsonl\", \"webhook\", \"stdout\", \"email\", \"nats\")"
                    ),
                );
                continue;
            }
        };
        let name = match &raw.name {
            None => sink.name.clone(),
            Some(name) if !valid_name(name) => {
                problems.push(
                    key("name"),
                    format!("{name:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"),
                );
                continue;
            }
            Some(name) => name.clone(),
        };
        if let Some(first) = sinks.iter().position(|sink| sink.name == name) {
            problems.push(key("name"), format!("{name:?} is already used by sinks[{first}]"));
        }
        let min_score = match raw.min_score {
            None => 0.0,
            Some(score) if (0.0..=1.0).contains(&score) => score,
            Some(score) => {
                problems.push(key("min_score"), format!("{score} is out of range 0.0..=1.0"));
                0.0
            }
        };
        let topics = raw.topics.clone().unwrap_or_default();
        sinks.push(SinkConfig { name, topics, min_score, ..sink });
    }
    if raw_sinks.is_empty() {
        sinks.push(SinkConfig::jsonl(daemon.state_dir.join("alerts.jsonl")));
    }
    sinks
}

/// The keys of a `kind = "webhook"` sink.
fn webhook(raw: &RawSink, key: &dyn Fn(&str) -> String, problems: &mut Problems) -> Option<WebhookConfig> {
    let url = match raw.url.as_deref().map(Url::parse) {
        None => {
            problems.push(key("url"), "a webhook sink needs a url");
            None
        }
        Some(Ok(url)) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Some(Ok(_)) => {
            problems.push(key("url"), "must be an http(s) URL");
            None
        }
        Some(Err(err)) => {
            problems.push(key("url"), format!("not a valid URL ({err})"));
            None
        }
    };
    let format = match raw.format.as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some("discord") => WebhookFormat::Discord,
        Some(other) => {
            problems.push(
                key("format"),
                format!("unknown format {other:?} (known: \"json\", \"slack\", \"discord\")"),
            );
            WebhookFormat::Json
        }
    };
    let mut headers = Vec::new();
    for (name, value) in raw.headers.iter().flatten() {
        let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok();
        if !valid {
            problems.push(key(&format!("headers.{name}")), "not a valid HTTP header name and value");
        } else if name.eq_ignore_ascii_case("idempotency-key") || name.eq_ignore_ascii_case("content-type") {
            problems.push(key(&format!("headers.{name}")), "is set by newswatch itself");
        } else {
            headers.push((name.clone(), value.clone()));
        }
    }
    let timeout = problems.duration(
        &key("timeout"),
        raw.timeout.as_ref(),
        DEFAULT_WEBHOOK_TIMEOUT,
        WEBHOOK_TIMEOUT_RANGE,
    );
    Some(WebhookConfig { url: url?, format, headers, timeout })
}

/// `[[topics]]`, compiled (topic files are read relative to `config_dir`).
fn topics(specs: &[TopicSpec], config_dir: &Path, problems: &mut Problems) -> Vec<Topic> {
    let mut topic_ids: HashMap<&str, usize> = HashMap::new();
    for (index, spec) in specs.iter().enumerate() {
        if let Some(first) = topic_ids.insert(&spec.id, index) {
            problems.push(
                format!("topics[{index}].id"),
                format!("{:?} is already used by topics[{first}]", spec.id),
            );
        }
    }
    if specs.is_empty() {
        problems.push("topics", "no [[topics]] configured: nothing could ever alert");
    }
    match Topic::load_all(specs, config_dir) {
        Ok(topics) => topics,
        Err(errors) => {
            for error in errors {
                problems.push(error.location.clone(), error.reason.clone());
            }
            Vec::new()
        }
    }
}

/// `[stories]` and each topic's `on_same_story` / `update_every`.
fn stories(raw: &RawStories, specs: &[TopicSpec], problems: &mut Problems) -> StoriesConfig {
    let window =
        problems.duration("stories.window", raw.window.as_ref(), DEFAULT_STORY_WINDOW, STORY_WINDOW_RANGE);
    let mut policies = std::collections::BTreeMap::new();
    for (index, spec) in specs.iter().enumerate() {
        let on_same_story = match spec.on_same_story.as_deref() {
            None | Some("update") => OnSameStory::Update,
            Some("suppress") => OnSameStory::Suppress,
            Some("alert") => OnSameStory::Alert,
            Some(other) => {
                problems.push(
                    format!("topics[{index}].on_same_story"),
                    format!("{other:?} is not one of \"update\", \"suppress\", \"alert\""),
                );
                OnSameStory::Update
            }
        };
        let update_every = problems.duration(
            &format!("topics[{index}].update_every"),
            spec.update_every.as_ref(),
            DEFAULT_UPDATE_EVERY,
            UPDATE_EVERY_RANGE,
        );
        policies.insert(spec.id.clone(), StoryPolicy { on_same_story, update_every });
    }
    StoriesConfig { window, policies }
}

/// Feed names appear in logs and alerts; keep them short and plain.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
