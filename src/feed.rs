//! Feed bytes -> normalised entries, as leniently as Python's feedparser. Owns everything between
//! the bytes a server sent and [`Entry`]: decoding (`decode`), textual repairs for the places
//! where feed-rs is stricter than the web (`repair`), feed-rs itself, a tolerant fallback
//! extractor for documents feed-rs rejects or under-reads (`fallback`), JSON Feed (`json`),
//! and normalisation of every entry (`normalise`: our own stable key, canonical http(s) link,
//! plain text, dates). It never does I/O and never
//! panics on input: each document gets a fresh feed-rs parser, and a panic inside one is caught
//! and returned as that document's error.

mod dates;
mod decode;
mod fallback;
mod hints;
mod json;
mod normalise;
mod plain;
mod repair;

use crate::model::Entry;
use normalise::{RawEntry, RawLink};
use repair::Root;
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use url::Url;

pub use hints::{FeedHints, schedule_hints};
pub use normalise::{MAX_FUTURE, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS};

/// At most this many entries are returned per document (the first ones, which in every feed
/// format are the newest); a 500,000-item document costs no more downstream than a normal one.
pub const MAX_ENTRIES: usize = 1000;

/// Title and summary together shorter than this give no fingerprint: too little text to say
/// two items are one ("Update", "Live").
const MIN_FINGERPRINT_CHARS: usize = 40;

/// An entry's content fingerprint: a hash of its title and summary (already plain text with
/// whitespace collapsed), or `None` when either is empty or together they are shorter than
/// `MIN_FINGERPRINT_CHARS`. Within one feed, an entry with a fingerprint the feed already had
/// is the same item whatever its key: a guid that changes on every poll does not make the same
/// text new again. Across feeds fingerprints are not compared (two outlets may share a wire
/// headline and summary, and links already join those).
pub fn fingerprint(entry: &Entry) -> Option<String> {
    use sha2::{Digest, Sha256};
    let (title, summary) = (entry.title.trim(), entry.summary.trim());
    if title.is_empty()
        || summary.is_empty()
        || title.chars().count() + summary.chars().count() < MIN_FINGERPRINT_CHARS
    {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(b"fingerprint-v1\0");
    hasher.update(title.to_lowercase().as_bytes());
    hasher.update([0]);
    hasher.update(summary.to_lowercase().as_bytes());
    Some(hex::encode(&hasher.finalize()[..16]))
}

/// What a feed document gave.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    /// e.g. "rss2.0", "rss" (no version), "rss0.90", "rss1.0", "atom1.0", "atom0.3", "cdf",
    /// "json1.1", or "unknown" for items found under an unrecognised root.
    pub format: String,
    /// The encoding the bytes were decoded with, lower case ("utf-8", "windows-1251", …).
    pub encoding: String,
    /// Repairs or fallbacks applied, e.g. "stray-default-namespace", "fallback-extractor".
    pub repairs: Vec<String>,
    pub entries: Vec<Entry>,
}

/// Why a document gave no usable feed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct FeedError {
    pub reason: String,
}

impl FeedError {
    fn new(reason: impl Into<String>) -> Self {
        FeedError { reason: reason.into() }
    }
}

/// Parses any bytes a server sent for `feed_url`, keeping at most [`MAX_ENTRIES`] entries.
/// `http_charset` is the charset parameter of the response's Content-Type, if any. Never panics.
pub fn parse(bytes: &[u8], feed_url: &Url, http_charset: Option<&str>) -> Result<ParsedFeed, FeedError> {
    parse_capped(bytes, feed_url, http_charset, MAX_ENTRIES)
}

/// [`parse`] keeping at most `max_entries` entries (and never more than [`MAX_ENTRIES`]). The cap
/// is applied before any entry is built: an XML document is cut after its `max_entries`-th item
/// and a JSON Feed's items beyond it are skipped unread, so the work and memory a document costs
/// are bounded by the cap and the body size, not by how many items it holds.
pub fn parse_capped(
    bytes: &[u8],
    feed_url: &Url,
    http_charset: Option<&str>,
    max_entries: usize,
) -> Result<ParsedFeed, FeedError> {
    let max_entries = max_entries.min(MAX_ENTRIES);
    match catch_unwind(AssertUnwindSafe(|| parse_document(bytes, feed_url, http_charset, max_entries))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(FeedError::new(format!("parser panicked: {message}")))
        }
    }
}

