//! The alert record (a public JSON Lines contract), the recording stage and the JSON Lines sink.
//!
//! The recorder is the one writer of item state: for each classified item it marks the item
//! seen, stores its verdicts and queues its alerts in the outbox in ONE transaction, then appends
//! the outbox to every sink and marks the rows delivered. On start-up, a torn last line of the
//! alert log is cut off, rows already in the log are marked delivered, and the rest are written:
//! a kill -9 at any moment neither loses nor repeats an alert.

use crate::config::SinkConfig;
use crate::model::{Classified, TextSource};
use crate::poll::{blocking, error_chain};
use crate::store::{ItemRecord, OutboxAlert, Recorded, Store, StoreError};
use crate::text::truncate_chars;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// The version of the alert line format.
pub const ALERT_SCHEMA: u32 = 1;
/// Feed-derived strings are cut to these lengths in alerts.
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_SNIPPET_CHARS: usize = 320;
pub const MAX_REASON_CHARS: usize = 200;
/// How many classified items the recorder commits in one transaction at most.
const RECORD_BATCH: usize = 64;
/// How much of the end of an alert log is read to reconcile it with the outbox on start-up.
const RECONCILE_TAIL_BYTES: u64 = 8 * 1024 * 1024;

/// One alert line. Field names and meanings are a public contract (see the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema: u32,
    /// Stable: the same item and topic always give the same id.
    pub id: String,
    pub topic: String,
    pub score: f64,
    pub title: String,
    pub url: Option<String>,
    pub feed: String,
    /// RFC 3339, or null when the feed gave no date.
    pub published: Option<String>,
    /// RFC 3339.
    pub detected_at: String,
    /// Why it fired: the matched clauses, strongest first.
    pub matched: Vec<String>,
    /// Up to ~300 characters around the strongest evidence.
    pub snippet: String,
    /// "page" (the article text) or "feed" (the feed's title and summary).
    pub text_source: String,
    /// Why the page was not used, when `text_source` is "feed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// Serialises an alert as one JSON line. serde_json already escapes C0 controls;
/// `text::escape_json` (the one escaping rule) also escapes DEL, the C1 controls, what some
/// readers take for a line break (U+0085, U+2028, U+2029) and the bidi controls, so the raw file
/// stays one alert per line for every tool and cannot reorder text on a terminal. The JSON
/// value is the same.
pub fn to_json_line(alert: &Alert) -> serde_json::Result<String> {
    let json = serde_json::to_string(alert)?;
    Ok(crate::text::escape_json(&json).into_owned())
}

/// The stable alert id: a hash of the item key and the topic.
pub fn alert_id(item_key: &str, topic: &str) -> String {
    let digest = Sha256::digest(format!("{item_key}\n{topic}").as_bytes());
    hex::encode(&digest[..12])
}

fn rfc3339(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Builds the alerts of one classified item (one per matching topic).
pub fn alerts_for(classified: &Classified, detected_at: DateTime<Utc>) -> Vec<Alert> {
    let article = &classified.article;
    let entry = &article.item.entry;
    classified
        .verdicts
        .iter()
        .filter(|verdict| verdict.matched)
        .map(|verdict| Alert {
            schema: ALERT_SCHEMA,
            id: alert_id(&entry.key, &verdict.topic),
            topic: verdict.topic.clone(),
            score: (verdict.score * 1000.0).round() / 1000.0,
            title: truncate_chars(&article.title, MAX_TITLE_CHARS),
            url: entry.link.as_ref().map(|link| link.to_string()),
            feed: article.item.feed.to_string(),
            published: entry.published.or(entry.updated).map(rfc3339),
            detected_at: rfc3339(detected_at),
            matched: verdict.reasons.iter().map(|reason| truncate_chars(reason, MAX_REASON_CHARS)).collect(),
            snippet: truncate_chars(&verdict.snippet, MAX_SNIPPET_CHARS),
            text_source: article.source.label().to_string(),
            fallback_reason: match &article.source {
                TextSource::Page => None,
                TextSource::FeedSummary { reason } => Some(truncate_chars(reason, MAX_REASON_CHARS)),
            },
        })
        .collect()
}

/// A JSON Lines file sink.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    pub name: String,
    pub path: PathBuf,
}

