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
    let _ = (bytes, feed_url, http_charset);
    Err(FeedError { reason: "not implemented".into() })
}
