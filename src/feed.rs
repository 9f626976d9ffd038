//! Feed bytes -> normalised entries. OWNED BY THE FEED HELPER: this is the interface stub. No I/O.

use crate::model::Entry;
use url::Url;

/// What a feed document gave.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// e.g. "rss2.0", "atom1.0", "json1.1", "rss0.90"
    pub format: String,
    /// The encoding the bytes were decoded with.
    pub encoding: String,
    /// Repairs or fallbacks applied, e.g. "stray-default-namespace".
    pub repairs: Vec<String>,
    pub entries: Vec<Entry>,
}

/// Why a document gave no usable feed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct FeedError {
    pub reason: String,
}

/// Parses any bytes a server sent for `feed_url`. `http_charset` is the charset parameter of the
/// response's Content-Type, if any. Never panics.
pub fn parse(bytes: &[u8], feed_url: &Url, http_charset: Option<&str>) -> Result<ParsedFeed, FeedError> {
    // Temporary minimal version until the lenient parser lands.
    let _ = http_charset;
    let parsed = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        .build()
        .parse(bytes)
        .map_err(|err| FeedError { reason: err.to_string() })?;
    let entries = parsed
        .entries
        .into_iter()
        .map(|entry| {
            let link = entry
                .links
                .first()
                .and_then(|link| feed_url.join(&link.href).ok())
                .filter(|url| matches!(url.scheme(), "http" | "https"));
            let title = entry.title.map(|t| crate::text::html_to_text(&t.content)).unwrap_or_default();
            let summary = entry.summary.map(|t| crate::text::html_to_text(&t.content)).unwrap_or_default();
            let key = link.as_ref().map(|l| l.to_string()).unwrap_or_else(|| entry.id.clone());
            Entry {
                key,
                link,
                title,
                summary,
                published: entry.published,
                updated: entry.updated,
                authors: entry.authors.into_iter().filter_map(|a| a.name).collect(),
            }
        })
        .collect();
    Ok(ParsedFeed {
        format: format!("{:?}", parsed.feed_type),
        encoding: "utf-8".into(),
        repairs: vec![],
        entries,
    })
}
