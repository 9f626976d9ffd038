//! `check-config` and `feeds list`: what the daemon was told and what it did.

use super::{ConfigArg, load_config};
use crate::store::Store;
use chrono::Utc;
use std::io::Write;

pub fn check_config(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", config.source)?;
    writeln!(out, "state_dir: {}", config.daemon.state_dir.display())?;
    if let Some(addr) = config.daemon.listen {
        writeln!(out, "listen: {addr} (/healthz, /metrics)")?;
    }
    writeln!(out, "feeds: {}", config.feeds.len())?;
    for feed in &config.feeds {
        writeln!(
            out,
            "  {:<20} every {:<6} scrape={:<5} {}",
            feed.name,
            humantime::format_duration(feed.interval).to_string(),
            feed.scrape,
            feed.url
        )?;
    }
    writeln!(
        out,
        "topics: {}",
        config.topics.iter().map(|topic| topic.id.as_str()).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        out,
        "sinks: {}",
        config.sinks.iter().map(|sink| sink.name.as_str()).collect::<Vec<_>>().join(", ")
    )?;
    match &config.store {
        crate::config::StoreConfig::Sqlite => writeln!(out, "store: sqlite in the state directory")?,
        crate::config::StoreConfig::Postgres(pg) => writeln!(
            out,
            "store: postgres {} (pool {}, lease_timeout {})",
            crate::config::redact_url(&pg.url),
            pg.pool_size,
            crate::config::format_duration(pg.lease_timeout)
        )?,
    }
    Ok(())
}

pub async fn list_feeds(arg: &ConfigArg, json: bool) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let store = Store::connect_read_only(&config.store, &config.daemon.state_dir).await?;
    let states = match &store {
        Some(store) => store.feed_states().await?,
        None => Vec::new(),
    };
    let schedules: std::collections::HashMap<String, crate::store::FeedSchedule> = match &store {
        Some(store) if json => store.feed_schedules().await?.into_iter().collect(),
        _ => Default::default(),
    };
    let now = Utc::now().timestamp();
    let mut out = std::io::stdout().lock();
    if json {
        let time = |at: Option<i64>| {
            at.and_then(|at| chrono::DateTime::from_timestamp(at, 0)).map(|at| at.to_rfc3339())
        };
        for feed in &config.feeds {
            let state = states.iter().find(|state| state.name == feed.name);
            let line = serde_json::json!({
                "name": feed.name,
                "url": feed.url.as_str(),
                "tags": feed.tags,
                "interval_secs": feed.interval.as_secs(),
                "min_interval_secs": feed.min_interval.as_secs(),
                "max_interval_secs": feed.max_interval.as_secs(),
                // The adaptive interval the poller has reached (README "Scheduling").
                "poll_interval_secs": schedules
                    .get(&feed.name)
                    .and_then(|schedule| schedule.poll_interval_ms)
                    .map(|ms| ms as f64 / 1000.0),
                "feed_hint_secs": schedules.get(&feed.name).and_then(|schedule| schedule.feed_hint_secs),
                "scrape": feed.scrape,
                "status": state.and_then(|state| state.last_status.clone()),
                "consecutive_failures": state.map_or(0, |state| state.consecutive_failures),
                "last_error": state.and_then(|state| state.last_error.clone()),
                "last_fetch_at": time(state.and_then(|state| state.last_fetch_at)),
                "next_poll_at": time(state.and_then(|state| state.next_poll_at)),
                "items_seen": state.map_or(0, |state| state.items_seen),
            });
            writeln!(out, "{}", crate::text::escape_json(&line.to_string()))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<20}  {:<10}  {:<12}  {:>6}  {:<12}  URL / LAST ERROR",
        "FEED", "STATUS", "LAST FETCH", "ITEMS", "NEXT POLL"
    )?;
    for feed in &config.feeds {
        let state = states.iter().find(|state| state.name == feed.name);
        let status = match state {
            None => "never".to_string(),
            Some(state) if state.consecutive_failures > 0 => format!("error x{}", state.consecutive_failures),
            Some(state) => state.last_status.clone().unwrap_or_else(|| "never".into()),
        };
        let ago = |at: Option<i64>| match at {
            None => "-".to_string(),
            Some(at) if at <= now => format!(
                "{} ago",
                humantime::format_duration(std::time::Duration::from_secs((now - at) as u64))
            ),
            Some(at) => format!(
                "in {}",
                humantime::format_duration(std::time::Duration::from_secs((at - now) as u64))
            ),
        };
        writeln!(
            out,
            "{:<20}  {:<10}  {:<12}  {:>6}  {:<12}  {}",
            feed.name,
            status,
            ago(state.and_then(|state| state.last_fetch_at)),
            state.map_or(0, |state| state.items_seen),
            ago(state.and_then(|state| state.next_poll_at)),
            feed.url
        )?;
        if let Some(error) = state.and_then(|state| state.last_error.as_ref()) {
            writeln!(out, "{:<20}  last error: {}", "", crate::text::printable(&truncate_words(error, 160)))?;
        }
    }
    if store.is_none() {
        writeln!(out, "(no state yet in {}: run the daemon first)", config.daemon.state_dir.display())?;
    }
    Ok(())
}

