//! `newswatch stories`: recent stories from the store, with their items, outlets and why each
//! item joined; and the grouping behind `newswatch alerts --stories`.

use super::alerts::parse_when;
use super::{ConfigArg, load_config};
use crate::alert::Alert;
use crate::store::{Store, StoryView};
use crate::text::{printable, truncate_chars};
use chrono::{DateTime, Utc};
use std::io::Write;

/// The default `--since`: the default story window.
const DEFAULT_SINCE: &str = "72h";

fn time(at: i64) -> String {
    DateTime::from_timestamp(at, 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn short_time(at: i64) -> String {
    DateTime::from_timestamp(at, 0).map(|at| at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// `newswatch stories`.
pub async fn show(
    arg: &ConfigArg,
    since: Option<&str>,
    topic: Option<&str>,
    json: bool,
    limit: usize,
) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let now = Utc::now();
    let since = parse_when("--since", since.unwrap_or(DEFAULT_SINCE), now)?;
    if let Some(topic) = topic
        && !config.topics.iter().any(|known| known.id == topic)
    {
        let known: Vec<&str> = config.topics.iter().map(|known| known.id.as_str()).collect();
        let hint = crate::text::did_you_mean(topic, &known)
            .map(|close| format!("; did you mean {close:?}?"))
            .unwrap_or_default();
        anyhow::bail!("unknown topic {topic:?}{hint} (known: {})", known.join(", "));
    }
    let state_dir = &config.daemon.state_dir;
    let mut out = std::io::stdout().lock();
    let Some(store) = Store::connect_read_only(&config.store, state_dir).await? else {
        if !json {
            writeln!(out, "no state yet in {}: run the daemon first", state_dir.display())?;
        }
        return Ok(());
    };
    let views = store.stories_since(since.timestamp(), topic.map(str::to_string), limit).await?;
    if json {
        for view in &views {
            writeln!(out, "{}", crate::text::escape_json(&story_json(view).to_string()))?;
        }
    } else if views.is_empty() {
        writeln!(out, "no stories since {}", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))?;
    } else {
        for view in &views {
            print_story(&mut out, view)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn story_json(view: &StoryView) -> serde_json::Value {
    serde_json::json!({
        "story": view.id,
        "title": view.title,
        "started_at": time(view.started_at),
        "last_item_at": time(view.last_item_at),
        "items": view.items,
        "outlets": view.outlets,
        "alerts": view.alerts.iter().map(|(topic, updates)| serde_json::json!({"topic": topic, "updates": updates})).collect::<Vec<_>>(),
        "members": view.members.iter().map(|member| serde_json::json!({
            "key": member.key,
            "published": time(member.published),
            "recorded_at": time(member.recorded_at),
            "why": member.why.as_deref().unwrap_or("new"),
            "similarity": member.similarity,
            "matched": member.matched,
            "feed": member.feed,
            "outlet": member.outlet,
            "title": member.title,
            "url": member.url,
            "topics": member.topics,
        })).collect::<Vec<_>>(),
    })
}

fn print_story(out: &mut impl Write, view: &StoryView) -> anyhow::Result<()> {
    let alerted: Vec<String> = view
        .alerts
        .iter()
        .map(|(topic, updates)| {
            format!("{} ({updates} update{})", printable(topic), if *updates == 1 { "" } else { "s" })
        })
        .collect();
    writeln!(
        out,
        "story {}  {} item{}, {} outlet{}, {} .. {}{}",
        view.id,
        view.items,
        if view.items == 1 { "" } else { "s" },
        view.outlets,
        if view.outlets == 1 { "" } else { "s" },
        short_time(view.started_at),
        short_time(view.last_item_at),
        if alerted.is_empty() { String::new() } else { format!("  alerted: {}", alerted.join(", ")) },
    )?;
    writeln!(out, "  {}", printable(&truncate_chars(&view.title, 100)))?;
    for member in &view.members {
        let similarity = member.similarity.map_or_else(|| "-".to_string(), |value| format!("{value:.2}"));
        writeln!(
            out,
            "  {}  {:<9} {:>5}  {:<20}  {}",
            short_time(member.published),
            member.why.as_deref().unwrap_or("new"),
            similarity,
            printable(&truncate_chars(&member.outlet, 20)),
            printable(&truncate_chars(&member.title, 80)),
        )?;
        if let Some(url) = &member.url {
            writeln!(out, "  {:<16}  {:<9} {:>5}  {:<20}  {}", "", "", "", "", printable(url))?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// Alerts grouped by story, each group in the order of its first alert; an alert without a
/// story (written before stories) is a group of its own.
pub fn group_by_story<'a>(alerts: &[&'a Alert]) -> Vec<(String, Vec<&'a Alert>)> {
    let mut groups: Vec<(String, Vec<&'a Alert>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for alert in alerts {
        let key = alert.story.clone().unwrap_or_else(|| format!("alert:{}", alert.id));
        match index.get(&key) {
            Some(&at) => groups[at].1.push(alert),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![alert]));
            }
        }
    }
    groups
}

/// The heading of a story group in `alerts --stories`: its id and the latest counts.
pub fn group_heading(story: &str, alerts: &[&Alert]) -> String {
    let latest = alerts.last().copied();
    let items = latest.and_then(|alert| alert.story_items).map_or("?".to_string(), |n| n.to_string());
    let outlets = latest.and_then(|alert| alert.story_outlets).map_or("?".to_string(), |n| n.to_string());
    let updates =
        alerts.iter().filter(|alert| alert.kind.as_deref() == Some(crate::alert::KIND_UPDATE)).count();
    format!(
        "story {story}  {items} items, {outlets} outlets, {} alert{} ({updates} update{})",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        if updates == 1 { "" } else { "s" }
    )
}
