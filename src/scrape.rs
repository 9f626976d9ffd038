//! Per new item: fetch the linked page through the guarded client, extract its article text off
//! the async runtime, and pass on an [`Article`]. When the page cannot be used, the item goes on
//! with the feed's own title and summary and the reason is recorded.
//!
//! Fairness: items wait in one queue per host in front of the global limit
//! (`max_concurrent_fetches`). The next page comes from the host with the fewest pages in flight
//! (round robin among equals), and no host gets more than the fetcher's per-host limit of the
//! stage's slots, so thirty links to one slow host delay nobody else. A link carried by many
//! items (one story in many feeds) is fetched once: items whose link is in flight wait for that
//! fetch, and a page fetched in the last [`RECENT_PAGE_TTL`] is reused, within
//! [`RECENT_PAGES`] pages.

use crate::extract;
use crate::fetch::{Fetched, Fetcher, Target, Validators};
use crate::model::{Article, Item, TextSource};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info};
use url::Url;

/// At most this many items wait in the per-host queues (plus those waiting for a link already
/// in flight). The stage reads ahead of a slow host up to here; beyond it the item channel (and
/// so the pollers) wait, as before. Each item is at most a title and a summary (capped by the
/// feed parser), so this bounds the stage's memory.
pub const MAX_QUEUED_ITEMS: usize = 256;
/// Pages kept for reuse by later items with the same link.
pub const RECENT_PAGES: usize = 128;
/// How long a fetched page is reused for other items with the same link.
pub const RECENT_PAGE_TTL: Duration = Duration::from_secs(600);

/// What one page fetch gave, shared by every item that carries its link.
#[derive(Debug)]
enum Page {
    Text {
        title: Option<String>,
        text: String,
        method: String,
    },
    /// Why the page could not be used.
    Unusable(Unused),
}