/// Raw entries from whichever reader produced them, before normalisation.
struct Extracted {
    format: String,
    entries: Vec<RawEntry>,
    repairs: Vec<String>,
}

fn parse_document(
    bytes: &[u8],
    feed_url: &Url,
    http_charset: Option<&str>,
    max_entries: usize,
) -> Result<ParsedFeed, FeedError> {
    let decoded = decode::decode(bytes, http_charset);
    let mut repairs: Vec<String> = decoded.notes.iter().map(|note| note.to_string()).collect();
    let encoding = decoded.encoding;
    let text = decoded.text;

    let first = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}').chars().next();
    let extracted = match first {
        None => return Err(FeedError::new("empty document")),
        Some('{') => {
            let (format, entries, skipped) = json::extract(&text, max_entries).map_err(FeedError::new)?;
            let repairs = if skipped { vec!["items-beyond-cap-ignored".to_string()] } else { Vec::new() };
            Extracted { format, entries, repairs }
        }
        Some(_) => extract_xml(text, feed_url, max_entries)?,
    };
    repairs.extend(extracted.repairs);
    let now = chrono::Utc::now();
    let mut dropped = normalise::DroppedDates::default();
    let entries = extracted
        .entries
        .into_iter()
        .take(max_entries)
        .map(|raw| normalise::normalise(raw, feed_url, now, &mut dropped))
        .collect();
    repairs.extend(dropped.note());
    Ok(ParsedFeed { format: extracted.format, encoding, repairs, entries })
}

/// XML documents: repair, feed-rs, and the fallback when feed-rs fails or under-reads.
fn extract_xml(text: Cow<'_, str>, feed_url: &Url, max_entries: usize) -> Result<Extracted, FeedError> {
    let prepared = repair::prepare(text, max_entries);
    let mut repairs: Vec<String> = prepared.repairs.iter().map(|r| r.to_string()).collect();
    let format = match &prepared.root {
        Root::Missing => return Err(FeedError::new("no XML element found: not a feed")),
        Root::Rss { version: Some(version) } if !version.is_empty() => format!("rss{version}"),
        Root::Rss { .. } => "rss".to_string(),
        Root::Rdf { rss090: true } => "rss0.90".to_string(),
        Root::Rdf { rss090: false } => "rss1.0".to_string(),
        Root::Atom { atom03: true } => "atom0.3".to_string(),
        Root::Atom { atom03: false } => "atom1.0".to_string(),
        Root::Channel => "cdf".to_string(),
        Root::Other(_) => "unknown".to_string(),
    };
    // feed-rs reads RSS, RDF and Atom 1.0. Atom 0.3 it "parses" to zero entries (its namespace
    // is not Atom 1.0's) and CDF or other roots it rejects, so those go straight to the fallback.
    let feed_rs_result = match prepared.root {
        Root::Rss { .. } | Root::Rdf { .. } | Root::Atom { atom03: false } => {
            Some(run_feed_rs(&prepared.text, feed_url, max_entries))
        }
        _ => None,
    };
    let expected = prepared.item_tags.min(max_entries);
    let feed_rs_error = match feed_rs_result {
        Some(Ok(mut entries)) if entries.len() >= expected => {
            if fill_gaps(&mut entries, &prepared.text, feed_url, max_entries) {
                repairs.push("fields-from-fallback".into());
            }
            return Ok(Extracted { format, entries, repairs });
        }
        Some(Ok(entries)) => {
            // Fewer items than the document plainly has: let the fallback try, keep the better.
            let fallback = fallback::extract(&prepared.text, feed_url, max_entries);
            if fallback.len() > entries.len() {
                repairs.push("fallback-extractor".into());
                return Ok(Extracted { format, entries: fallback, repairs });
            }
            return Ok(Extracted { format, entries, repairs });
        }
        Some(Err(reason)) => Some(reason),
        None => None,
    };
    let entries = fallback::extract(&prepared.text, feed_url, max_entries);
    if entries.is_empty()
        && let Root::Other(name) = &prepared.root
    {
        return Err(FeedError::new(format!("no feed found: root element <{name}> and no items")));
    }
    // A recognised feed that feed-rs rejects (an odd feed-level element, a document cut short)
    // gives whatever items the fallback found, possibly none: like feedparser, a feed rather
    // than an error, with feed-rs's reason kept in the repairs so a caller can still see it.
    if let Some(reason) = feed_rs_error {
        repairs.push(format!("feed-rs-rejected ({reason})"));
    }
    repairs.push("fallback-extractor".into());
    Ok(Extracted { format, entries, repairs })
}