impl JsonlSink {
    pub fn from_config(config: &SinkConfig) -> JsonlSink {
        match config {
            SinkConfig::Jsonl { path } => JsonlSink { name: config.name(), path: path.clone() },
        }
    }

    /// Makes the file consistent with the outbox after a crash: cuts a torn last line and marks
    /// delivered the pending rows whose ids are already in the file. Returns how many were.
    pub fn reconcile(&self, store: &Store) -> Result<usize, DeliveryError> {
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if !self.path.exists() {
            return Ok(0);
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&self.path).map_err(io_err)?;
        let length = file.metadata().map_err(io_err)?.len();
        let start = length.saturating_sub(RECONCILE_TAIL_BYTES);
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let mut tail = Vec::with_capacity((length - start) as usize);
        // Read no more than the file's length says: a device (say /dev/full, or a FIFO put there
        // by mistake) would otherwise never end.
        (&mut file).take(length - start).read_to_end(&mut tail).map_err(io_err)?;
        if let Some(last_newline) = tail.iter().rposition(|&b| b == b'\n') {
            if last_newline + 1 != tail.len() {
                let keep = start + last_newline as u64 + 1;
                warn!(path = %self.path.display(), cut_bytes = length - keep, "alert log ended in a torn line; cut it");
                file.set_len(keep).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                tail.truncate(last_newline + 1);
            }
        } else if start == 0 && !tail.is_empty() {
            warn!(path = %self.path.display(), "alert log held only a torn line; cut it");
            file.set_len(0).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            tail.clear();
        }
        let ids: HashSet<String> = tail
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<IdOnly>(line).ok())
            .map(|line| line.id)
            .collect();
        let pending = store.pending(&self.name)?;
        let already: Vec<i64> =
            pending.iter().filter(|row| ids.contains(&row.alert_id)).map(|row| row.seq).collect();
        if !already.is_empty() {
            store.mark_delivered(&already, Utc::now().timestamp())?;
        }
        Ok(already.len())
    }

    /// Appends every pending alert and marks them delivered. On a write error the file is cut
    /// back to where it was, so no torn line stays behind, and the alerts stay pending.
    pub fn deliver(&self, store: &Store) -> Result<usize, DeliveryError> {
        let pending = store.pending(&self.name)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if let Some(parent) = self.path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io_err)?;
        let before = file.metadata().map_err(io_err)?.len();
        let mut lines = Vec::new();
        for row in &pending {
            lines.extend_from_slice(row.body.as_bytes());
            lines.push(b'\n');
        }
        // Written in two parts only so that crash tests can kill the process between them.
        let (first, rest) = lines.split_at(lines.len() / 2);
        let written = file.write_all(first).and_then(|()| {
            crash_window();
            file.write_all(rest)
        });
        if let Err(source) = written.and_then(|()| file.sync_data()) {
            cut_back(&file, before);
            return Err(io_err(source));
        }
        crash_window();
        let seqs: Vec<i64> = pending.iter().map(|row| row.seq).collect();
        store.mark_delivered(&seqs, Utc::now().timestamp())?;
        Ok(pending.len())
    }
}

/// Crash tests set `NEWSWATCH_TEST_CRASH_WINDOW_MS` to widen the moments between the steps of
/// delivery (half a line written; written but not yet marked delivered), so a SIGKILL lands there
/// often. Unset, this does nothing.
fn crash_window() {
    static WINDOW: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let window = WINDOW.get_or_init(|| {
        std::env::var("NEWSWATCH_TEST_CRASH_WINDOW_MS").ok()?.parse().ok().map(Duration::from_millis)
    });
    if let Some(window) = window {
        std::thread::sleep(*window);
    }
}

