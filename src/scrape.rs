//! Per new item: fetch the linked page through the guarded client, extract its article text off
//! the async runtime, and pass on an [`Article`]. When the page cannot be used, the item goes on
//! with the feed's own title and summary and the reason is recorded.

use crate::extract;
use crate::fetch::{Fetched, Fetcher, Target, Validators};
use crate::model::{Article, Item, TextSource};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Runs until the item channel closes, scraping up to `concurrency` pages at once. Each item is
/// fetched, extracted AND sent within its own future, and all of them are polled together: a
/// future waiting to send (the classifier is busy) never stops the others, which may hold a
/// connection slot or a CPU-pool permit granted to them (with `buffer_unordered` and one send
/// loop, those starved and the pipeline deadlocked once the CPU pool was bounded).
pub async fn run(
    items: mpsc::Receiver<Item>,
    fetcher: Fetcher,
    concurrency: usize,
    articles: mpsc::Sender<Article>,
) {
    let stream =
        futures_util::stream::unfold((items, articles.clone()), |(mut items, articles)| async move {
            // Nobody left downstream: stop taking items, so the pollers see their channel close.
            if articles.is_closed() {
                return None;
            }
            items.recv().await.map(|item| (item, (items, articles)))
        });
    stream
        .for_each_concurrent(concurrency.max(1), |item| {
            let (fetcher, articles) = (&fetcher, &articles);
            async move {
                let article = scrape(item, fetcher).await;
                // A closed channel is seen by the stream above, which then stops.
                let _ = articles.send(article).await;
            }
        })
        .await;
}

/// Turns one item into an article: the page's text when it can be had, else the feed's.
pub async fn scrape(item: Item, fetcher: &Fetcher) -> Article {
    let fallback = |item: Item, reason: String| {
        let body = item.entry.summary.clone();
        let title = item.entry.title.clone();
        Article { item, title, body, source: TextSource::FeedSummary { reason } }
    };
    if item.baseline_only {
        return fallback(item, "baseline: older than the backfill window on first sight".into());
    }
    if !item.scrape {
        return fallback(item, "scrape disabled for this feed".into());
    }
    let Some(mut link) = item.entry.link.clone() else {
        return fallback(item, "item has no link".into());
    };
    // Credentials in a feed's link are never sent anywhere.
    let _ = link.set_username("");
    let _ = link.set_password(None);
    let body = match fetcher.get(Target::Page, &link, &Validators::default()).await {
        Ok(Fetched::Body(body)) => body,
        Ok(Fetched::NotModified) => {
            return fallback(item, "page answered 304 to an unconditional GET".into());
        }
        Err(err) => {
            let reason = crate::error::chain(&err);
            info!(feed = %item.feed, url = %item.feed_url, link = %link, kind = err.kind(), error = %reason, "page not used; classifying the feed summary");
            return fallback(item, reason);
        }
    };
    let final_url = body.final_url.clone();
    let extracted =
        crate::cpu::run(move || extract::article(&body.bytes, Some(&final_url), body.charset.as_deref()))
            .await;
    let page = match extracted {
        Ok(Ok(page)) => page,
        Ok(Err(err)) => {
            info!(feed = %item.feed, url = %item.feed_url, link = %link, error = %err, "page not used; classifying the feed summary");
            return fallback(item, format!("extraction: {err}"));
        }
        Err(crashed) => return fallback(item, format!("extraction: {crashed}")),
    };
    // A page that yields less text than the feed's own summary was not read right (a paywall
    // stub, a consent wall): the summary is the better evidence.
    if page.text.chars().count() < item.entry.summary.chars().count() {
        return fallback(
            item,
            format!(
                "page text ({} chars, by {}) shorter than the feed summary",
                page.text.chars().count(),
                page.method
            ),
        );
    }
    debug!(feed = %item.feed, link = %link, chars = page.text.len(), method = %page.method, "page extracted");
    let title = choose_title(&item.entry.title, page.title.as_deref(), &page.text);
    Article { item, title, body: page.text, source: TextSource::Page }
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
    use super::choose_title;

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
