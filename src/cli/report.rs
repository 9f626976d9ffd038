//! `check-config`, `alerts` and `feeds list`: what the daemon was told and what it did.

use super::{ConfigArg, load_config};
use crate::alert;
use crate::sink::jsonl::read_log;
use crate::store::Store;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::io::Write;

pub fn check_config(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", config.source)?;
    writeln!(out, "state_dir: {}", config.daemon.state_dir.display())?;
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
    Ok(())
}

pub fn show_alerts(
    arg: &ConfigArg,
    since: Option<&str>,
    topic: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let since = since
        .map(|text| {
            crate::config::parse_duration(text).map_err(|reason| anyhow::anyhow!("--since: {reason}"))
        })
        .transpose()?;
    let Some(path) = config.alert_log() else {
        anyhow::bail!("{} configures no jsonl sink to read", config.source);
    };
    let cutoff =
        since.map(|since| Utc::now() - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX));
    let alerts = read_log(path).with_context(|| format!("cannot read alert log {}", path.display()))?;
    let shown: Vec<&alert::Alert> = alerts
        .iter()
        .filter(|alert| topic.is_none_or(|topic| alert.topic == topic))
        .filter(|alert| match cutoff {
            None => true,
            Some(cutoff) => DateTime::parse_from_rfc3339(&alert.detected_at).is_ok_and(|at| at >= cutoff),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        for alert in shown {
            writeln!(out, "{}", alert::to_json_line(alert)?)?;
        }
        return Ok(());
    }
    if shown.is_empty() {
        writeln!(out, "no alerts in {}", path.display())?;
        return Ok(());
    }
    writeln!(out, "{:<20}  {:<16}  {:>5}  {:<16}  TITLE", "DETECTED", "TOPIC", "SCORE", "FEED")?;
    for alert in shown {
        let detected = alert.detected_at.replace('T', " ").trim_end_matches('Z').to_string();
        writeln!(
            out,
            "{:<20}  {:<16}  {:>5.2}  {:<16}  {}",
            detected,
            crate::text::truncate_chars(&alert.topic, 16),
            alert.score,
            crate::text::truncate_chars(&alert.feed, 16),
            crate::text::printable(&crate::text::truncate_chars(&alert.title, 90)),
        )?;
        if let Some(url) = &alert.url {
            writeln!(out, "{:<20}  {}", "", crate::text::printable(url))?;
        }
    }
    Ok(())
}

pub async fn list_feeds(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let store = Store::open_read_only(&config.daemon.state_dir)?;
    let states = match &store {
        Some(store) => store.feed_states().await?,
        None => Vec::new(),
    };
    let now = Utc::now().timestamp();
    let mut out = std::io::stdout().lock();
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
            writeln!(
                out,
                "{:<20}  last error: {}",
                "",
                crate::text::printable(&crate::text::truncate_chars(error, 160))
            )?;
        }
    }
    if store.is_none() {
        writeln!(out, "(no state yet in {}: run the daemon first)", config.daemon.state_dir.display())?;
    }
    Ok(())
}
