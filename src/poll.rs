//! One task per feed: wait for its turn, fetch it (conditional GET), parse it, drop what the
//! store has already seen, and send the rest downstream as [`Item`]s.
//!
//! The poller never marks an item seen (the recorder does, with its verdicts) and never stores
//! validators before the items they cover are recorded (see [`PollBatch`]). It writes only the
//! fetch outcome: status, error, failure count and the schedule (next poll time, adaptive
//! interval, the document's hint). A failing feed backs off exponentially up to `max_backoff` and
//! is retried forever; `Retry-After` is honoured. How long a healthy feed waits is
//! [`schedule`]'s rule: an interval adapted to how often the feed publishes, lengthened by
//! server hints, spread by a per-feed phase and jitter, and resumed from the store on restart.

pub mod schedule;

use crate::config::FeedConfig;
use crate::feed;
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::model::FeedCommit;
use crate::model::{Entry, Item, PollBatch, RunMode};
use crate::store::{FetchOutcome, Store};
use chrono::Utc;
use schedule::{Bounds, Observation};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use url::Url;

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct PollStats {
    pub polls: AtomicU64,
    pub not_modified: AtomicU64,
    pub failures: AtomicU64,
    pub new_items: AtomicU64,
}

/// How long without any host answering before network errors stop counting against feeds.
pub const OUTAGE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// During an apparent outage feeds are retried at least this often.
pub const OUTAGE_RETRY: Duration = Duration::from_secs(5 * 60);

/// Whether the network works at all, judged from every feed's fetches. A connection error or
/// timeout is only the feed's fault when some host answered recently; when none did (the machine
/// is offline, DNS is down), feeds are not penalised.
#[derive(Debug, Default)]
pub struct NetworkHealth {
    last_answer: std::sync::Mutex<Option<std::time::Instant>>,
}

impl NetworkHealth {
    /// Some server answered (with anything, even an error status).
    pub fn host_answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(std::time::Instant::now());
    }

    /// Whether some server answered within [`OUTAGE_WINDOW`].
    pub fn network_seems_up(&self) -> bool {
        self.last_answer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|at| at.elapsed() < OUTAGE_WINDOW)
    }
}

/// The wall clock the poller schedules by: next poll times, backoff deadlines, `Retry-After`
/// deadlines and the backfill window. Injectable so tests can move through hours and days;
/// waiting itself uses tokio's monotonic timers.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> chrono::DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now()
    }
}

/// What every poller shares.
#[derive(Clone)]
pub struct PollContext {
    pub fetcher: Fetcher,
    pub store: Store,
    pub items: mpsc::Sender<Item>,
    pub shutdown: CancellationToken,
    /// Poll on schedule until shutdown, or once, now, then return.
    pub mode: RunMode,
    pub max_backoff: Duration,
    pub max_items_per_poll: usize,
    pub stats: Arc<PollStats>,
    pub health: Arc<NetworkHealth>,
    pub clock: Arc<dyn Clock>,
    /// Turns to poll: a feed takes one from its request until its new items are handed on.
    /// While the pipeline is saturated (a cold round of thousands of feeds), a poller waits on
    /// the item channel with its parsed items in hand; without this bound every feed would
    /// fetch and wait, and memory would hold every feed's items at once.
    pub turns: Arc<tokio::sync::Semaphore>,
    /// With several instances on one store: the hosts whose feeds this one may poll. None:
    /// every feed (a single instance, as on SQLite).
    pub leases: Option<Arc<crate::store::Leases>>,
}

/// Polls one feed until shutdown (or once, with [`RunMode::Once`]). Also returns as soon as the
/// item channel is closed: nobody downstream is left to take what it would fetch.
///
/// Not an `async fn`: that would keep its arguments in the task beside the instrumented
/// future they are moved into. A sleeping poller is all of a feed's cost between polls, so its
/// task holds each piece once (~1.9 KiB per feed before, with the caller's wrapper). The
/// context is shared by every poller, not copied into each (~250 bytes).
pub fn run(feed: FeedConfig, ctx: Arc<PollContext>) -> impl Future<Output = ()> + Send + 'static {
    let span = info_span!("feed", feed = %feed.name, url = %feed.url);
    poll_feed(Arc::new(feed), ctx).instrument(span)
}

