//! Offline clustering for `newswatch cluster`: items from a JSON Lines file, clustered in
//! published order with the daemon's [`Clusterer`], one decision per line out.

use super::{Clusterer, StoryParams, fingerprint};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// One input item.
#[derive(Debug, Deserialize)]
struct InputItem {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
    published: Option<String>,
    #[serde(default)]
    url: Option<String>,
    // Accepted so that item files from other tools load; not used by the decision.
    #[serde(default)]
    #[allow(dead_code)]
    feed: Option<String>,
}

/// One output line: the item, its story (the id of the story's first item), why it joined
/// (`new` when it started the story), the similarity and the item it matched.
#[derive(Debug, Serialize)]
pub struct ClusterLine<'a> {
    pub id: &'a str,
    pub story: &'a str,
    pub why: &'static str,
    pub similarity: Option<f64>,
    pub matched: Option<&'a str>,
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClusterSummary {
    /// Items clustered.
    pub items: usize,
    /// Distinct stories among them.
    pub stories: usize,
    /// Lines skipped, each reported on the error writer with its line number.
    pub skipped: usize,
}

/// A failure to read the input or write the output.
#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    #[error("cannot read {name}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
}

/// Parses a published time: RFC 3339, or a bare `YYYY-MM-DD` (taken as midnight UTC).
fn parse_published(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Some(time.with_timezone(&Utc).timestamp());
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// Clusters the items read from `input` (named `name` in messages) and writes one JSON line per
/// item to `out`, in published order (ties keep the input order). Lines that are not valid items
/// are skipped and reported on `errors` with their line number; the rest are still clustered.
pub fn cluster_jsonl(
    input: impl BufRead,
    name: &str,
    params: StoryParams,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> Result<ClusterSummary, StoryError> {
    let mut items: Vec<(i64, InputItem)> = Vec::new();
    let mut summary = ClusterSummary::default();
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|source| StoryError::Read { name: name.to_string(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let problem = match serde_json::from_str::<InputItem>(&line) {
            Err(err) => Some(format!("not an item: {err}")),
            Ok(item) => match item.published.as_deref().and_then(parse_published) {
                Some(published) => {
                    items.push((published, item));
                    None
                }
                None => Some(format!(
                    "item {:?}: `published` is missing or not RFC 3339 / YYYY-MM-DD",
                    crate::text::printable(&item.id)
                )),
            },
        };
        if let Some(problem) = problem {
            summary.skipped += 1;
            writeln!(errors, "warning: {name}:{}: {problem}; skipped", number + 1)
                .map_err(StoryError::Write)?;
        }
    }
    items.sort_by_key(|(published, _)| *published);

    let mut clusterer = Clusterer::new(params);
    // Slots are numbered from 0 in the order items are added, so a slot is an index into `items`.
    let id_of = |slot: u64| {
        usize::try_from(slot).ok().and_then(|index| items.get(index)).map(|(_, item)| item.id.as_str())
    };
    for (published, item) in &items {
        let print = fingerprint(
            item.title.as_deref().unwrap_or(""),
            item.text.as_deref().unwrap_or(""),
            item.url.as_deref(),
        );
        let decision = clusterer.add(*published, print);
        if decision.why.is_none() {
            summary.stories += 1;
        }
        let line = ClusterLine {
            id: &item.id,
            story: id_of(decision.story).unwrap_or(&item.id),
            why: decision.why.map_or("new", |why| why.as_str()),
            similarity: decision.similarity.map(|value| (value * 1000.0).round() / 1000.0),
            matched: decision.matched.and_then(id_of),
        };
        serde_json::to_writer(&mut *out, &line).map_err(|err| StoryError::Write(err.into()))?;
        out.write_all(b"\n").map_err(StoryError::Write)?;
    }
    summary.items = items.len();
    Ok(summary)
}

/// `newswatch cluster [--window D] FILE`: clusters a file to stdout; fails when the window is not
/// a duration, the file cannot be read, or some lines were not items (after clustering the
/// others).
pub fn cluster_file(path: &std::path::Path, window: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let window = humantime::parse_duration(window)
        .ok()
        .and_then(|window| i64::try_from(window.as_secs()).ok())
        .filter(|secs| *secs > 0)
        .with_context(|| format!("--window {window:?} is not a positive duration such as 72h"))?;
    let params = StoryParams { window_secs: window, ..StoryParams::default() };
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let summary = cluster_jsonl(
        std::io::BufReader::new(file),
        &path.display().to_string(),
        params,
        &mut out,
        &mut std::io::stderr().lock(),
    )?;
    out.flush().context("cannot write the output")?;
    anyhow::ensure!(summary.skipped == 0, "{}: {} line(s) were not items", path.display(), summary.skipped);
    Ok(())
}
