//! `[store]`: which database holds the state. SQLite in the state directory is the default (one
//! machine, nothing to set up); `kind = "postgres"` shares one PostgreSQL database between any
//! number of instances. The URL is resolved here, `url_env` included, so a missing variable or a
//! bad URL is a configuration error before anything starts, like any other.

use super::raw::RawStore;
use super::{DurationRange, parse_duration_in};
use std::fmt;
use std::time::Duration;

/// The default `lease_timeout`: a crashed instance's feeds move to the others this long after
/// its last renewal.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(60);
/// `lease_timeout`: two seconds (tests) to one hour.
pub const LEASE_TIMEOUT_RANGE: DurationRange = (Duration::from_secs(2), Duration::from_secs(3600));
/// The default `pool_size`: connections one instance keeps to PostgreSQL. The recorder, the
/// sinks, the lease keeper and a few pollers' reads at once; more only queue in the server.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// `[store]`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// The embedded database in `daemon.state_dir` (the default).
    #[default]
    Sqlite,
    /// A shared PostgreSQL database.
    Postgres(PostgresConfig),
}

/// `kind = "postgres"`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The connection URL (`postgres://user@host:port/db?options=...`), from `url` or the
    /// variable named by `url_env`; it may carry a password, so `Debug` never shows it whole.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a feed's lease lasts without renewal.
    pub lease_timeout: Duration,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("lease_timeout", &self.lease_timeout)
            .finish()
    }
}

/// The URL without its password, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparsable URL)".to_string(),
    }
}

impl StoreConfig {
    /// The lease timeout (SQLite has one instance, whose leases never lapse: the default).
    pub fn lease_timeout(&self) -> Duration {
        match self {
            StoreConfig::Sqlite => DEFAULT_LEASE_TIMEOUT,
            StoreConfig::Postgres(pg) => pg.lease_timeout,
        }
    }
}

/// Validates `[store]`; every problem goes to `problem` as (key under `store.`, reason). `env`
/// looks up an environment variable (the process environment; a map in unit tests).
pub(super) fn validate(
    raw: &RawStore,
    env: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(&str, String),
) -> StoreConfig {
    let kind = raw.kind.as_deref().unwrap_or("sqlite");
    match kind {
        "sqlite" => {
            for (key, set) in [
                ("url", raw.url.is_some()),
                ("url_env", raw.url_env.is_some()),
                ("pool_size", raw.pool_size.is_some()),
                ("lease_timeout", raw.lease_timeout.is_some()),
            ] {
                if set {
                    problem(
                        key,
                        format!("only for kind = \"postgres\"; the {kind} store lives in daemon.state_dir"),
                    );
                }
            }
            StoreConfig::Sqlite
        }
        "postgres" => {
            let url = match (&raw.url, &raw.url_env) {
                (Some(_), Some(_)) => {
                    problem("url", "give `url` or `url_env`, not both".into());
                    None
                }
                (None, None) => {
                    problem(
                        "url",
                        "kind = \"postgres\" needs `url` (\"postgres://user@host:5432/db\") or `url_env`, the name of an environment variable holding it".into(),
                    );
                    None
                }
                (Some(url), None) => check_url(url).map_err(|reason| problem("url", reason)).ok(),
                (None, Some(name)) => match env(name).filter(|value| !value.trim().is_empty()) {
                    None => {
                        problem("url_env", format!("environment variable {name} is not set or empty"));
                        None
                    }
                    Some(url) => {
                        check_url(&url).map_err(|reason| problem("url_env", format!("{name}: {reason}"))).ok()
                    }
                },
            };
            let pool_size = match raw.pool_size {
                None => DEFAULT_POOL_SIZE,
                Some(n @ 2..=256) => n as usize,
                Some(n) => {
                    problem("pool_size", format!("{n} is out of range 2..=256"));
                    DEFAULT_POOL_SIZE
                }
            };
            let lease_timeout =
                match raw.lease_timeout.as_deref().map(|t| parse_duration_in(t, LEASE_TIMEOUT_RANGE)) {
                    None => DEFAULT_LEASE_TIMEOUT,
                    Some(Ok(duration)) => duration,
                    Some(Err(reason)) => {
                        problem("lease_timeout", reason);
                        DEFAULT_LEASE_TIMEOUT
                    }
                };
            match url {
                Some(url) => StoreConfig::Postgres(PostgresConfig { url, pool_size, lease_timeout }),
                None => StoreConfig::Sqlite,
            }
        }
        other => {
            problem("kind", format!("{other:?} is not a store kind; use \"sqlite\" or \"postgres\""));
            StoreConfig::Sqlite
        }
    }
}