/// `text` cut to at most `max_chars` at a word boundary, with "…" when cut.
fn truncate_words(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut = crate::text::truncate_chars(text, max_chars.saturating_sub(1));
    let cut = cut.trim_end_matches('…');
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(space) if space > cut.len() / 2 => &cut[..space],
        _ => cut,
    };
    format!("{}…", at_word.trim_end_matches([',', ';', ':', ' ']))
}

/// `newswatch status`: one screen from the store and the alert log: is the daemon running,
/// which feeds fail (worst first), the last alert, deliveries pending per sink, database size.
pub async fn status(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let state_dir = &config.daemon.state_dir;
    let mut out = std::io::stdout().lock();
    if let crate::config::StoreConfig::Postgres(_) = &config.store {
        let store = Store::connect_read_only(&config.store, state_dir)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a PostgreSQL store always opens or fails"))?;
        return status_shared(&config, &store, &mut out).await;
    }
    match crate::store::daemon_pid(state_dir) {
        Some(pid) => writeln!(out, "daemon     running (pid {pid}) on {}", state_dir.display())?,
        None => writeln!(out, "daemon     not running on {}", state_dir.display())?,
    }
    let Some(store) = Store::open_read_only(state_dir)? else {
        writeln!(out, "no state yet in {}: run the daemon first", state_dir.display())?;
        return Ok(());
    };
    let db_bytes: u64 = ["newswatch.db", "newswatch.db-wal"]
        .iter()
        .filter_map(|file| std::fs::metadata(state_dir.join(file)).ok())
        .map(|meta| meta.len())
        .sum();
    let (_outbox_rows, seen) = store.counts().await?;
    let mut pending_by_sink = Vec::with_capacity(config.sinks.len());
    for sink in &config.sinks {
        pending_by_sink.push((sink.name.clone(), store.pending(&sink.name).await?.len()));
    }
    writeln!(out, "database   {:.1} MiB, {seen} items seen", db_bytes as f64 / 1_048_576.0)?;
    let states = store.feed_states().await?;
    let now = Utc::now().timestamp();
    let configured: Vec<&crate::store::FeedState> =
        config.feeds.iter().filter_map(|feed| states.iter().find(|state| state.name == feed.name)).collect();
    let mut failing: Vec<&&crate::store::FeedState> =
        configured.iter().filter(|state| state.consecutive_failures > 0).collect();
    failing.sort_by_key(|state| std::cmp::Reverse(state.consecutive_failures));
    let never = config.feeds.len() - configured.len();
    writeln!(
        out,
        "feeds      {} configured: {} healthy, {} failing, {never} not polled yet",
        config.feeds.len(),
        configured.len() - failing.len(),
        failing.len()
    )?;
    for state in failing.iter().take(10) {
        let since = state.last_fetch_at.map_or("-".to_string(), |at| {
            format!(
                "{} ago",
                crate::config::format_duration(std::time::Duration::from_secs(
                    now.saturating_sub(at).max(1) as u64
                ))
            )
        });
        writeln!(
            out,
            "  {:<20} failed x{:<3} last try {since:<10} {}",
            state.name,
            state.consecutive_failures,
            crate::text::printable(&truncate_words(state.last_error.as_deref().unwrap_or("-"), 100))
        )?;
    }
    for (name, pending) in &pending_by_sink {
        writeln!(out, "sink       {name:<32} {pending} alerts pending")?;
    }
    match config.alert_log().map(crate::cli::alerts::read_all).transpose()? {
        Some(alerts) => match alerts.last() {
            Some(last) => writeln!(
                out,
                "last alert {}  {}  ({} alerts in the log)",
                last.detected_at,
                crate::text::printable(&crate::text::truncate_chars(&last.title, 80)),
                alerts.len()
            )?,
            None => writeln!(out, "last alert none yet")?,
        },
        None => writeln!(out, "last alert (no jsonl sink to read)")?,
    }
    Ok(())
}

