//! `newswatch alerts`: reading, filtering and following the alert log, and `alerts show ID`.
//!
//! The log is read as a stream of JSON lines; a line that does not parse as an alert (a torn
//! last line while the daemon writes) is skipped, never fatal.

use super::{ConfigArg, load_config};
use crate::alert::{self, Alert};
use crate::config::{SINCE_RANGE, parse_duration_in};
use crate::sink::jsonl::read_log;
use crate::text::did_you_mean;
use crate::text::{printable, truncate_chars};
use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How alerts are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// The raw JSON lines, for jq and scripts.
    Json,
    /// A Markdown list with linked titles, for notes and chat.
    Markdown,
}

/// The filters of `newswatch alerts`, as given on the command line.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Filters {
    /// Only alerts detected after this: a duration back from now (90m, 24h, 7d) or a date or
    /// time (2026-11-30, 2026-11-30T08:00:00Z).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only alerts detected before this: a duration back from now or a date or time.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only alerts of this topic.
    #[arg(long, value_name = "ID")]
    pub topic: Option<String>,
    /// Only alerts from this feed.
    #[arg(long, value_name = "NAME")]
    pub feed: Option<String>,
    /// Only alerts scoring at least this.
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f64>,
    /// Only alerts whose title, snippet, URL or evidence contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Only the newest N alerts (still printed oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Group the alerts by story (each story under a heading with its latest counts; with
    /// --json, one {"story", "alerts"} object per story).
    #[arg(long)]
    pub stories: bool,
}

/// The filters after parsing, ready to test alerts against.
struct Query {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    topic: Option<String>,
    feed: Option<String>,
    min_score: Option<f64>,
    grep: Option<String>,
}

impl Query {
    fn matches(&self, alert: &Alert) -> bool {
        let detected = DateTime::parse_from_rfc3339(&alert.detected_at).ok().map(|at| at.with_timezone(&Utc));
        self.topic.as_ref().is_none_or(|topic| &alert.topic == topic)
            && self.feed.as_ref().is_none_or(|feed| &alert.feed == feed)
            && self.min_score.is_none_or(|min| alert.score >= min)
            && self.since.is_none_or(|since| detected.is_some_and(|at| at >= since))
            && self.until.is_none_or(|until| detected.is_some_and(|at| at < until))
            && self.grep.as_ref().is_none_or(|needle| {
                [Some(&alert.title), Some(&alert.snippet), alert.url.as_ref()]
                    .into_iter()
                    .flatten()
                    .chain(alert.matched.iter())
                    .any(|field| field.to_lowercase().contains(needle))
            })
    }
}

/// A point in time given as a duration back from `now` ("24h") or as an RFC 3339 time or a
/// plain date (midnight UTC).
pub fn parse_when(flag: &str, text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).map(|at| at.and_utc()).unwrap_or(DateTime::<Utc>::MIN_UTC));
    }
    let span = parse_duration_in(text, SINCE_RANGE).map_err(|reason| {
        anyhow::anyhow!("{flag}: {reason}; or give a date such as 2026-11-30 or 2026-11-30T08:00:00Z")
    })?;
    Ok(crate::time::before(now, span))
}

/// Every alert in the log at `path`, oldest first. Rotated logs (`alerts.jsonl.1`, `.2`, …, the
/// highest number the oldest) are read first, so a rotation is invisible to the reader.
pub fn read_all(path: &Path) -> anyhow::Result<Vec<Alert>> {
    let mut files = rotated_files(path);
    files.push(path.to_path_buf());
    let mut alerts = Vec::new();
    for file in files {
        alerts.extend(read_log(&file).with_context(|| format!("cannot read alert log {}", file.display()))?);
    }
    Ok(alerts)
}

/// `path.N` files beside the log, oldest (highest N) first.
fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|name| name.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut numbered: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let number = file_name.to_str()?.strip_prefix(name)?.strip_prefix('.')?.parse::<u32>().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    numbered.sort_by_key(|(number, _)| std::cmp::Reverse(*number));
    numbered.into_iter().map(|(_, path)| path).collect()
}