async fn poll_feed(feed: Arc<FeedConfig>, ctx: Arc<PollContext>) {
    // The first wait comes from the stored schedule (a restart keeps it); after that the
    // poller keeps its own schedule on tokio's monotonic timers, so a wall-clock jump (NTP)
    // neither stalls it nor makes it burst.
    // The poll and the schedule reads are boxed: a task stores the largest state of any of
    // its await points for its whole life, and with 10,000 feeds asleep between polls an
    // inlined poll (the HTTP exchange, the parse) cost ~5.5 KiB per feed; boxed, it exists
    // only while the feed is being polled.
    let (first, mut cadence) = Box::pin(first_wait(&feed, &ctx)).await;
    let mut wait = match first {
        Some(wait) => wait,
        None => return, // --once and the host asked us to stay away
    };
    // Whether this instance held the lease of the feed's host at its last turn: a lease
    // just taken over means another instance polled the feed until now.
    let lease_key = crate::store::leases::lease_key(&feed.url);
    let mut holding = true;
    loop {
        if !wait.is_zero() {
            debug!(wait_secs = wait.as_secs(), "next poll scheduled");
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            () = ctx.items.closed() => {
                debug!("the item channel is closed; poller stops");
                return;
            }
            () = tokio::time::sleep(wait) => {}
        }
        if let Some(leases) = &ctx.leases {
            if !leases.begin_poll(&lease_key) {
                if holding {
                    debug!("another instance holds the lease; not polling");
                }
                holding = false;
                if ctx.mode == RunMode::Once {
                    return;
                }
                if !Box::pin(lease_changed(&ctx, leases)).await {
                    return;
                }
                wait = Duration::ZERO;
                continue;
            }
            if !holding {
                // Taken over: resume the schedule the last holder stored, not ours.
                leases.end_poll(&lease_key);
                holding = true;
                info!("lease taken over; resuming the stored schedule");
                let (first, stored) = Box::pin(first_wait(&feed, &ctx)).await;
                cadence = stored;
                match first {
                    Some(first) => wait = first,
                    None => return,
                }
                continue;
            }
        }
        // The turn is taken before the poll's state is allocated: feeds waiting for a turn
        // hold nothing but the wait.
        let turn = Box::pin(take_turn(&ctx)).await;
        let next = match turn {
            Some(_turn) => Box::pin(poll_once(&feed, &ctx, &mut cadence)).await,
            // Shutting down while waiting for a turn: nothing was fetched.
            None => feed.interval,
        };
        if let Some(leases) = &ctx.leases {
            leases.end_poll(&lease_key);
        }
        if ctx.mode == RunMode::Once || ctx.shutdown.is_cancelled() || ctx.items.is_closed() {
            return;
        }
        wait = next;
    }
}

// The waits below are boxed by the poller: a task keeps room for the largest state of each
// of its await points for its whole life, so an inline wait that only some polls reach would
// cost every sleeping poller its size.

/// Waits for a turn to poll; None when shutting down first.
async fn take_turn(ctx: &PollContext) -> Option<tokio::sync::SemaphorePermit<'_>> {
    tokio::select! {
        turn = ctx.turns.acquire() => turn.ok(),
        () = ctx.shutdown.cancelled() => None,
    }
}

/// Waits until the leases change (true) or the poller must stop (false).
async fn lease_changed(ctx: &PollContext, leases: &crate::store::Leases) -> bool {
    tokio::select! {
        () = ctx.shutdown.cancelled() => false,
        () = ctx.items.closed() => false,
        () = leases.changed() => true,
    }
}

/// A poller's schedule state between polls, stored with every outcome and read back on start.
#[derive(Debug, Clone)]
struct Cadence {
    /// The adaptive interval ([`schedule::adapt`]).
    interval: Duration,
    /// The longest wait the feed's last full document asked for (`<ttl>`, `<sy:…>`): a 304
    /// carries no document, so it is remembered.
    feed_hint: Option<Duration>,
    /// The feed's stored state as it stands after a 304 this task recorded. A 304 changes
    /// nothing the next poll reads (validators, first poll; the failure count it resets is
    /// reset here too), so the next poll reuses it instead of reading the store: most polls of
    /// a large watch list answer 304, and that read was a round trip to the store's reader
    /// thread per poll. Any other outcome clears it. Stale validators could only cost a full
    /// fetch (the items are then already seen), never skip an item: they are the store's own,
    /// read before the 304.
    after_not_modified: Option<crate::store::FeedState>,
}

