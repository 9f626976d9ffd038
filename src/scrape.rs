//! Per new item: fetch the linked page through the guarded client, extract its article text off
//! the async runtime, and pass on an [`Article`]. When the page cannot be used, the item goes on
//! with the feed's own title and summary and the reason is recorded.

use crate::extract;
use crate::fetch::{Fetched, Fetcher, Target, Validators};
use crate::model::{Article, Item, TextSource};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Runs until the item channel closes, scraping up to `concurrency` pages at once.
pub async fn run(
    items: mpsc::Receiver<Item>,
    fetcher: Fetcher,
    concurrency: usize,
    articles: mpsc::Sender<Article>,
) {
    let stream = futures_util::stream::unfold(items, |mut items| async move {
        items.recv().await.map(|item| (item, items))
    });
    let results = stream.map(|item| scrape(item, &fetcher)).buffer_unordered(concurrency.max(1));
    let mut results = std::pin::pin!(results);
    while let Some(article) = results.next().await {
        if articles.send(article).await.is_err() {
            return;
        }
    }
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
            let reason = crate::poll::error_chain(&err);
            info!(feed = %item.feed, url = %item.feed_url, link = %link, kind = err.kind(), error = %reason, "page not used; classifying the feed summary");
            return fallback(item, reason);
        }
    };
    let final_url = body.final_url.clone();
    let extracted = tokio::task::spawn_blocking(move || {
        extract::article(&body.bytes, Some(&final_url), body.charset.as_deref())
    })
    .await;
    let page = match extracted {
        Ok(Ok(page)) => page,
        Ok(Err(err)) => {
            info!(feed = %item.feed, url = %item.feed_url, link = %link, error = %err, "page not used; classifying the feed summary");
            return fallback(item, format!("extraction: {err}"));
        }
        Err(join_err) => return fallback(item, format!("extraction crashed: {join_err}")),
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
    let title = if item.entry.title.is_empty() {
        page.title.clone().unwrap_or_default()
    } else {
        item.entry.title.clone()
    };
    Article { item, title, body: page.text, source: TextSource::Page }
}
