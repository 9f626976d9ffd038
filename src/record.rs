//! The recorder: the one writer of item state. For a batch of classified items it marks each
//! seen, stores its verdicts and queues its alerts in the outbox (one row per sink) in ONE
//! transaction, then wakes the sinks' delivery tasks. It never delivers itself, so a slow sink
//! cannot stall recording. A kill -9 at any moment neither loses nor repeats an alert.
//!
//! Each batch is clustered and recorded under the store's story lock (`Store::lock_stories`):
//! nothing on SQLite; on PostgreSQL it orders the instances' story filing, and the book first
//! files what the other instances recorded, so one event is one story across instances.

use crate::alert::{
    ALERT_SCHEMA, Alert, MAX_REASON_CHARS, MAX_SNIPPET_CHARS, MAX_TITLE_CHARS, alert_id, to_json_line,
};
use crate::config::StoriesConfig;
use crate::error::chain as error_chain;
use crate::model::{Classified, RunMode, TextSource};
use crate::store::{ItemRecord, OutboxAlert, Recorded, Store};
use crate::text::truncate_chars;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashSet;
use std::time::Duration;
use stories::StoryBook;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

pub mod stories;

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
            // Set by the story book.
            kind: None,
            story: None,
            story_items: None,
            story_outlets: None,
            newcomers: Vec::new(),
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