/// Why an item goes on without its page: a fixed kind (the `reason` label of
/// `newswatch_extraction_fallbacks_total`) and the reason in words (the alert's `fallback_reason`).
type Unused = (&'static str, String);

/// Runs until the item channel closes, scraping up to `concurrency` pages at once, the next page
/// always from the least busy host. CPU work (extraction) is queued on the CPU pool, which runs
/// it whether or not the fetch's future is being polled, so a send waiting on a busy classifier
/// holds no CPU capacity the classifier needs.
pub async fn run(
    mut items: mpsc::Receiver<Item>,
    fetcher: Fetcher,
    concurrency: usize,
    articles: mpsc::Sender<Article>,
) {
    let concurrency = concurrency.max(1);
    let mut queue = Scheduler::new(fetcher.per_host_limit());
    let mut fetches = FuturesUnordered::new();
    let mut open = true;
    loop {
        // Start every fetch a slot and the per-host limit allow; hand on what needs none.
        while fetches.len() < concurrency {
            match queue.next(Instant::now()) {
                Some(Next::Fetch { item, host, link }) => {
                    let fetcher = fetcher.clone();
                    fetches.push(async move {
                        let page = fetch_page(&item, &link, &fetcher).await;
                        (item, host, link, page)
                    });
                }
                Some(Next::Ready(article)) => {
                    if articles.send(article).await.is_err() {
                        return;
                    }
                }
                None => break,
            }
        }
        tokio::select! {
            received = items.recv(), if open && queue.held() < MAX_QUEUED_ITEMS => match received {
                Some(item) => {
                    if let Some(article) = queue.push(item)
                        && articles.send(article).await.is_err()
                    {
                        return;
                    }
                }
                None => open = false,
            },
            Some((item, host, link, page)) = fetches.next(), if !fetches.is_empty() => {
                for article in queue.finish(item, &host, &link, Arc::new(page), Instant::now()) {
                    if articles.send(article).await.is_err() {
                        return;
                    }
                }
            }
            // Input closed (or the queue full, which cannot last with nothing in flight) and
            // nothing in flight: every queued item was started above, so all is done.
            else => return,
        }
    }
}

/// What to do next.
enum Next {
    /// Fetch this item's page (`link`, credentials removed) from `host`.
    Fetch { item: Item, host: String, link: String },
    /// An article ready without a fetch (a page fetched recently for the same link).
    Ready(Article),
}

/// The per-host queues, the pages in flight and the recently fetched ones. Sync and pure:
/// the stage's loop does the I/O.
struct Scheduler {
    per_host: usize,
    /// Items waiting for a slot, by host; a host is here only while it has queued items.
    queues: HashMap<String, VecDeque<Item>>,
    /// Hosts with queued items in round-robin order.
    order: VecDeque<String>,
    /// Fetches in flight per host (hosts with none are removed).
    in_flight: HashMap<String, usize>,
    /// Links being fetched, with the items waiting for that fetch's page.
    waiting: HashMap<String, Vec<Item>>,
    /// Queued plus waiting items.
    held: usize,
    recent: HashMap<String, (Instant, Arc<Page>)>,
    recent_order: VecDeque<String>,
}

impl Scheduler {
    fn new(per_host: usize) -> Scheduler {
        Scheduler {
            per_host: per_host.max(1),
            queues: HashMap::new(),
            order: VecDeque::new(),
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            held: 0,
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
        }
    }

    fn held(&self) -> usize {
        self.held
    }

    /// Queues an item under its link's host; an item that needs no page is answered at once.
    fn push(&mut self, item: Item) -> Option<Article> {
        let host = match page_link(&item) {
            Err(reason) => return Some(fallback(item, reason)),
            Ok(link) => link.host_str().unwrap_or_default().to_ascii_lowercase(),
        };
        if !self.queues.contains_key(&host) {
            self.order.push_back(host.clone());
        }
        self.queues.entry(host).or_default().push_back(item);
        self.held += 1;
        None
    }

    /// The next item to start: from the least busy host below the per-host limit, the first
    /// such host in round-robin order. An item whose link is in flight joins that fetch; one
    /// whose page was fetched recently is answered from it.
    fn next(&mut self, now: Instant) -> Option<Next> {
        loop {
            let busy = |host: &String| self.in_flight.get(host).copied().unwrap_or(0);
            let (position, _) = self
                .order
                .iter()
                .enumerate()
                .filter(|(_, host)| busy(host) < self.per_host)
                .min_by_key(|(index, host)| (busy(host), *index))?;
            let host = self.order.remove(position)?;
            let queue = self.queues.get_mut(&host)?;
            let item = queue.pop_front()?;
            if queue.is_empty() {
                self.queues.remove(&host);
            } else {
                self.order.push_back(host.clone());
            }
            self.held -= 1;
            let link = match page_link(&item) {
                Ok(link) => link.to_string(),
                Err(reason) => return Some(Next::Ready(fallback(item, reason))),
            };
            if let Some(waiters) = self.waiting.get_mut(&link) {
                waiters.push(item);
                self.held += 1;
                continue;
            }
            if let Some(page) = self.recent_page(&link, now) {
                debug!(feed = %item.feed, link = %link, "page fetched lately for another item; reused");
                return Some(Next::Ready(article_from(item, &page)));
            }
            self.waiting.insert(link.clone(), Vec::new());
            *self.in_flight.entry(host.clone()).or_default() += 1;
            return Some(Next::Fetch { item, host, link });
        }
    }

    /// A fetch ended: the articles of its item and of every item that waited for the same link.
    fn finish(&mut self, item: Item, host: &str, link: &str, page: Arc<Page>, now: Instant) -> Vec<Article> {
        if let Some(count) = self.in_flight.get_mut(host) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(host);
            }
        }
        let waiters = self.waiting.remove(link).unwrap_or_default();
        self.held -= waiters.len();
        let mut out = Vec::with_capacity(waiters.len() + 1);
        out.push(article_from(item, &page));
        out.extend(waiters.into_iter().map(|waiter| article_from(waiter, &page)));
        self.remember(link, page, now);
        out
    }

    fn recent_page(&mut self, link: &str, now: Instant) -> Option<Arc<Page>> {
        match self.recent.get(link) {
            Some((at, page)) if now.duration_since(*at) < RECENT_PAGE_TTL => Some(page.clone()),
            Some(_) => {
                self.recent.remove(link);
                None
            }
            None => None,
        }
    }

    fn remember(&mut self, link: &str, page: Arc<Page>, now: Instant) {
        if self.recent.insert(link.to_string(), (now, page)).is_none() {
            self.recent_order.push_back(link.to_string());
        }
        // The oldest entries go first; an entry refreshed later keeps its first place, which
        // only makes it leave a little early.
        while self.recent.len() > RECENT_PAGES
            && let Some(oldest) = self.recent_order.pop_front()
        {
            self.recent.remove(&oldest);
        }
        if self.recent_order.len() > 2 * RECENT_PAGES {
            let recent = &self.recent;
            self.recent_order.retain(|link| recent.contains_key(link));
        }
    }
}

/// The page to fetch for an item, or why there is none.
fn page_link(item: &Item) -> Result<Url, Unused> {
    if item.baseline_only {
        return Err(("baseline", "baseline: older than the backfill window on first sight".into()));
    }
    if !item.scrape {
        return Err(("scrape_disabled", "scrape disabled for this feed".into()));
    }
    let Some(mut link) = item.entry.link.clone() else {
        return Err(("no_link", "item has no link".into()));
    };
    // Credentials in a feed's link are never sent anywhere.
    let _ = link.set_username("");
    let _ = link.set_password(None);
    Ok(link)
}