fn cut_back(file: &File, length: u64) {
    if let Err(err) = file.set_len(length).and_then(|()| file.sync_data()) {
        error!(error = %err, "cannot cut the alert log back after a failed write; the next start repairs it");
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Why alerts could not be delivered (they stay pending).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot write alert log {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct RecordStats {
    pub recorded: std::sync::atomic::AtomicU64,
    pub duplicates: std::sync::atomic::AtomicU64,
    pub alerts: std::sync::atomic::AtomicU64,
    /// Items that could not be recorded (database full) and are left to the next run.
    pub dropped: std::sync::atomic::AtomicU64,
}

/// How long delivered outbox rows are kept.
const DELIVERED_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// Delivers what a previous run left pending (after reconciling each sink), and forgets outbox
/// rows delivered long ago.
pub async fn deliver_startup(store: &Store, sinks: &[JsonlSink]) {
    let before = Utc::now().timestamp() - DELIVERED_RETENTION_SECS;
    match blocking(store, move |store| store.prune_delivered(before)).await {
        Ok(0) => {}
        Ok(n) => debug!(rows = n, "pruned old delivered alerts from the outbox"),
        Err(err) => warn!(error = %error_chain(&err), "cannot prune the outbox"),
    }
    for sink in sinks {
        let sink_for_call = sink.clone();
        match blocking(store, move |store| Ok(sink_for_call.reconcile(store))).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                info!(sink = %sink.name, alerts = n, "found alerts already in the log; marked delivered")
            }
            Ok(Err(err)) => {
                warn!(sink = %sink.name, error = %error_chain(&err), "cannot reconcile the alert log")
            }
            Err(err) => {
                warn!(sink = %sink.name, error = %error_chain(&err), "cannot reconcile the alert log")
            }
        }
    }
    deliver_all(store, sinks).await;
}

/// Appends pending alerts to every sink; errors are logged and the alerts stay pending.
pub async fn deliver_all(store: &Store, sinks: &[JsonlSink]) -> bool {
    let mut all_ok = true;
    for sink in sinks {
        let sink_for_call = sink.clone();
        match blocking(store, move |store| Ok(sink_for_call.deliver(store))).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => debug!(sink = %sink.name, alerts = n, "delivered"),
            Ok(Err(err)) => {
                all_ok = false;
                error!(sink = %sink.name, error = %error_chain(&err), "cannot deliver alerts; they stay pending and are retried");
            }
            Err(err) => {
                all_ok = false;
                error!(sink = %sink.name, error = %error_chain(&err), "cannot deliver alerts; they stay pending and are retried");
            }
        }
    }
    all_ok
}