/// The recorder: records classified items in batches until the channel closes, filing each new
/// item in its story (see [`stories`]) in the same transaction, and queues story updates as
/// they fall due (checked every second). After each batch with alerts it bumps
/// `recorded`, which wakes the sinks' delivery tasks; dropping it when the channel closes
/// tells them to make their last delivery.
pub async fn run(
    mut classified: mpsc::Receiver<Classified>,
    store: Store,
    sinks: Vec<crate::config::SinkConfig>,
    recorded: watch::Sender<u64>,
    stats: std::sync::Arc<RecordStats>,
    mode: RunMode,
    stories: StoriesConfig,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut book = None;
    match lock_and_sync(&store, &mut book, &stories).await {
        Ok(lock) => release_stories(lock, &mut book, true).await,
        // Tried again before the first batch.
        Err(err) => error!(error = %error_chain(&err), "cannot take the story lock"),
    }
    let mut update_check = tokio::time::interval(UPDATE_CHECK);
    update_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = std::time::Instant::now();
    loop {
        let first = tokio::select! {
            message = classified.recv() => match message {
                Some(message) => message,
                None => break,
            },
            _ = update_check.tick() => {
                if last_prune.elapsed() >= PRUNE_EVERY {
                    last_prune = std::time::Instant::now();
                    prune_stories(&store, &stories).await;
                }
                let sent = queue_due_updates(&store, &mut book, &stories, &sinks, &stats).await;
                if sent {
                    recorded.send_modify(|batches| *batches = batches.wrapping_add(1));
                }
                continue;
            }
        };
        crate::fault::point("record");
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match classified.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let batch = std::sync::Arc::new(batch);
        // A daemon holds the batch until the database can take it again (the pipeline slows
        // down behind it); `--once` gives up after a while so cron runs end. Either way nothing
        // was marked seen, so the items come back on the next poll.
        let attempts = if mode == RunMode::Once { ONCE_RECORD_ATTEMPTS } else { usize::MAX };
        let Some((outcomes, item_alerts, now)) =
            record_batch(&store, &mut book, &stories, batch.clone(), &sinks, attempts).await
        else {
            stats.dropped.fetch_add(batch.len() as u64, Relaxed);
            continue;
        };
        let mut new_alerts = false;
        for ((message, outcome), alerts) in batch.iter().zip(outcomes).zip(item_alerts) {
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
                    for alert in alerts {
                        stats.alerts.fetch_add(1, Relaxed);
                        metrics::counter!("newswatch_alerts_total", "topic" => alert.topic.clone())
                            .increment(1);
                        if let Some(published) = item.entry.published.or(item.entry.updated) {
                            let seconds = (now - published).num_milliseconds().max(0) as f64 / 1000.0;
                            metrics::histogram!("newswatch_publish_to_alert_seconds").record(seconds);
                        }
                        new_alerts = true;
                        info!(
                            feed = %item.feed,
                            url = %item.feed_url,
                            topic = %alert.topic,
                            score = %format!("{:.2}", alert.score),
                            kind = alert.kind.as_deref().unwrap_or("-"),
                            story = alert.story.as_deref().unwrap_or("-"),
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
    // Updates already due go out with this run's last delivery.
    if queue_due_updates(&store, &mut book, &stories, &sinks, &stats).await {
        recorded.send_modify(|batches| *batches = batches.wrapping_add(1));
    }
}

/// How often the recorder looks for story updates that have fallen due.
const UPDATE_CHECK: Duration = Duration::from_secs(1);
/// How often the recorder forgets story text and stories out of the window.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

async fn prune_stories(store: &Store, config: &StoriesConfig) {
    let now = Utc::now().timestamp();
    let window = crate::time::secs_i64(config.window);
    let drop_before = now.saturating_sub(window.max(stories::STORY_RETENTION_SECS));
    if let Err(err) = store.prune_stories(now.saturating_sub(window), drop_before).await {
        warn!(error = %error_chain(&err), "cannot prune old stories");
    }
}

/// Reads the story window back from the store and rebuilds the book (on the CPU pool). None
/// when the store cannot be read; the recorder tries again before its next batch.
async fn restore_book(store: &Store, config: &StoriesConfig) -> Option<StoryBook> {
    prune_stories(store, config).await;
    let since = Utc::now().timestamp().saturating_sub(crate::time::secs_i64(config.window));
    let window = match store.story_window(since, stories::MAX_RESTORED_ITEMS).await {
        Ok(window) => window,
        Err(err) => {
            error!(error = %error_chain(&err), "cannot read the story window; items are recorded without stories");
            return None;
        }
    };
    let (items, left_out) = (window.items.len(), window.items_left_out);
    if left_out > 0 {
        warn!(
            restored = items,
            left_out, "story window larger than the restore cap; its oldest items cannot be joined"
        );
    }
    let config = config.clone();
    match crate::cpu::run(move || StoryBook::restore(config, window)).await {
        Ok(book) => {
            let (n_stories, n_items) = book.sizes();
            info!(stories = n_stories, items = n_items, "story window restored");
            Some(book)
        }
        Err(err) => {
            error!(error = %error_chain(&err), "cannot rebuild the story window");
            None
        }
    }
}

/// Files the new items of a batch in their stories (on the CPU pool) and decides their alerts.
/// An item that the store would not record (its key, link or content fingerprint already seen,
/// or an earlier item of this batch had them) gets no plan, nor does any item when there is no
/// book.
async fn plan_batch(
    store: &Store,
    book: &mut Option<StoryBook>,
    batch: std::sync::Arc<Vec<Classified>>,
    now: DateTime<Utc>,
) -> Vec<Option<stories::Plan>> {
    let none = || batch.iter().map(|_| None).collect();
    let Some(mut owned) = book.take() else { return none() };
    let query = batch
        .iter()
        .map(|message| {
            let item = &message.article.item;
            let link = item.entry.link.as_ref().map(|link| link.to_string());
            (item.entry.key.clone(), link, item.feed.to_string(), crate::feed::fingerprint(&item.entry))
        })
        .collect::<Vec<_>>();
    let fresh = match store.would_record(query.clone()).await {
        Ok(fresh) => fresh,
        Err(err) => {
            error!(error = %error_chain(&err), "cannot check a batch before filing its stories");
            *book = Some(owned);
            return none();
        }
    };
    // The same rules as the store's insert, applied within the batch.
    let (mut keys, mut links, mut fingerprints) = (HashSet::new(), HashSet::new(), HashSet::new());
    let is_new: Vec<bool> = query
        .into_iter()
        .zip(fresh)
        .map(|((key, link, feed, fingerprint), fresh)| {
            let fingerprint = fingerprint.map(|fingerprint| (feed, fingerprint));
            let new = fresh
                && !fingerprint.as_ref().is_some_and(|fingerprint| fingerprints.contains(fingerprint))
                && !keys.contains(&key)
                && !link.as_ref().is_some_and(|link| links.contains(link));
            if new {
                keys.insert(key);
                links.extend(link);
                fingerprints.extend(fingerprint);
            }
            new
        })
        .collect();
    if let Err(err) = offer_stored_candidates(store, &mut owned, &batch, &is_new, now.timestamp()).await {
        // The items are still clustered against the window held in memory.
        warn!(error = %error_chain(&err), "cannot look up older items of the story window");
    }
    let job_batch = batch.clone();
    let planned = crate::cpu::run(move || {
        let plans: Vec<Option<stories::Plan>> = job_batch
            .iter()
            .zip(is_new)
            .map(|(message, new)| {
                new.then(|| owned.plan(message, alerts_for(message, now), now.timestamp())).flatten()
            })
            .collect();
        (owned, plans)
    })
    .await;
    match planned {
        Ok((mut owned, plans)) => {
            owned.clear_stored();
            *book = Some(owned);
            plans
        }
        Err(err) => {
            error!(error = %error_chain(&err), "story clustering failed; the batch is recorded without stories");
            none()
        }
    }
}

/// Reads from the store the older items of the story window (those the book does not hold)
/// that share a lookup key with the batch's new items, and offers them to the book as
/// candidates: two indexed reads per batch, and none while the book holds the whole window.
pub async fn offer_stored_candidates(
    store: &Store,
    book: &mut StoryBook,
    batch: &[Classified],
    is_new: &[bool],
    now: i64,
) -> Result<(), crate::store::StoreError> {
    let new_items = batch.iter().zip(is_new).filter(|(_, new)| **new).map(|(message, _)| message);
    let Some((keys, below)) = book.lookup_keys(new_items) else { return Ok(()) };
    if keys.is_empty() {
        return Ok(());
    }
    let below = i64::try_from(below).unwrap_or(i64::MAX);
    let found = store.story_candidates(keys, below, crate::story::CANDIDATES_PER_KEY).await?;
    let missing = book.offer_stored(found);
    if !missing.is_empty() {
        let since = now.saturating_sub(book.window_secs());
        book.hydrate(store.story_prints(missing, since).await?);
    }
    Ok(())
}

/// Takes the story lock (nothing on SQLite) and brings the book up to date under it: rebuilds
/// it from the store when there is none (or it fell too far behind), else files what the other
/// instances recorded since it last looked (`StoryBook::apply_sync`). Slots handed out while
/// the lock is held follow every instance's.
async fn lock_and_sync(
    store: &Store,
    book: &mut Option<StoryBook>,
    config: &StoriesConfig,
) -> Result<crate::store::StoryLock, crate::store::StoreError> {
    let known = book.as_ref().and_then(StoryBook::marks);
    let since = Utc::now().timestamp().saturating_sub(crate::time::secs_i64(config.window));
    let (lock, sync) = store.lock_stories(known, since, stories::MAX_RESTORED_ITEMS).await?;
    match sync {
        // SQLite: this recorder is the only writer; the book only needs to exist.
        None => {
            if book.is_none() {
                *book = restore_book(store, config).await;
            }
        }
        Some(sync) => {
            let marks = sync.marks;
            let caught_up = match (book.as_mut(), known) {
                (Some(owned), Some(_)) => owned.apply_sync(sync),
                _ => false,
            };
            if !caught_up {
                *book = restore_book(store, config).await;
                if let Some(owned) = book.as_mut() {
                    owned.set_marks(marks);
                }
            }
        }
    }
    Ok(lock)
}

/// Releases the story lock. After a commit (or when nothing was written) the book keeps the
/// marks it has reached; after a failure the caller drops the book.
async fn release_stories(lock: crate::store::StoryLock, book: &mut Option<StoryBook>, committed: bool) {
    match lock.release().await {
        Ok(Some(marks)) if committed => {
            if let Some(owned) = book.as_mut() {
                owned.set_marks(marks);
            }
        }
        Ok(_) => {}
        Err(err) => {
            // The connection was closed, which released the lock; without the marks the book
            // cannot tell its own changes from the others': rebuild it.
            warn!(error = %error_chain(&err), "cannot release the story lock cleanly; rebuilding the story window");
            *book = None;
        }
    }
}

/// Records a batch with its stories, retrying while the database cannot commit (disk full,
/// locked, unreachable), at most `attempts` times. Each attempt takes the story lock, files the
/// batch's new items in their stories against the book brought up to date under it, records
/// the batch in ONE transaction and releases the lock; a failed attempt drops the book (it
/// filed items that were not recorded), so the next one files them again from the store's
/// state. Returns the outcomes, each item's alerts and the time used; None when it gave up.
async fn record_batch(
    store: &Store,
    book: &mut Option<StoryBook>,
    config: &StoriesConfig,
    batch: std::sync::Arc<Vec<Classified>>,
    sinks: &[crate::config::SinkConfig],
    attempts: usize,
) -> Option<(Vec<Recorded>, Vec<Vec<Alert>>, DateTime<Utc>)> {
    let mut delay = Duration::from_millis(200);
    let mut attempt_number = 0;
    loop {
        attempt_number += 1;
        let now = Utc::now();
        let attempt = match lock_and_sync(store, book, config).await {
            Ok(lock) => {
                let plans = plan_batch(store, book, batch.clone(), now).await;
                let mut item_alerts = Vec::with_capacity(batch.len());
                let records: Vec<ItemRecord> = batch
                    .iter()
                    .zip(plans)
                    .map(|(message, plan)| {
                        let (record, alerts) = item_record(message, now, sinks, plan);
                        item_alerts.push(alerts);
                        record
                    })
                    .collect();
                let recorded = store.record_items(records, now.timestamp()).await;
                release_stories(lock, book, recorded.is_ok()).await;
                recorded.map(|outcomes| (outcomes, item_alerts, now))
            }
            Err(err) => Err(err),
        };
        match attempt {
            Ok(done) => return Some(done),
            Err(err) => {
                // The book filed items that were not recorded: read it back from the store.
                *book = None;
                if attempt_number >= attempts {
                    error!(error = %error_chain(&err), items = batch.len(), "cannot record items; leaving them to the next run");
                    return None;
                }
                error!(error = %error_chain(&err), retry_in_ms = delay.as_millis() as u64, "cannot record items; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Queues the story updates that are due, in one transaction, under the story lock: with
/// several instances, the one holding it queues an update and the others then read it back
/// (its newcomers cleared, its `last_alert_at` advanced), so each update goes out once per
/// period. On a shared store every check syncs, so newcomers another instance recorded (and
/// may not send, if it stopped) are known here too. True when it queued any.
async fn queue_due_updates(
    store: &Store,
    book: &mut Option<StoryBook>,
    config: &StoriesConfig,
    sinks: &[crate::config::SinkConfig],
    stats: &RecordStats,
) -> bool {
    let now = Utc::now().timestamp();
    if !store.is_shared() && book.as_ref().is_some_and(|owned| !owned.has_due(now)) {
        return false;
    }
    let lock = match lock_and_sync(store, book, config).await {
        Ok(lock) => lock,
        Err(err) => {
            warn!(error = %error_chain(&err), "cannot take the story lock; story updates wait");
            return false;
        }
    };
    let Some(owned) = book.as_mut().filter(|owned| owned.has_due(now)) else {
        release_stories(lock, book, true).await;
        return false;
    };
    let (alerts, ops) = owned.due_updates(now);
    let outbox = outbox_rows(&alerts, sinks);
    let queued = store.record_story_updates(outbox, ops, now).await;
    release_stories(lock, book, queued.is_ok()).await;
    match queued {
        Ok(()) => {
            // Committed, not yet delivered: where a crash must neither lose nor repeat it.
            crate::fault::point("story-update");
            for alert in &alerts {
                stats.alerts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                info!(
                    topic = %alert.topic,
                    story = alert.story.as_deref().unwrap_or("-"),
                    newcomers = alert.newcomers.len(),
                    story_items = alert.story_items.unwrap_or(0),
                    "story update"
                );
            }
            !alerts.is_empty()
        }
        Err(err) => {
            // The newcomers are still pending in the store: rebuild the book from it and try
            // again on the next check.
            error!(error = %error_chain(&err), "cannot queue story updates; retrying");
            *book = None;
            false
        }
    }
}

/// The outbox rows of alerts: one per alert and sink that wants it.
fn outbox_rows(alerts: &[Alert], sinks: &[crate::config::SinkConfig]) -> Vec<OutboxAlert> {
    let mut outbox = Vec::with_capacity(alerts.len() * sinks.len());
    for alert in alerts {
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
    outbox
}

/// How often `--once` tries to record a batch before leaving it to the next run (~13 s).
const ONCE_RECORD_ATTEMPTS: usize = 6;

fn item_record(
    message: &Classified,
    now: DateTime<Utc>,
    sinks: &[crate::config::SinkConfig],
    plan: Option<stories::Plan>,
) -> (ItemRecord, Vec<Alert>) {
    let item = &message.article.item;
    let (alerts, story_ops) = match plan {
        Some(plan) => (plan.alerts, plan.ops),
        None => (alerts_for(message, now), Vec::new()),
    };
    let outbox = outbox_rows(&alerts, sinks);
    let verdicts = serde_json::to_string(
        &message
            .verdicts
            .iter()
            .map(|verdict| serde_json::json!({"topic": verdict.topic, "score": verdict.score, "matched": verdict.matched}))
            .collect::<Vec<_>>(),
    )
    .ok();
    let record = ItemRecord {
        key: item.entry.key.clone(),
        link: item.entry.link.as_ref().map(|link| link.to_string()),
        feed: item.feed.to_string(),
        verdicts,
        alerts: outbox,
        commit: item.batch.finish_one(),
        fingerprint: crate::feed::fingerprint(&item.entry),
        story_ops,
    };
    (record, alerts)
}

#[cfg(test)]
mod tests_shared;
#[cfg(test)]
mod tests_window;
