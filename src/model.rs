//! Plain data that crosses stages. Nothing here does I/O.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use url::Url;

/// How long a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Poll every feed on its schedule until shutdown.
    Daemon,
    /// Poll every feed once (a server's Retry-After still honoured), process every new item,
    /// deliver the alerts, and return: `run --once`, cron, tests.
    Once,
}

/// One entry of a feed, normalised by `feed::parse`. It does not know which configured
/// feed it came from; the poller wraps it into an [`Item`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Our own stable key: guid / Atom id, else the canonical link, else a hash of feed URL,
    /// title and date. Never feed-rs's generated id.
    pub key: String,
    /// The canonical link: resolved against the feed URL, fragment and tracking parameters removed.
    /// Only http(s) links survive.
    pub link: Option<Url>,
    /// Plain text, tags stripped, entities decoded, whitespace collapsed.
    pub title: String,
    /// Plain text summary (or content when there is no summary).
    pub summary: String,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
}

/// An entry together with the configured feed it came from.
#[derive(Debug, Clone)]
pub struct Item {
    /// The configured feed's unique name.
    pub feed: Arc<str>,
    /// The configured feed's URL (for logs).
    pub feed_url: Arc<Url>,
    pub entry: Entry,
    /// True when the feed is seen for the first time and the item is older than its backfill
    /// window: it is recorded as seen without being classified or alerted.
    pub baseline_only: bool,
    /// Whether the article page should be fetched.
    pub scrape: bool,
    /// The poll response this item came from; its validators are stored with its last item.
    pub batch: Arc<PollBatch>,
}

/// The items of one feed response still on their way through the pipeline. When the last one is
/// recorded, the response's validators are stored in the same transaction, so a crash can never
/// keep a new ETag while losing the items it covered.
#[derive(Debug)]
pub struct PollBatch {
    remaining: std::sync::atomic::AtomicUsize,
    commit: FeedCommit,
}

impl PollBatch {
    /// A batch of `items` items that stores `commit` when they are all recorded.
    pub fn new(items: usize, commit: FeedCommit) -> PollBatch {
        PollBatch { remaining: items.into(), commit }
    }

    /// Counts one item as recorded; returns the validators to store when it was the last one.
    pub fn finish_one(&self) -> Option<FeedCommit> {
        let before = self.remaining.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        (before == 1).then(|| self.commit.clone())
    }
}

/// Validators to store once every item of their response is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedCommit {
    pub feed: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Where the text a verdict was made on came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextSource {
    /// The article page, extracted.
    Page,
    /// The feed's own title and summary; the reason the page was not used.
    FeedSummary { reason: String },
}

impl TextSource {
    /// "page" or "feed", as written in alerts.
    pub fn label(&self) -> &'static str {
        match self {
            TextSource::Page => "page",
            TextSource::FeedSummary { .. } => "feed",
        }
    }
}

/// An item with the text it is classified on.
#[derive(Debug, Clone)]
pub struct Article {
    pub item: Item,
    /// The title to classify and show (the feed's title, else the page's).
    pub title: String,
    /// The body text to classify.
    pub body: String,
    pub source: TextSource,
}

/// An article with its verdicts and its story fingerprint, on its way to the recorder.
#[derive(Debug, Clone)]
pub struct Classified {
    pub article: Article,
    pub verdicts: Vec<crate::classify::Verdict>,
    /// What the recorder's clusterer compares (built on the CPU pool for every item, baseline
    /// ones included); None leaves the item out of stories.
    pub fingerprint: Option<crate::story::Fingerprint>,
}