/// feed-rs ignores some item elements feeds use (`dc:title`, `dc:description`, markup that is
/// not escaped inside `<description>`): when an entry lacks a title, a summary or a date, the
/// fallback reads the same items and its fields fill the gaps, item by item. Only done when the
/// fallback finds exactly as many items, so the pairing is certain. Returns whether anything
/// was filled.
fn fill_gaps(entries: &mut [RawEntry], text: &str, feed_url: &Url, max_entries: usize) -> bool {
    let blank = |field: &Option<String>| field.as_deref().is_none_or(|text| text.trim().is_empty());
    let has_gap = |entry: &RawEntry| {
        blank(&entry.title)
            || (blank(&entry.summary) && blank(&entry.content))
            || (entry.published.is_none() && entry.updated.is_none())
    };
    if !entries.iter().any(has_gap) {
        return false;
    }
    let fallback = fallback::extract(text, feed_url, max_entries);
    if fallback.len() != entries.len() {
        return false;
    }
    let mut filled = false;
    for (entry, found) in entries.iter_mut().zip(fallback) {
        if blank(&entry.title) && !blank(&found.title) {
            entry.title = found.title;
            filled = true;
        }
        if blank(&entry.summary) && blank(&entry.content) && !(blank(&found.summary) && blank(&found.content))
        {
            entry.summary = found.summary;
            entry.content = found.content;
            filled = true;
        }
        if entry.published.is_none()
            && entry.updated.is_none()
            && (found.published.is_some() || found.updated.is_some())
        {
            entry.published = found.published;
            entry.updated = found.updated;
            filled = true;
        }
        if entry.authors.is_empty() && !found.authors.is_empty() {
            entry.authors = found.authors;
        }
    }
    filled
}

/// Runs a fresh feed-rs parser (a reused one can panic after an error) configured to generate no
/// ids (so a missing guid stays visibly missing and we key the entry ourselves), to skip its
/// sanitiser (we reduce everything to plain text anyway) and to use our date parser.
fn run_feed_rs(text: &str, feed_url: &Url, max_entries: usize) -> Result<Vec<RawEntry>, String> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .timestamp_parser(dates::parse_date)
        .build();
    let feed = parser.parse(text.as_bytes()).map_err(|err| format!("feed-rs: {err}"))?;
    Ok(feed.entries.into_iter().take(max_entries).map(from_feed_rs).collect())
}

fn from_feed_rs(entry: feed_rs::model::Entry) -> RawEntry {
    let links = entry
        .links
        .into_iter()
        .map(|link| RawLink { href: link.href, rel: link.rel, media_type: link.media_type, base: None })
        .collect();
    let media_description =
        entry.media.iter().find_map(|media| media.description.as_ref().map(|d| d.content.clone()));
    RawEntry {
        id: Some(entry.id).filter(|id| !id.is_empty()),
        links,
        about: None,
        title: entry.title.map(|t| t.content),
        summary: entry.summary.map(|t| t.content).or(media_description),
        content: entry.content.and_then(|c| c.body),
        published: entry.published,
        updated: entry.updated,
        authors: entry.authors.into_iter().filter_map(|person| person.name).collect(),
    }
}

#[cfg(test)]
mod tests;