/// `status` on a PostgreSQL store: the instances (alive first) with their leases and lag,
/// then the feeds and sinks as for one instance.
async fn status_shared(
    config: &crate::config::Config,
    store: &Store,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let instances = store.instances().await?;
    let alive = instances.iter().filter(|instance| instance.alive).count();
    writeln!(out, "store      {} ({alive} instances alive)", store.describe())?;
    for instance in &instances {
        let age = crate::config::format_duration(std::time::Duration::from_secs(
            (instance.heartbeat_age_ms.max(0) / 1000).max(1) as u64,
        ));
        writeln!(
            out,
            "instance   {:<32} {:<5} pid {:<7} {:>5} hosts  lag {:>4}s  heartbeat {age} ago",
            instance.id,
            if instance.alive { "alive" } else { "dead" },
            instance.pid,
            instance.leases,
            instance.lag_secs
        )?;
    }
    let leased = store.host_leases().await?.len();
    let mut hosts: Vec<String> =
        config.feeds.iter().map(|feed| crate::store::leases::lease_key(&feed.url)).collect();
    hosts.sort();
    hosts.dedup();
    let (_outbox_rows, seen) = store.counts().await?;
    writeln!(
        out,
        "feeds      {} configured on {} hosts, {leased} hosts leased; {seen} items seen",
        config.feeds.len(),
        hosts.len()
    )?;
    for (sink, pending) in store.pending_counts().await? {
        writeln!(out, "sink       {sink:<32} {pending} alerts pending")?;
    }
    Ok(())
}

/// `check-store`: the full integrity check of the state database. Prints the file and `ok`, or
/// fails (exit 1) naming the file and listing every problem SQLite found.
pub fn check_store(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let state_dir = &config.daemon.state_dir;
    let path = state_dir.join(crate::store::DB_FILE);
    let started = std::time::Instant::now();
    match Store::check_integrity(state_dir) {
        Ok(Some(problems)) if problems.is_empty() => {
            let bytes = std::fs::metadata(&path).map_or(0, |meta| meta.len());
            println!(
                "{}: ok ({:.1} MiB checked in {:.2} s)",
                path.display(),
                bytes as f64 / 1_048_576.0,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Ok(Some(problems)) => {
            let listed: Vec<String> =
                problems.iter().map(|problem| format!("  {}", crate::text::printable(problem))).collect();
            anyhow::bail!(
                "state database {} failed the integrity check ({} problems):\n{}",
                path.display(),
                problems.len(),
                listed.join("\n")
            )
        }
        Ok(None) => anyhow::bail!("no state database at {} (the daemon creates it)", path.display()),
        Err(err) => Err(anyhow::Error::new(err).context(format!("cannot check {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_words;

    #[test]
    fn errors_are_cut_between_words() {
        let error = "connect: connection refused by 127.0.0.1:8765 while fetching the feed";
        assert_eq!(truncate_words(error, 200), error);
        assert_eq!(truncate_words(error, 40), "connect: connection refused by…");
    }
}