/// A PostgreSQL URL the driver accepts; the reason (without the URL, which may hold a
/// password) otherwise.
fn check_url(url: &str) -> Result<String, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("not a postgres:// URL".into());
    }
    url.parse::<tokio_postgres::Config>()
        .map(|_| url.to_string())
        .map_err(|err| format!("not a valid PostgreSQL URL ({err})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawStore, env: &[(&str, &str)]) -> (StoreConfig, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let lookup =
            |name: &str| env.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string());
        let config = validate(&raw, &lookup, &mut |key, reason| problems.push((key.to_string(), reason)));
        (config, problems)
    }

    fn pg(url: Option<&str>, url_env: Option<&str>) -> RawStore {
        RawStore {
            kind: Some("postgres".into()),
            url: url.map(str::to_string),
            url_env: url_env.map(str::to_string),
            ..RawStore::default()
        }
    }

    #[test]
    fn the_default_is_sqlite() {
        assert_eq!(check(RawStore::default(), &[]), (StoreConfig::Sqlite, vec![]));
    }

    #[test]
    fn a_postgres_url_comes_from_the_file_or_the_environment() {
        let (config, problems) = check(pg(Some("postgres://root@127.0.0.1:5432/test"), None), &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let StoreConfig::Postgres(config) = config else { panic!("postgres expected") };
        assert_eq!((config.pool_size, config.lease_timeout), (DEFAULT_POOL_SIZE, DEFAULT_LEASE_TIMEOUT));
        let (config, problems) =
            check(pg(None, Some("NW_DB")), &[("NW_DB", "postgres://u:secret@db.example:5432/nw")]);
        assert!(problems.is_empty(), "{problems:?}");
        let StoreConfig::Postgres(config) = config else { panic!("postgres expected") };
        assert_eq!(config.url, "postgres://u:secret@db.example:5432/nw");
        assert!(!format!("{config:?}").contains("secret"), "Debug hides the password");
    }

    #[test]
    fn bad_store_keys_are_named_with_their_reason() {
        // (raw keys, environment, key named, reason given)
        type Case = (RawStore, &'static [(&'static str, &'static str)], &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (pg(None, Some("NW_DB")), &[], "url_env", "NW_DB is not set or empty"),
            (pg(None, Some("NW_DB")), &[("NW_DB", " ")], "url_env", "NW_DB is not set or empty"),
            (pg(Some("postgres://a@b/c"), Some("NW_DB")), &[], "url", "not both"),
            (pg(Some("http://a/b"), None), &[], "url", "not a postgres:// URL"),
            (pg(Some("postgres://a@b:notaport/c"), None), &[], "url", "not a valid PostgreSQL URL"),
            (pg(None, None), &[], "url", "needs `url`"),
            (
                RawStore { url: Some("postgres://a@b/c".into()), ..RawStore::default() },
                &[],
                "url",
                "only for kind",
            ),
            (RawStore { kind: Some("mysql".into()), ..RawStore::default() }, &[], "kind", "not a store kind"),
            (
                RawStore { lease_timeout: Some("1s".into()), ..pg(Some("postgres://a@b/c"), None) },
                &[],
                "lease_timeout",
                "out of range",
            ),
            (
                RawStore { pool_size: Some(1), ..pg(Some("postgres://a@b/c"), None) },
                &[],
                "pool_size",
                "out of range",
            ),
        ];
        for (raw, env, key, reason) in cases {
            let (_, problems) = check(raw, env);
            assert!(
                problems.iter().any(|(k, r)| k == key && r.contains(reason)),
                "expected {key}: {reason} in {problems:?}"
            );
        }
    }
}