/// The recorder: runs until the channel closes, then delivers what is left.
pub async fn run(
    mut classified: mpsc::Receiver<Classified>,
    store: Store,
    sinks: Vec<JsonlSink>,
    stats: std::sync::Arc<RecordStats>,
    once: bool,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut undelivered = false;
    loop {
        // While alerts are stuck (disk full), wake up now and then to retry them.
        let first = if undelivered {
            match tokio::time::timeout(Duration::from_secs(5), classified.recv()).await {
                Ok(message) => message,
                Err(_elapsed) => {
                    undelivered = !deliver_all(&store, &sinks).await;
                    continue;
                }
            }
        } else {
            classified.recv().await
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match classified.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let now = Utc::now();
        let sink_names: Vec<String> = sinks.iter().map(|sink| sink.name.clone()).collect();
        let records: Vec<ItemRecord> =
            batch.iter().map(|message| item_record(message, now, &sink_names)).collect();
        // A daemon holds the batch until the database can take it again (the pipeline slows
        // down behind it); `--once` gives up after a while so cron runs end. Either way nothing
        // was marked seen, so the items come back on the next poll.
        let attempts = if once { ONCE_RECORD_ATTEMPTS } else { usize::MAX };
        let Some(outcomes) = record_with_retry(&store, records, now.timestamp(), attempts).await else {
            stats.dropped.fetch_add(batch.len() as u64, Relaxed);
            continue;
        };
        for (message, outcome) in batch.iter().zip(outcomes) {
            let item = &message.article.item;
            match outcome {
                Recorded::Duplicate => {
                    stats.duplicates.fetch_add(1, Relaxed);
                    debug!(feed = %item.feed, key = ?item.entry.key, "already seen via another feed");
                }
                Recorded::New => {
                    stats.recorded.fetch_add(1, Relaxed);
                    for verdict in message.verdicts.iter().filter(|verdict| verdict.matched) {
                        stats.alerts.fetch_add(1, Relaxed);
                        info!(
                            feed = %item.feed,
                            url = %item.feed_url,
                            topic = %verdict.topic,
                            score = verdict.score,
                            title = ?truncate_chars(&message.article.title, 120),
                            link = ?item.entry.link.as_ref().map(|link| link.as_str()),
                            "alert"
                        );
                    }
                }
            }
        }
        undelivered = !deliver_all(&store, &sinks).await;
    }
    deliver_all(&store, &sinks).await;
}

/// How often `--once` tries to record a batch before leaving it to the next run (~13 s).
const ONCE_RECORD_ATTEMPTS: usize = 6;

/// Records a batch, retrying while the database cannot commit (disk full, locked), at most
/// `attempts` times. None when it gave up.
async fn record_with_retry(
    store: &Store,
    records: Vec<ItemRecord>,
    now: i64,
    attempts: usize,
) -> Option<Vec<Recorded>> {
    let mut delay = Duration::from_millis(200);
    let mut attempt_number = 0;
    loop {
        attempt_number += 1;
        let attempt = records.clone();
        match blocking(store, move |store| store.record_items(&attempt, now)).await {
            Ok(outcomes) => return Some(outcomes),
            Err(err) if attempt_number >= attempts => {
                error!(error = %error_chain(&err), items = records.len(), "cannot record items; leaving them to the next run");
                return None;
            }
            Err(err) => {
                error!(error = %error_chain(&err), retry_in_ms = delay.as_millis() as u64, "cannot record items; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn item_record(message: &Classified, now: DateTime<Utc>, sinks: &[String]) -> ItemRecord {
    let item = &message.article.item;
    let alerts = alerts_for(message, now);
    let mut outbox = Vec::with_capacity(alerts.len() * sinks.len());
    for alert in &alerts {
        // Serialising a struct of strings and numbers cannot fail.
        let body = to_json_line(alert).expect("alert serialises");
        for sink in sinks {
            outbox.push(OutboxAlert { alert_id: alert.id.clone(), sink: sink.clone(), body: body.clone() });
        }
    }
    let verdicts = serde_json::to_string(
        &message
            .verdicts
            .iter()
            .map(|verdict| serde_json::json!({"topic": verdict.topic, "score": verdict.score, "matched": verdict.matched}))
            .collect::<Vec<_>>(),
    )
    .ok();
    ItemRecord {
        key: item.entry.key.clone(),
        link: item.entry.link.as_ref().map(|link| link.to_string()),
        feed: item.feed.to_string(),
        verdicts,
        alerts: outbox,
        commit: item.batch.finish_one(),
        fingerprint: crate::feed::fingerprint(&item.entry),
    }
}

/// Reads an alert log: every well-formed line, oldest first (torn or foreign lines skipped).
pub fn read_log(path: &Path) -> std::io::Result<Vec<Alert>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_escape_line_separators_and_bidi_controls() {
        let alert = Alert {
            schema: ALERT_SCHEMA,
            id: "x".into(),
            topic: "t".into(),
            score: 1.0,
            title: "a\nb\u{1b}[31m\u{85}\u{2028}\u{202e}{\"id\":\"fake\"}".into(),
            url: None,
            feed: "f".into(),
            published: None,
            detected_at: "2026-01-01T00:00:00Z".into(),
            matched: vec![],
            snippet: String::new(),
            text_source: "feed".into(),
            fallback_reason: None,
        };
        let line = to_json_line(&alert).unwrap();
        assert!(!line.chars().any(crate::text::is_unsafe), "{line}");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'));
        assert_eq!(line.lines().count(), 1);
        let back: Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back, alert, "the escaped line decodes to the same alert");
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        assert_eq!(alert_id("k", "t"), alert_id("k", "t"));
        assert_ne!(alert_id("k", "t"), alert_id("k", "u"));
        assert_eq!(alert_id("k", "t").len(), 24);
    }

    #[test]
    fn reconcile_cuts_a_torn_line_and_skips_what_is_already_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        let sink = JsonlSink { name: "s".into(), path: dir.path().join("alerts.jsonl") };
        let record = |key: &str, id: &str| ItemRecord {
            key: key.into(),
            feed: "f".into(),
            alerts: vec![OutboxAlert {
                alert_id: id.into(),
                sink: "s".into(),
                body: format!("{{\"id\":\"{id}\"}}"),
            }],
            ..ItemRecord::default()
        };
        store.record_items(&[record("k1", "a1"), record("k2", "a2")], 1).unwrap();
        // A crash after a1 was written but before it was marked, in the middle of writing a2.
        std::fs::write(&sink.path, "{\"id\":\"a1\"}\n{\"id\":\"a2").unwrap();
        assert_eq!(sink.reconcile(&store).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n");
        assert_eq!(sink.deliver(&store).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n{\"id\":\"a2\"}\n");
        assert_eq!(sink.deliver(&store).unwrap(), 0);
    }
}