/// `newswatch alerts`.
pub async fn show(arg: &ConfigArg, filters: &Filters, format: Format, follow: bool) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let Some(path) = config.alert_log().map(Path::to_path_buf) else {
        bail!("{} configures no jsonl sink to read", config.source);
    };
    let alerts = read_all(&path)?;
    let now = Utc::now();
    let query = Query {
        since: filters.since.as_deref().map(|text| parse_when("--since", text, now)).transpose()?,
        until: filters.until.as_deref().map(|text| parse_when("--until", text, now)).transpose()?,
        topic: filters.topic.clone(),
        feed: filters.feed.clone(),
        min_score: filters.min_score,
        grep: filters.grep.as_ref().map(|text| text.to_lowercase()),
    };
    if let Some(topic) = &query.topic {
        let known: BTreeSet<&str> = config
            .topics
            .iter()
            .map(|topic| topic.id.as_str())
            .chain(alerts.iter().map(|alert| alert.topic.as_str()))
            .collect();
        check_known("topic", topic, &known)?;
    }
    if let Some(feed) = &query.feed {
        let known: BTreeSet<&str> = config
            .feeds
            .iter()
            .map(|feed| feed.name.as_str())
            .chain(alerts.iter().map(|alert| alert.feed.as_str()))
            .collect();
        check_known("feed", feed, &known)?;
    }
    let mut shown: Vec<&Alert> = alerts.iter().filter(|alert| query.matches(alert)).collect();
    if let Some(limit) = filters.limit {
        let skip = shown.len().saturating_sub(limit);
        shown.drain(..skip);
    }
    let mut out = std::io::stdout().lock();
    if shown.is_empty() && !follow && format == Format::Table {
        let n_older = match query.since {
            Some(since) => alerts
                .iter()
                .filter(|alert| DateTime::parse_from_rfc3339(&alert.detected_at).is_ok_and(|at| at < since))
                .count(),
            None => 0,
        };
        match (&filters.since, n_older) {
            (Some(since), n) if n > 0 => {
                writeln!(out, "no alerts in the last {since} ({n} older) in {}", path.display())?
            }
            (Some(since), _) => writeln!(out, "no alerts in the last {since} in {}", path.display())?,
            (None, _) if alerts.is_empty() => writeln!(out, "no alerts yet in {}", path.display())?,
            (None, _) => {
                writeln!(out, "no alerts match the filters ({} in {})", alerts.len(), path.display())?
            }
        }
        return Ok(());
    }
    if filters.stories && !follow {
        for (story, group) in super::stories::group_by_story(&shown) {
            if format == Format::Json {
                let alerts: Vec<&Alert> = group.to_vec();
                let line = serde_json::json!({"story": story, "alerts": alerts}).to_string();
                writeln!(out, "{}", crate::text::escape_json(&line))?;
                continue;
            }
            writeln!(out, "{}", printable(&super::stories::group_heading(&story, &group)))?;
            for alert in group {
                out.write_all(b"  ")?;
                print_alert(&mut out, alert, format)?;
            }
        }
        out.flush()?;
        return Ok(());
    }
    if format == Format::Table && !shown.is_empty() {
        writeln!(
            out,
            "{:<12}  {:<20}  {:<16}  {:>5}  {:<16}  TITLE",
            "ID", "DETECTED", "TOPIC", "SCORE", "FEED"
        )?;
    }
    for alert in shown {
        print_alert(&mut out, alert, format)?;
    }
    out.flush()?;
    drop(out);
    if follow {
        follow_log(&path, &query, format).await?;
    }
    Ok(())
}

/// An error naming the known values when `value` is not one of them.
fn check_known(what: &str, value: &str, known: &BTreeSet<&str>) -> anyhow::Result<()> {
    if known.contains(value) {
        return Ok(());
    }
    let candidates: Vec<&str> = known.iter().copied().collect();
    let hint = match did_you_mean(value, &candidates) {
        Some(close) => format!("; did you mean {close:?}?"),
        None => String::new(),
    };
    bail!("unknown {what} {value:?}{hint} (known: {})", candidates.join(", "))
}

fn print_alert(out: &mut impl Write, alert: &Alert, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", alert::to_json_line(alert)?)?,
        Format::Table => {
            let detected = alert.detected_at.replace('T', " ").trim_end_matches('Z').to_string();
            let title = match alert.kind.as_deref() {
                Some(crate::alert::KIND_UPDATE) if !alert.newcomers.is_empty() => {
                    format!("[update +{}] {}", alert.newcomers.len(), alert.title)
                }
                _ => alert.title.clone(),
            };
            writeln!(
                out,
                "{:<12}  {:<20}  {:<16}  {:>5.2}  {:<16}  {}",
                truncate_chars(&alert.id, 12),
                truncate_chars(&detected, 20),
                printable(&truncate_chars(&alert.topic, 16)),
                alert.score,
                printable(&truncate_chars(&alert.feed, 16)),
                printable(&truncate_chars(&title, 90)),
            )?;
            if let Some(url) = &alert.url {
                writeln!(out, "{:<12}  {:<20}  {}", "", "", printable(url))?;
            }
        }
        Format::Markdown => {
            let title = markdown_text(&alert.title);
            let linked = match &alert.url {
                Some(url) => format!("[{title}]({})", printable(url).replace(')', "%29").replace(' ', "%20")),
                None => title,
            };
            writeln!(
                out,
                "- **{linked}** — {}, {}, score {:.2}, {}",
                markdown_text(&alert.topic),
                markdown_text(&alert.feed),
                alert.score,
                alert.detected_at
            )?;
            if !alert.snippet.is_empty() {
                writeln!(out, "  > {}", markdown_text(&alert.snippet))?;
            }
        }
    }
    Ok(())
}

/// Feed-derived text made safe for Markdown: printable, on one line, with the characters that
/// would start markup escaped.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out
}

