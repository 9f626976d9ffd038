//! The recorder: the one writer of item state. For a batch of classified items it marks each
//! seen, stores its verdicts and queues its alerts in the outbox (one row per sink) in ONE
//! transaction, then wakes the sinks' delivery tasks. It never delivers itself, so a slow sink
//! cannot stall recording. A kill -9 at any moment neither loses nor repeats an alert.

use crate::alert::{
    ALERT_SCHEMA, Alert, MAX_REASON_CHARS, MAX_SNIPPET_CHARS, MAX_TITLE_CHARS, alert_id, to_json_line,
};
use crate::error::chain as error_chain;
use crate::model::{Classified, RunMode, TextSource};
use crate::store::{ItemRecord, OutboxAlert, Recorded, Store};
use crate::text::truncate_chars;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info};

/// How many classified items the recorder commits in one transaction at most.
const RECORD_BATCH: usize = 64;

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

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct RecordStats {
    pub recorded: std::sync::atomic::AtomicU64,
    pub duplicates: std::sync::atomic::AtomicU64,
    pub alerts: std::sync::atomic::AtomicU64,
    /// Items that could not be recorded (database full) and are left to the next run.
    pub dropped: std::sync::atomic::AtomicU64,
}

/// The recorder: records classified items in batches until the channel closes. After each
/// batch it bumps `recorded`, which wakes the sinks' delivery tasks; dropping it when the
/// channel closes tells them to make their last delivery.
pub async fn run(
    mut classified: mpsc::Receiver<Classified>,
    store: Store,
    sinks: Vec<crate::config::SinkConfig>,
    recorded: watch::Sender<u64>,
    stats: std::sync::Arc<RecordStats>,
    mode: RunMode,
) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Some(first) = classified.recv().await {
        crate::fault::point("record");
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match classified.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let now = Utc::now();
        let records: Vec<ItemRecord> =
            batch.iter().map(|message| item_record(message, now, &sinks)).collect();
        // A daemon holds the batch until the database can take it again (the pipeline slows
        // down behind it); `--once` gives up after a while so cron runs end. Either way nothing
        // was marked seen, so the items come back on the next poll.
        let attempts = if mode == RunMode::Once { ONCE_RECORD_ATTEMPTS } else { usize::MAX };
        let Some(outcomes) = record_with_retry(&store, records, now.timestamp(), attempts).await else {
            stats.dropped.fetch_add(batch.len() as u64, Relaxed);
            continue;
        };
        let mut new_alerts = false;
        for (message, outcome) in batch.iter().zip(outcomes) {
            let item = &message.article.item;
            match outcome {
                Recorded::Duplicate => {
                    stats.duplicates.fetch_add(1, Relaxed);
                    metrics::counter!("newswatch_items_total", "result" => "duplicate").increment(1);
                    debug!(feed = %item.feed, key = %crate::text::printable(&item.entry.key), "already seen via another feed");
                }
                Recorded::New => {
                    stats.recorded.fetch_add(1, Relaxed);
                    metrics::counter!("newswatch_items_total", "result" => "new").increment(1);
                    for verdict in message.verdicts.iter().filter(|verdict| verdict.matched) {
                        stats.alerts.fetch_add(1, Relaxed);
                        metrics::counter!("newswatch_alerts_total", "topic" => verdict.topic.clone())
                            .increment(1);
                        if let Some(published) = item.entry.published.or(item.entry.updated) {
                            let seconds = (now - published).num_milliseconds().max(0) as f64 / 1000.0;
                            metrics::histogram!("newswatch_publish_to_alert_seconds").record(seconds);
                        }
                        new_alerts = true;
                        info!(
                            feed = %item.feed,
                            url = %item.feed_url,
                            topic = %verdict.topic,
                            score = %format!("{:.2}", verdict.score),
                            title = %crate::text::printable(&truncate_chars(&message.article.title, 120)),
                            link = %item.entry.link.as_ref().map_or("-", |link| link.as_str()),
                            "alert"
                        );
                    }
                }
            }
        }
        if new_alerts {
            recorded.send_modify(|batches| *batches = batches.wrapping_add(1));
        }
    }
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
        match store.record_items(attempt, now).await {
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

fn item_record(message: &Classified, now: DateTime<Utc>, sinks: &[crate::config::SinkConfig]) -> ItemRecord {
    let item = &message.article.item;
    let alerts = alerts_for(message, now);
    let mut outbox = Vec::with_capacity(alerts.len() * sinks.len());
    for alert in &alerts {
        // Serialising a struct of strings and numbers cannot fail.
        let body = to_json_line(alert).expect("alert serialises");
        // A sink's filters decide at record time: an alert it does not want never enters its
        // outbox, so nothing is pending for it.
        for sink in sinks.iter().filter(|sink| sink.accepts(&alert.topic, alert.score)) {
            outbox.push(OutboxAlert {
                alert_id: alert.id.clone(),
                sink: sink.name.clone(),
                body: body.clone(),
            });
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