/// The item with the feed's own title and summary, and why the page was not used.
fn fallback(item: Item, (kind, reason): Unused) -> Article {
    metrics::counter!("newswatch_extraction_fallbacks_total", "reason" => kind).increment(1);
    let body = item.entry.summary.clone();
    let title = item.entry.title.clone();
    Article { item, title, body, source: TextSource::FeedSummary { reason } }
}

/// Turns one item into an article on its own (no queue, no sharing): the page's text when it
/// can be had, else the feed's.
pub async fn scrape(item: Item, fetcher: &Fetcher) -> Article {
    match page_link(&item) {
        Err(reason) => fallback(item, reason),
        Ok(link) => {
            let page = fetch_page(&item, link.as_str(), fetcher).await;
            article_from(item, &page)
        }
    }
}

/// Fetches and extracts one page (`item` names the feed in logs).
async fn fetch_page(item: &Item, link: &str, fetcher: &Fetcher) -> Page {
    let Ok(url) = Url::parse(link) else {
        return Page::Unusable(("bad_link", format!("not a URL: {link}")));
    };
    let body = match fetcher.get(Target::Page, &url, &Validators::default()).await {
        Ok(Fetched::Body(body)) => body,
        Ok(Fetched::NotModified) => {
            return Page::Unusable(("not_modified", "page answered 304 to an unconditional GET".into()));
        }
        Err(err) => {
            let reason = crate::error::chain(&err);
            info!(feed = %item.feed, url = %item.feed_url, link = %url, kind = err.kind(), error = %reason, "page not used; classifying the feed summary");
            return Page::Unusable((err.kind(), reason));
        }
    };
    let final_url = body.final_url.clone();
    let extracted =
        crate::cpu::run(move || extract::article(&body.bytes, Some(&final_url), body.charset.as_deref()))
            .await;
    match extracted {
        Ok(Ok(page)) => {
            debug!(feed = %item.feed, link = %url, chars = page.text.len(), method = %page.method, "page extracted");
            Page::Text { title: page.title, text: page.text, method: page.method.to_string() }
        }
        Ok(Err(err)) => {
            info!(feed = %item.feed, url = %item.feed_url, link = %url, error = %err, "page not used; classifying the feed summary");
            Page::Unusable(("extraction", format!("extraction: {err}")))
        }
        Err(join_err) => Page::Unusable(("extraction", format!("extraction crashed: {join_err}"))),
    }
}

/// An item's article from its page: the page's text unless it is unusable or shorter than the
/// feed's own summary.
fn article_from(item: Item, page: &Page) -> Article {
    let (page_title, text, method) = match page {
        Page::Unusable(reason) => return fallback(item, reason.clone()),
        Page::Text { title, text, method } => (title.as_deref(), text, method),
    };
    // A page that yields less text than the feed's own summary was not read right (a paywall
    // stub, a consent wall): the summary is the better evidence.
    if text.chars().count() < item.entry.summary.chars().count() {
        let reason =
            format!("page text ({} chars, by {method}) shorter than the feed summary", text.chars().count());
        return fallback(item, ("short_text", reason));
    }
    let title = choose_title(&item.entry.title, page_title, text);
    Article { item, title, body: text.clone(), source: TextSource::Page }
}

/// Separators between a headline and the site's name in a page's `<title>`.
const TITLE_SEPARATORS: [&str; 5] = [" | ", " – ", " — ", " - ", " :: "];

