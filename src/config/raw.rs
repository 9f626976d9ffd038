//! The raw configuration: serde structs that mirror the TOML exactly. Durations and URLs stay
//! strings here so a bad value is reported with its key path by `validate`, not as an opaque
//! serde error.

use crate::classify::TopicSpec;
use serde::Deserialize;
use serde_aux::serde_introspection::serde_introspect;
use std::path::PathBuf;

// No `deny_unknown_fields` on the sections below: `Config::from_toml` collects every unknown key
// with `serde_ignored` and reports them all at once, each with a "did you mean" hint drawn from
// [`known_keys`]. Topics keep their own strict parsing (the topic language is theirs).

/// The keys a section accepts, for hints; `section` is a key path with indices removed
/// ("", "daemon", "defaults", "feeds", "sinks").
pub(super) fn known_keys(section: &str) -> &'static [&'static str] {
    match section {
        "" => serde_introspect::<RawConfig>(),
        "daemon" => serde_introspect::<RawDaemon>(),
        "defaults" => serde_introspect::<RawDefaults>(),
        "feeds" => serde_introspect::<RawFeed>(),
        "sinks" => serde_introspect::<RawSink>(),
        "stories" => serde_introspect::<RawStories>(),
        "store" => serde_introspect::<RawStore>(),
        _ => &[],
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) feeds: Vec<RawFeed>,
    #[serde(default)]
    pub(super) topics: Vec<TopicSpec>,
    #[serde(default)]
    pub(super) sinks: Vec<RawSink>,
    #[serde(default)]
    pub(super) stories: RawStories,
    #[serde(default)]
    pub(super) store: RawStore,
}

/// `[store]` (see `config/store.rs`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawStore {
    pub(super) kind: Option<String>,
    pub(super) url: Option<String>,
    pub(super) url_env: Option<String>,
    pub(super) pool_size: Option<i64>,
    pub(super) lease_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawStories {
    pub(super) window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawDaemon {
    pub(super) state_dir: Option<PathBuf>,
    pub(super) allow_private_networks: Option<bool>,
    pub(super) allow_hosts: Option<Vec<String>>,
    pub(super) user_agent: Option<String>,
    pub(super) max_concurrent_fetches: Option<i64>,
    pub(super) per_host_concurrency: Option<i64>,
    pub(super) per_host_rate: Option<i64>,
    pub(super) per_host_burst: Option<i64>,
    pub(super) respect_robots_txt: Option<bool>,
    pub(super) request_timeout: Option<String>,
    pub(super) connect_timeout: Option<String>,
    pub(super) read_timeout: Option<String>,
    pub(super) max_backoff: Option<String>,
    pub(super) shutdown_grace: Option<String>,
    pub(super) max_feed_bytes: Option<i64>,
    pub(super) max_page_bytes: Option<i64>,
    pub(super) max_items_per_poll: Option<i64>,
    pub(super) listen: Option<String>,
    pub(super) seen_retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawDefaults {
    pub(super) interval: Option<String>,
    pub(super) min_interval: Option<String>,
    pub(super) max_interval: Option<String>,
    pub(super) scrape: Option<bool>,
    pub(super) backfill: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawFeed {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) interval: Option<String>,
    pub(super) min_interval: Option<String>,
    pub(super) max_interval: Option<String>,
    pub(super) scrape: Option<bool>,
    pub(super) backfill: Option<String>,
    pub(super) tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSink {
    pub(super) kind: String,
    pub(super) name: Option<String>,
    pub(super) path: Option<PathBuf>,
    pub(super) url: Option<String>,
    pub(super) format: Option<String>,
    pub(super) headers: Option<std::collections::BTreeMap<String, String>>,
    pub(super) timeout: Option<String>,
    pub(super) topics: Option<Vec<String>>,
    pub(super) min_score: Option<f64>,
    pub(super) rotate: Option<String>,
    pub(super) keep: Option<i64>,
    // `kind = "email"` (see `config/email.rs`).
    pub(super) smtp: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password_env: Option<String>,
    /// Never accepted: present only so a password in the file gets its own clear error.
    pub(super) password: Option<toml::Value>,
    pub(super) from: Option<String>,
    pub(super) to: Option<Vec<String>>,
    pub(super) digest: Option<String>,
    // `kind = "nats"` (see `config/nats.rs`); `url` and `timeout` are shared with webhooks.
    pub(super) subject: Option<String>,
    pub(super) stream: Option<String>,
    pub(super) max_age: Option<String>,
    pub(super) duplicate_window: Option<String>,
}