/// Prints alerts appended to the log from now on, like `tail -F`: when the file is replaced
/// (rotated or recreated) or truncated, reading starts again at the top of the new file.
async fn follow_log(path: &Path, query: &Query, format: Format) -> anyhow::Result<()> {
    let mut position = std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    let mut identity = file_identity(path);
    let mut partial = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let current = file_identity(path);
        let Some(length) = std::fs::metadata(path).ok().map(|meta| meta.len()) else {
            continue; // between a rotation's rename and the new file's creation
        };
        if current != identity || length < position {
            identity = current;
            position = 0;
            partial.clear();
        }
        if length == position {
            continue;
        }
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        file.seek(SeekFrom::Start(position))?;
        let mut appended = String::new();
        let read = std::io::BufReader::new(file.take(length - position)).read_to_string(&mut appended);
        if read.is_err() {
            continue; // a line cut inside a UTF-8 sequence: read it whole next time
        }
        position = length;
        partial.push_str(&appended);
        let mut out = std::io::stdout().lock();
        while let Some(newline) = partial.find('\n') {
            let line: String = partial.drain(..=newline).collect();
            if let Ok(alert) = serde_json::from_str::<Alert>(line.trim_end())
                && query.matches(&alert)
            {
                print_alert(&mut out, &alert, format)?;
            }
        }
        out.flush()?;
    }
}

#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().and_then(|meta| meta.created().ok()).map(|created| {
        let since = created.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (since.as_secs(), u64::from(since.subsec_nanos()))
    })
}

/// `newswatch alerts show ID`: one alert with its whole explanation. A unique prefix of the id
/// is enough.
pub fn show_one(arg: &ConfigArg, id: &str) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let Some(path) = config.alert_log() else {
        bail!("{} configures no jsonl sink to read", config.source);
    };
    let alerts = read_all(path)?;
    let found: Vec<&Alert> = alerts.iter().filter(|alert| alert.id.starts_with(id)).collect();
    let alert = match found.as_slice() {
        [one] => *one,
        [] => bail!("no alert with id {id:?} in {}", path.display()),
        many => bail!("{} alerts have ids starting with {id:?}: give more of it", many.len()),
    };
    let mut out = std::io::stdout().lock();
    let line = |out: &mut std::io::StdoutLock, key: &str, value: &str| {
        writeln!(out, "{key:<16}{}", printable(value))
    };
    line(&mut out, "id", &alert.id)?;
    line(&mut out, "title", &alert.title)?;
    line(&mut out, "url", alert.url.as_deref().unwrap_or("-"))?;
    line(&mut out, "topic", &alert.topic)?;
    line(&mut out, "score", &format!("{:.3}", alert.score))?;
    line(&mut out, "feed", &alert.feed)?;
    line(&mut out, "published", alert.published.as_deref().unwrap_or("-"))?;
    line(&mut out, "detected", &alert.detected_at)?;
    let source = match &alert.fallback_reason {
        Some(reason) => format!("{} ({reason})", alert.text_source),
        None => alert.text_source.clone(),
    };
    line(&mut out, "text from", &source)?;
    writeln!(out, "matched")?;
    for reason in &alert.matched {
        writeln!(out, "  - {}", printable(reason))?;
    }
    writeln!(out, "snippet")?;
    writeln!(out, "  {}", printable(&alert.snippet))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_durations_or_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_when("--since", "2h", now).unwrap().to_rfc3339(), "2026-11-30T10:00:00+00:00");
        assert_eq!(
            parse_when("--since", "2026-11-01", now).unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_when("--until", "2026-11-30T08:00:00+02:00", now).unwrap().to_rfc3339(),
            "2026-11-30T06:00:00+00:00"
        );
        let err = parse_when("--since", "soon", now).unwrap_err().to_string();
        assert!(err.starts_with("--since: \"soon\" is not a duration"), "{err}");
    }

    #[test]
    fn rotated_logs_are_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let line = |id: &str| {
            format!(
                "{{\"schema\":1,\"id\":\"{id}\",\"topic\":\"t\",\"score\":1.0,\"title\":\"x\",\"url\":null,\"feed\":\"f\",\"published\":null,\"detected_at\":\"2026-01-01T00:00:00Z\",\"matched\":[],\"snippet\":\"\",\"text_source\":\"feed\"}}\n"
            )
        };
        std::fs::write(dir.path().join("alerts.jsonl.2"), line("a")).unwrap();
        std::fs::write(dir.path().join("alerts.jsonl.1"), line("b")).unwrap();
        std::fs::write(&path, line("c")).unwrap();
        std::fs::write(dir.path().join("alerts.jsonl.bak"), line("z")).unwrap();
        let ids: Vec<String> = read_all(&path).unwrap().into_iter().map(|alert| alert.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn markdown_escapes_markup_from_feeds() {
        assert_eq!(markdown_text("a *b* [c](d) <e>"), "a \\*b\\* \\[c\\](d) \\<e\\>");
    }
}