/// The headline of an item: the feed's title; else, for feeds that give none, the article's
/// first line when the page title contains it (that line is the on-page headline), else the page
/// title without a trailing site name, else the article's first line.
pub fn choose_title(feed_title: &str, page_title: Option<&str>, text: &str) -> String {
    if !feed_title.trim().is_empty() {
        return feed_title.to_string();
    }
    let first_line = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let first_line = crate::text::truncate_chars(first_line, 300);
    let page_title = page_title.unwrap_or_default().trim();
    if !first_line.is_empty() && page_title.to_lowercase().contains(&first_line.to_lowercase()) {
        return first_line;
    }
    // "Headline | Site": keep the headline; "| Site" (no headline at all) is no title.
    let headline = TITLE_SEPARATORS
        .iter()
        .filter_map(|separator| page_title.find(separator.trim()).map(|at| &page_title[..at]))
        .min_by_key(|head| head.len())
        .unwrap_or(page_title)
        .trim();
    if headline.chars().count() >= 12 {
        return headline.to_string();
    }
    if !first_line.is_empty() {
        return first_line;
    }
    page_title.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entry, PollBatch};

    fn item(feed: &str, link: &str) -> Item {
        Item {
            feed: Arc::from(feed),
            feed_url: Arc::new(Url::parse("http://feeds.example/rss").expect("static URL")),
            entry: Entry {
                key: format!("{feed}:{link}"),
                link: Some(Url::parse(link).expect("test URL")),
                title: "t".into(),
                summary: String::new(),
                published: None,
                updated: None,
                authors: Vec::new(),
            },
            baseline_only: false,
            scrape: true,
            batch: Arc::new(PollBatch::new(1, crate::store::FeedCommit::default())),
        }
    }

    fn fetch_host(next: Option<Next>) -> Option<String> {
        match next {
            Some(Next::Fetch { host, .. }) => Some(host),
            Some(Next::Ready(_)) => Some("ready".into()),
            None => None,
        }
    }

    #[test]
    fn a_slow_host_with_many_links_does_not_delay_another_host() {
        let mut queue = Scheduler::new(2);
        for n in 0..30 {
            assert!(queue.push(item("slow", &format!("http://slow.example/{n}"))).is_none());
        }
        queue.push(item("fast", "http://fast.example/story"));
        let now = Instant::now();
        let started: Vec<Option<String>> = (0..4).map(|_| fetch_host(queue.next(now))).collect();
        assert_eq!(
            started,
            [Some("slow.example".into()), Some("fast.example".into()), Some("slow.example".into()), None],
            "the idle host before the busy one; the slow host never past its limit of two"
        );
        assert_eq!(queue.held(), 28);
    }

    #[test]
    fn the_least_busy_host_goes_first_round_robin_among_equals() {
        let mut queue = Scheduler::new(4);
        for n in 0..3 {
            queue.push(item("a", &format!("http://a.example/{n}")));
        }
        for n in 0..3 {
            queue.push(item("b", &format!("http://b.example/{n}")));
        }
        queue.push(item("c", "http://c.example/0"));
        let now = Instant::now();
        let hosts: Vec<String> = (0..7).filter_map(|_| fetch_host(queue.next(now))).collect();
        assert_eq!(
            hosts,
            ["a.example", "b.example", "c.example", "a.example", "b.example", "a.example", "b.example"]
        );
    }

    #[test]
    fn one_link_in_many_items_is_fetched_once_and_its_page_shared() {
        let mut queue = Scheduler::new(2);
        for feed in ["f1", "f2", "f3"] {
            queue.push(item(feed, "http://wire.example/story"));
        }
        let now = Instant::now();
        let Some(Next::Fetch { item: first, host, link }) = queue.next(now) else { panic!("a fetch") };
        assert!(queue.next(now).is_none(), "the other two wait for that fetch");
        assert_eq!(queue.held(), 2);
        let page = Arc::new(Page::Text { title: None, text: "The story.".into(), method: "test".into() });
        let articles = queue.finish(first, &host, &link, page, now);
        let feeds: Vec<&str> = articles.iter().map(|article| &*article.item.feed).collect();
        assert_eq!(feeds, ["f1", "f2", "f3"]);
        assert!(
            articles.iter().all(|article| article.body == "The story." && article.source == TextSource::Page)
        );
        assert_eq!(queue.held(), 0);

        // Later, the same link again: answered from the recent page, no fetch.
        queue.push(item("f4", "http://wire.example/story"));
        assert!(matches!(queue.next(now + Duration::from_secs(60)), Some(Next::Ready(_))));
        // After the reuse window it is fetched again.
        queue.push(item("f5", "http://wire.example/story"));
        assert!(matches!(queue.next(now + RECENT_PAGE_TTL), Some(Next::Fetch { .. })));
    }

    #[test]
    fn items_without_a_page_are_answered_at_once() {
        let mut queue = Scheduler::new(2);
        let mut no_link = item("f", "http://x.example/");
        no_link.entry.link = None;
        let article = queue.push(no_link).expect("answered");
        assert_eq!(article.source, TextSource::FeedSummary { reason: "item has no link".into() });
        assert_eq!(queue.held(), 0);
    }

    #[test]
    fn the_feed_title_wins() {
        assert_eq!(choose_title("Feed headline", Some("Page | Site"), "Body"), "Feed headline");
    }

    #[test]
    fn without_a_feed_title_the_page_headline_is_used() {
        let text = "Lavrov and Rubio meet in Riyadh\n\nThe two sides talked for hours.";
        assert_eq!(
            choose_title("", Some("Lavrov and Rubio meet in Riyadh | Wire"), text),
            "Lavrov and Rubio meet in Riyadh"
        );
        assert_eq!(
            choose_title("", Some("Talks resume in Geneva after a pause - The Daily"), "Some lede."),
            "Talks resume in Geneva after a pause"
        );
    }

    #[test]
    fn a_title_that_is_only_the_site_name_gives_way_to_the_first_line() {
        let text = "Lavrov, Kerry to hold Syria talks in Geneva\n\nMore text.";
        assert_eq!(
            choose_title("", Some(" | Loopback Gazette"), text),
            "Lavrov, Kerry to hold Syria talks in Geneva"
        );
        assert_eq!(choose_title("", None, ""), "");
    }
}
