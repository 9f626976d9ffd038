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

pub async fn list_feeds(arg: &ConfigArg, json: bool) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let store = Store::open_read_only(&config.daemon.state_dir)?;
    let states = match &store {
        Some(store) => store.feed_states().await?,
        None => Vec::new(),
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