impl Cadence {
    fn stored(&self) -> (Option<i64>, Option<i64>) {
        let interval_ms = i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX);
        (Some(interval_ms), self.feed_hint.map(crate::time::secs_i64))
    }
}

/// How long to wait before the first poll (None when `--once` must skip the feed), and the
/// cadence the feed had reached before (its configured interval for a new feed).
async fn first_wait(feed: &FeedConfig, ctx: &PollContext) -> (Option<Duration>, Cadence) {
    let state = ctx.store.feed_schedule(&feed.name).await.unwrap_or_else(|err| {
        warn!(error = %err, "cannot read feed state; polling now");
        None
    });
    let bounds = Bounds::of(feed);
    let cadence = Cadence {
        // The configuration may have changed since it was stored: the bounds still hold.
        interval: state
            .as_ref()
            .and_then(|state| state.poll_interval_ms)
            .map_or(feed.interval, |ms| bounds.clamp(Duration::from_millis(ms.max(0) as u64))),
        feed_hint: state
            .as_ref()
            .and_then(|state| state.feed_hint_secs)
            .map(|secs| Duration::from_secs(secs.max(0) as u64)),
        after_not_modified: None,
    };
    (first_delay(feed, ctx, state.as_ref()).await, cadence)
}

async fn first_delay(
    feed: &FeedConfig,
    ctx: &PollContext,
    state: Option<&crate::store::FeedSchedule>,
) -> Option<Duration> {
    let now = ctx.clock.now().timestamp();
    let retry_after_until = state.and_then(|state| state.retry_after_until).filter(|&until| until > now);
    if ctx.mode == RunMode::Once {
        // Cron users run --once every few minutes: the schedule is theirs, but a server's
        // Retry-After is still honoured.
        if let Some(until) = retry_after_until {
            let until_text = chrono::DateTime::from_timestamp(until, 0).map_or_else(
                || until.to_string(),
                |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            info!(retry_after_until = %until_text, "skipped: the server asked us to wait");
            return None;
        }
        return Some(Duration::ZERO);
    }
    let next = state.and_then(|state| state.next_poll_at);
    // A stored time further ahead than anything we ever schedule means the wall clock went
    // back since it was stored: do not stall on it.
    let longest = ctx.max_backoff.max(feed.max_interval).max(crate::fetch::MAX_RETRY_AFTER);
    match next {
        Some(at) if at > now => {
            let wait = Duration::from_secs(at.saturating_sub(now) as u64).min(longest);
            debug!(wait_secs = wait.as_secs(), "resuming the stored schedule");
            Some(wait)
        }
        // Never polled, or overdue: soon, at this feed's stable phase of a short window, so a
        // fresh install fetches promptly and a restart does not send every request at once.
        _ => Some(schedule::first_poll_delay(&feed.name, feed.interval)),
    }
}

/// `base` ± 10 %, so feeds with the same interval drift apart.
fn with_jitter(base: Duration) -> Duration {
    let factor = 0.9 + fastrand::f64() * 0.2;
    crate::time::scaled(base, factor)
}

/// The wait after `failures` consecutive failures: interval × 2^(failures-1), capped, with
/// jitter, and never shorter than a server's Retry-After.
pub fn backoff(
    interval: Duration,
    failures: u32,
    max_backoff: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let base = interval.saturating_mul(1u32 << exponent).min(max_backoff);
    let wait = with_jitter(base).min(max_backoff);
    match retry_after {
        Some(retry_after) => wait.max(retry_after),
        None => wait,
    }
}

/// The wait after a successful poll: [`schedule::adapt`] the cadence to what the poll saw, then
/// lengthen it by the hints and jitter it. Logged at debug with everything that went into it.
fn next_wait(
    feed: &FeedConfig,
    cadence: &mut Cadence,
    observation: Option<Observation>,
    fresh_for: Option<Duration>,
) -> Duration {
    let bounds = Bounds::of(feed);
    let before = cadence.interval;
    if let Some(observation) = &observation {
        cadence.interval = schedule::adapt(cadence.interval, observation, bounds);
    }
    let (wait, rule) = schedule::with_hints(cadence.interval, &[cadence.feed_hint, fresh_for], bounds);
    let wait = schedule::jittered(wait, bounds);
    debug!(
        new_items = observation.map(|seen| seen.new_items),
        first_poll = observation.map(|seen| seen.first_poll),
        item_spacing_secs = observation.and_then(|seen| seen.spacing).map(|spacing| spacing.as_secs()),
        interval_before_secs = before.as_secs_f64(),
        interval_secs = cadence.interval.as_secs_f64(),
        feed_hint_secs = cadence.feed_hint.map(|hint| hint.as_secs()),
        http_fresh_secs = fresh_for.map(|fresh| fresh.as_secs()),
        rule,
        wait_secs = wait.as_secs_f64(),
        "schedule adapted"
    );
    wait
}

/// One fetch-parse-send round. Returns how long to wait before the next one.
async fn poll_once(feed: &Arc<FeedConfig>, ctx: &PollContext, cadence: &mut Cadence) -> Duration {
    crate::fault::point("poll");
    ctx.stats.polls.fetch_add(1, Ordering::Relaxed);
    let state = match cadence.after_not_modified.take() {
        Some(state) => state,
        None => ctx.store.feed_state(&feed.name).await.ok().flatten().unwrap_or_default(),
    };
    let validators = Validators { etag: state.etag.clone(), last_modified: state.last_modified.clone() };
    let started = std::time::Instant::now();
    let result = tokio::select! {
        result = ctx.fetcher.get_feed(&feed.url, &validators) => result,
        // A fetch abandoned on shutdown has changed nothing: the next run starts over.
        () = ctx.shutdown.cancelled() => return feed.interval,
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let now = ctx.clock.now().timestamp();
    let ok_outcome = |status: &'static str, wait: Duration| OutcomeRow {
        status,
        error: None,
        failures: 0,
        next: crate::time::unix_after(now, wait),
        retry_after_until: None,
    };
    if result.is_ok() || result.as_ref().is_err_and(|err| !err.is_network()) {
        ctx.health.host_answered();
    }
    let outcome = match result {
        Ok((Fetched::NotModified, fresh_for)) => {
            ctx.stats.not_modified.fetch_add(1, Ordering::Relaxed);
            // Debug, not info: a daemon with thousands of feeds would write a line per unchanged
            // poll (the count is in the run summary and in /metrics).
            debug!(status = 304, elapsed_ms, "not modified");
            let observation = Observation { new_items: 0, first_poll: false, spacing: None };
            let wait = next_wait(feed, cadence, Some(observation), fresh_for);
            let outcome = ok_outcome("304", wait);
            record_outcome(feed, ctx, now, &outcome, cadence).await;
            cadence.after_not_modified = Some(crate::store::FeedState {
                consecutive_failures: 0,
                retry_after_until: None,
                last_error: None,
                last_status: Some("304".into()),
                last_fetch_at: Some(now),
                next_poll_at: Some(outcome.next),
                ..state
            });
            return wait;
        }
        Ok((Fetched::Body(body), fresh_for)) => {
            let bytes_len = body.bytes.len();
            let feed_url = feed.url.clone();
            // The cap is applied inside the parser, before entries are built.
            let max_items = ctx.max_items_per_poll;
            let parsed = crate::cpu::run(move || {
                let hints = feed::schedule_hints(&body.bytes);
                feed::parse_capped(&body.bytes, &feed_url, body.charset.as_deref(), max_items)
                    .map(|parsed| (parsed, body.validators, hints))
            })
            .await;
            match parsed {
                // The parser is lenient like feedparser: a document feed-rs rejected and the
                // fallback found nothing in is still "a feed with no items". For a monitor that
                // is a broken feed, and the user should hear about it.
                Ok(Ok((parsed, _, _)))
                    if parsed.entries.is_empty()
                        && parsed.repairs.iter().any(|repair| repair.starts_with("feed-rs-rejected")) =>
                {
                    let reason = parsed.repairs.iter().find(|repair| repair.starts_with("feed-rs-rejected"));
                    failure(
                        feed,
                        ctx,
                        &state,
                        now,
                        "parse",
                        format!("no usable feed: {}", reason.map(String::as_str).unwrap_or_default()),
                        None,
                    )
                }
                Ok(Ok((parsed, validators, hints))) => {
                    info!(
                        status = 200,
                        elapsed_ms,
                        bytes = bytes_len,
                        format = %parsed.format,
                        entries = parsed.entries.len(),
                        repairs = ?parsed.repairs,
                        "fetched"
                    );
                    let first_poll = state.first_polled_at.is_none();
                    let spacing = schedule::item_spacing(
                        parsed
                            .entries
                            .iter()
                            .take(ctx.max_items_per_poll)
                            .filter_map(|entry| entry.published.or(entry.updated)),
                    );
                    let new_entries = select_new(feed, ctx, parsed.entries, validators).await;
                    cadence.feed_hint = hints.wait();
                    // A store error leaves the count unknown: the interval then stays as it was.
                    let observation = new_entries.as_ref().map(|(entries, _)| Observation {
                        new_items: entries.len(),
                        first_poll,
                        spacing,
                    });
                    let wait = next_wait(feed, cadence, observation, fresh_for);
                    // Stored before the items are sent, so `feeds list` shows the fetch even
                    // while items drain.
                    let outcome = ok_outcome("200", wait);
                    record_outcome(feed, ctx, now, &outcome, cadence).await;
                    if let Some((entries, commit)) = new_entries {
                        send_items(feed, ctx, first_poll, entries, commit).await;
                    }
                    return wait;
                }
                Ok(Err(err)) => {
                    failure(feed, ctx, &state, now, "parse", format!("feed could not be parsed: {err}"), None)
                }
                Err(crashed) => failure(feed, ctx, &state, now, "parse", format!("parser {crashed}"), None),
            }
        }
        Err(err) if err.is_network() && !ctx.health.network_seems_up() => {
            // Nothing answered anywhere lately: the machine is probably offline. That is not
            // this feed's fault, so it is retried at its normal interval without a penalty.
            ctx.stats.failures.fetch_add(1, Ordering::Relaxed);
            warn!(kind = err.kind(), error = %err.summary(), "poll failed (network seems down; not counted)");
            debug!(error = %crate::error::chain(&err), "poll failure in full");
            OutcomeRow {
                status: "error",
                error: Some(format!("{}: {} (network seemed down; not counted)", err.kind(), err.summary())),
                failures: state.consecutive_failures,
                next: crate::time::unix_after(now, with_jitter(feed.interval.min(OUTAGE_RETRY))),
                retry_after_until: None,
            }
        }
        Err(err) => {
            let retry_after = err.retry_after();
            debug!(error = %crate::error::chain(&err), "poll failure in full");
            failure(feed, ctx, &state, now, err.kind(), err.summary(), retry_after)
        }
    };
    record_outcome(feed, ctx, now, &outcome, cadence).await;
    Duration::from_secs(outcome.next.saturating_sub(now).max(0) as u64)
}

struct OutcomeRow {
    status: &'static str,
    error: Option<String>,
    failures: u32,
    next: i64,
    retry_after_until: Option<i64>,
}

fn failure(
    feed: &FeedConfig,
    ctx: &PollContext,
    state: &crate::store::FeedState,
    now: i64,
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
) -> OutcomeRow {
    ctx.stats.failures.fetch_add(1, Ordering::Relaxed);
    let failures = state.consecutive_failures.saturating_add(1);
    let wait = backoff(feed.interval, failures, ctx.max_backoff, retry_after);
    warn!(kind, error = %message, failures, retry_in = %crate::config::format_duration(Duration::from_secs(wait.as_secs().max(1))), "poll failed");
    OutcomeRow {
        status: "error",
        error: Some(format!("{kind}: {message}")),
        failures,
        next: crate::time::unix_after(now, wait),
        retry_after_until: retry_after.map(|wait| crate::time::unix_after(now, wait)),
    }
}

async fn record_outcome(feed: &FeedConfig, ctx: &PollContext, now: i64, row: &OutcomeRow, cadence: &Cadence) {
    let (poll_interval_ms, feed_hint_secs) = cadence.stored();
    let outcome = FetchOutcome {
        feed: feed.name.clone(),
        url: feed.url.to_string(),
        at: now,
        status: row.status.to_string(),
        error: row.error.clone(),
        consecutive_failures: row.failures,
        next_poll_at: row.next,
        retry_after_until: row.retry_after_until,
        poll_interval_ms,
        feed_hint_secs,
    };
    if let Err(err) = ctx.store.record_fetch(outcome).await {
        warn!(error = %crate::error::chain(&err), "cannot store the poll outcome");
    }
}

/// The entries the store has not seen (at most `max_items_per_poll`), with the commit that
/// stores the response's validators after the last of them; when there is none, the validators
/// are stored here and now. None when the store could not say (retried next poll).
async fn select_new(
    feed: &Arc<FeedConfig>,
    ctx: &PollContext,
    mut entries: Vec<Entry>,
    validators: Validators,
) -> Option<(Vec<Entry>, FeedCommit)> {
    if entries.len() > ctx.max_items_per_poll {
        warn!(
            entries = entries.len(),
            kept = ctx.max_items_per_poll,
            "feed has too many entries; keeping the first"
        );
        entries.truncate(ctx.max_items_per_poll);
    }
    let commit = FeedCommit {
        feed: feed.name.clone(),
        url: feed.url.to_string(),
        etag: validators.etag,
        last_modified: validators.last_modified,
    };
    let keys: Vec<(String, Option<String>)> =
        entries.iter().map(|entry| (entry.key.clone(), entry.link.as_ref().map(Url::to_string))).collect();
    // Retention keeps what a feed still lists (store::retention).
    let listed = keys.iter().map(|(key, _)| key.clone()).collect();
    if let Err(err) = ctx.store.mark_carried(feed.name.clone(), listed, ctx.clock.now().timestamp()).await {
        warn!(error = %crate::error::chain(&err), "cannot record the listed items");
    }
    let fingerprints: Vec<Option<String>> = entries.iter().map(feed::fingerprint).collect();
    // The same title and summary under a new guid is not a new item of this feed.
    let unseen = match ctx.store.unseen(keys).await {
        Ok(unseen) => match ctx.store.fingerprints_seen(feed.name.clone(), fingerprints).await {
            Ok(known) => Ok(unseen
                .into_iter()
                .zip(known)
                .map(|(unseen, known)| unseen && !known)
                .collect::<Vec<bool>>()),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    let unseen = match unseen {
        Ok(unseen) => unseen,
        Err(err) => {
            warn!(error = %crate::error::chain(&err), "cannot read seen items; will retry next poll");
            return None;
        }
    };
    metrics::counter!("newswatch_items_total", "result" => "seen")
        .increment(unseen.iter().filter(|new| !**new).count() as u64);
    let new_entries: Vec<Entry> =
        entries.into_iter().zip(unseen).filter_map(|(entry, unseen)| unseen.then_some(entry)).collect();
    if new_entries.is_empty() {
        let now = ctx.clock.now().timestamp();
        let result = ctx.store.commit_feed(commit.clone(), now).await;
        if let Err(err) = result {
            warn!(error = %crate::error::chain(&err), "cannot store validators");
        }
    }
    Some((new_entries, commit))
}

/// Marks baseline entries and sends the new entries downstream as one [`PollBatch`].
async fn send_items(
    feed: &Arc<FeedConfig>,
    ctx: &PollContext,
    first_poll: bool,
    new_entries: Vec<Entry>,
    commit: FeedCommit,
) {
    if new_entries.is_empty() {
        return;
    }
    let batch = Arc::new(PollBatch::new(new_entries.len(), commit));
    let backfill_start = crate::time::before(ctx.clock.now(), feed.backfill);
    let n_new = new_entries.len();
    let mut n_baseline = 0;
    let feed_name: Arc<str> = Arc::from(feed.name.as_str());
    let feed_url = Arc::new(feed.url.clone());
    for entry in new_entries {
        // On first sight of a feed only recent items may alert; undated ones cannot prove
        // they are recent, so they are baselined too.
        let baseline_only =
            first_poll && entry.published.or(entry.updated).is_none_or(|date| date < backfill_start);
        n_baseline += usize::from(baseline_only);
        let item = Item {
            feed: feed_name.clone(),
            feed_url: feed_url.clone(),
            entry,
            baseline_only,
            scrape: feed.scrape,
            batch: batch.clone(),
        };
        tokio::select! {
            // Shutting down: the unsent items stay unseen and the validators unstored, so the
            // next run fetches the same response again and nothing is lost.
            () = ctx.shutdown.cancelled() => return,
            sent = ctx.items.send(item) => if sent.is_err() { return },
        }
    }
    ctx.stats.new_items.fetch_add(n_new as u64, Ordering::Relaxed);
    info!(new = n_new, baseline = n_baseline, first_poll, "queued new items");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let interval = Duration::from_secs(60);
        let cap = Duration::from_secs(3600);
        let first = backoff(interval, 1, cap, None);
        assert!((54..=66).contains(&first.as_secs()), "{first:?}");
        let fourth = backoff(interval, 4, cap, None);
        assert!((432..=528).contains(&fourth.as_secs()), "{fourth:?}");
        assert!(backoff(interval, 50, cap, None) <= cap);
        assert_eq!(backoff(interval, 1, cap, Some(Duration::from_secs(7200))), Duration::from_secs(7200));
    }
}
