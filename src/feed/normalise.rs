//! Raw entries (from feed-rs or the fallback) -> [`Entry`]: our own stable key, one canonical
//! http(s) link, plain-text title and summary, dates and author names. No I/O.

use super::plain::html_to_plain;
use crate::model::Entry;
use chrono::{DateTime, Datelike, Utc};
use sha2::{Digest, Sha256};
use url::Url;

/// Titles longer than this are cut: no headline is this long, and a hostile one must not flow
/// through every later stage.
pub const MAX_TITLE_CHARS: usize = 1_000;
/// Summaries longer than this are cut (a full article in `content:encoded` is kept up to here).
pub const MAX_SUMMARY_CHARS: usize = 20_000;

/// Raw (HTML) titles and summaries are cut to this many bytes before they are reduced to plain
/// text, which is then cut to `MAX_TITLE_CHARS` / `MAX_SUMMARY_CHARS`: markup rarely takes more
/// than a few times the text it wraps, and a 10 MB title costs no HTML parse of 10 MB.
const MAX_RAW_TITLE_BYTES: usize = 64 * 1024;
const MAX_RAW_SUMMARY_BYTES: usize = 1024 * 1024;

/// The first `max_bytes` of `raw` (on a char boundary).
fn raw_prefix(raw: &str, max_bytes: usize) -> &str {
    &raw[..raw.floor_char_boundary(max_bytes.min(raw.len()))]
}

/// A date later than this past the parse time is dropped: a clock or zone mistake can put a
/// story hours ahead, never days, and a far-future date would sort it first forever.
pub const MAX_FUTURE: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Dates dropped while normalising one document, by reason; reported as a repair note.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DroppedDates {
    /// Entries with a date outside years 0000–9999 once in UTC: RFC 3339 (and so the alert
    /// line) cannot state it.
    pub out_of_range: usize,
    /// Entries with a date more than [`MAX_FUTURE`] after the parse time.
    pub future: usize,
}

impl DroppedDates {
    /// The repair note, e.g. "dates-dropped (2 beyond RFC 3339's years, 1 in the future)".
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.out_of_range > 0 {
            parts.push(format!("{} beyond RFC 3339's years", self.out_of_range));
        }
        if self.future > 0 {
            parts.push(format!("{} more than a day in the future", self.future));
        }
        (!parts.is_empty()).then(|| format!("dates-dropped ({})", parts.join(", ")))
    }

    /// The entry's dates with the ones it may not carry dropped; each entry counts once per
    /// reason (RSS readers set both dates from one `pubDate`).
    fn keep(&mut self, raw: &mut RawEntry, now: DateTime<Utc>) {
        let (mut out_of_range, mut future) = (false, false);
        for date in [&mut raw.published, &mut raw.updated] {
            let Some(value) = *date else { continue };
            if !(0..=9999).contains(&value.year()) {
                out_of_range = true;
                *date = None;
            } else if now.checked_add_signed(MAX_FUTURE).is_some_and(|latest| value > latest) {
                future = true;
                *date = None;
            }
        }
        self.out_of_range += usize::from(out_of_range);
        self.future += usize::from(future);
    }
}

/// Query parameters that only track the reader, removed from canonical links.
const TRACKING_PARAMS: &[&str] =
    &["fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "yclid", "igshid"];

/// An entry as a parser found it, before normalisation.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawEntry {
    /// RSS guid / Atom id / JSON Feed id as written; `None` when absent (never generated).
    pub id: Option<String>,
    pub links: Vec<RawLink>,
    /// `rdf:about` of an RSS 1.0 item: the item's URI.
    pub about: Option<String>,
    /// Title, summary and content may hold HTML.
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub authors: Vec<String>,
}

/// A link as found, possibly relative.
#[derive(Debug, Clone)]
pub(crate) struct RawLink {
    pub href: String,
    pub rel: Option<String>,
    pub media_type: Option<String>,
    /// The `xml:base` in effect where the link was found, if any.
    pub base: Option<Url>,
}

/// Normalises one raw entry from the feed at `feed_url`, parsed at `now`. Dates RFC 3339 cannot
/// state (year 9999 at −14:00 is year 10000 in UTC) or more than [`MAX_FUTURE`] ahead of `now`
/// are dropped and counted in `dropped`: the entry is then undated, like one without a date.
pub(crate) fn normalise(
    mut raw: RawEntry,
    feed_url: &Url,
    now: DateTime<Utc>,
    dropped: &mut DroppedDates,
) -> Entry {
    dropped.keep(&mut raw, now);
    let link = choose_link(&raw, feed_url);
    let title = cut(
        html_to_plain(raw_prefix(raw.title.as_deref().unwrap_or(""), MAX_RAW_TITLE_BYTES)),
        MAX_TITLE_CHARS,
    );
    let summary_source = raw
        .summary
        .as_deref()
        .filter(|summary| !summary.trim().is_empty())
        .or(raw.content.as_deref())
        .unwrap_or("");
    let summary = cut(html_to_plain(raw_prefix(summary_source, MAX_RAW_SUMMARY_BYTES)), MAX_SUMMARY_CHARS);
    let key =
        make_key(raw.id.as_deref(), link.as_ref(), feed_url, &title, &summary, raw.published.or(raw.updated));
    let mut authors: Vec<String> = Vec::new();
    for author in &raw.authors {
        let name = author_name(&html_to_plain(author));
        if !name.is_empty() && !authors.contains(&name) {
            authors.push(name);
        }
    }
    Entry { key, link, title, summary, published: raw.published, updated: raw.updated, authors }
}

/// Our key: the guid/id when there is one, else the canonical link, else a hash of the feed
/// URL, title and date (summary too when there is no title) — the same input always gives the
/// same key.
///
/// Scope rule: a key names either something global or something of ONE feed, and no feed can
/// write a key in another feed's scope. URI ids (`tag:`, `urn:`, `https:`) are global: the same
/// story in two feeds is one item. Opaque ids ("12345") belong to their feed: `id:<feed URL>#<id>`.
/// A URI id shaped like that (an http(s) URI with a `#` followed by text that is not itself a
/// URI) could be feed B's URL and an opaque id of B's, published by feed A to make B's story
/// look seen; such ids get the `uri:` prefix instead of `id:`, which no opaque id ever has.
/// Keys that existed before the rule keep their form, except those URI ids (their items are
/// still found seen by link when they have one).
pub(crate) fn make_key(
    id: Option<&str>,
    link: Option<&Url>,
    feed_url: &Url,
    title: &str,
    summary: &str,
    date: Option<DateTime<Utc>>,
) -> String {
    if let Some(id) = id.map(str::trim).filter(|id| !id.is_empty()) {
        let id = cut(id.to_string(), 2_000);
        return if !looks_global(&id) {
            format!("id:{feed_url}#{id}")
        } else if could_shadow_opaque(&id) {
            format!("uri:{id}")
        } else {
            format!("id:{id}")
        };
    }
    if let Some(link) = link {
        return format!("link:{link}");
    }
    let mut hasher = Sha256::new();
    hasher.update(feed_url.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(title.as_bytes());
    hasher.update([0]);
    if title.is_empty() {
        hasher.update(summary.as_bytes());
    }
    hasher.update([0]);
    if let Some(date) = date {
        hasher.update(date.to_rfc3339().as_bytes());
    }
    format!("hash:{}", hex::encode(&hasher.finalize()[..16]))
}

/// Whether a global id has the shape of an opaque key `<feed URL>#<opaque id>`: an http(s) URI
/// where some `#` is followed by text that is not a URI (the opaque id may itself hold a `#`).
fn could_shadow_opaque(id: &str) -> bool {
    (id.starts_with("http://") || id.starts_with("https://"))
        && id.match_indices('#').any(|(at, _)| !looks_global(&id[at + 1..]))
}

/// An id that is unique on its own: a URI with a scheme (`http:`, `tag:`, `urn:`).
fn looks_global(id: &str) -> bool {
    match id.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme.len() >= 2
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// The entry's page: an alternate (or untyped) link first, then any non-enclosure link, then a
/// permalink-looking id or `rdf:about`. Only http(s) survive.
fn choose_link(raw: &RawEntry, feed_url: &Url) -> Option<Url> {
    let rank = |link: &RawLink| -> u8 {
        let rel = link.rel.as_deref().unwrap_or("alternate").trim().to_ascii_lowercase();
        let html = link.media_type.as_deref().is_none_or(|t| t.contains("html"));
        match rel.as_str() {
            "alternate" if html => 0,
            "alternate" => 1,
            "enclosure" | "self" | "edit" | "replies" | "license" | "via" => 3,
            _ => 2,
        }
    };
    let mut candidates: Vec<&RawLink> = raw.links.iter().collect();
    candidates.sort_by_key(|link| rank(link));
    for link in candidates {
        if let Some(url) = canonical_link(&link.href, link.base.as_ref(), feed_url) {
            return Some(url);
        }
    }
    for fallback in [raw.id.as_deref(), raw.about.as_deref()].into_iter().flatten() {
        let fallback = fallback.trim();
        if (fallback.starts_with("http://") || fallback.starts_with("https://"))
            && let Some(url) = canonical_link(fallback, None, feed_url)
        {
            return Some(url);
        }
    }
    None
}

/// Resolves `href` against `base` (else the feed URL), keeps only http(s), and removes the
/// fragment, credentials and tracking parameters.
pub(crate) fn canonical_link(href: &str, base: Option<&Url>, feed_url: &Url) -> Option<Url> {
    let href: String = href.trim().chars().filter(|c| !matches!(c, '\n' | '\r' | '\t')).collect();
    if href.is_empty() {
        return None;
    }
    let mut url = base.unwrap_or(feed_url).join(&href).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    // Userinfo in a feed-supplied link is never wanted and would be sent as credentials.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(query) = url.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
                !(pair.is_empty() || name.starts_with("utm_") || TRACKING_PARAMS.contains(&name.as_str()))
            })
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else if kept.len() != query.split('&').count() {
            let joined = kept.join("&");
            url.set_query(Some(&joined));
        }
    }
    Some(url)
}

/// "jane@example.com (Jane Doe)" -> "Jane Doe"; other names unchanged.
fn author_name(author: &str) -> String {
    if author.contains('@')
        && let (Some(open), Some(close)) = (author.find('('), author.rfind(')'))
        && open < close
    {
        let inner = author[open + 1..close].trim();
        if !inner.is_empty() {
            return inner.to_string();
        }
    }
    author.to_string()
}

/// Cuts to `max_chars` characters, adding `…` when cut.
fn cut(text: String, max_chars: usize) -> String {
    if text.len() <= max_chars {
        return text;
    }
    crate::text::truncate_chars(&text, max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Url {
        Url::parse("https://news.example/rss/world.xml").expect("static URL")
    }

    #[test]
    fn links_resolve_and_lose_fragments_tracking_and_credentials() {
        let base = Url::parse("https://cdn.example/a/").expect("static URL");
        let url = canonical_link(" ../story?id=7&utm_source=rss&fbclid=x#top ", Some(&base), &feed())
            .expect("http link");
        assert_eq!(url.as_str(), "https://cdn.example/story?id=7");
        let url = canonical_link("story.html?utm_medium=x", None, &feed()).expect("http link");
        assert_eq!(url.as_str(), "https://news.example/rss/story.html");
        let url = canonical_link("http://user:pw@Example.COM:80/x", None, &feed()).expect("http link");
        assert_eq!(url.as_str(), "http://example.com/x");
    }

    #[test]
    fn dangerous_schemes_are_dropped() {
        for href in
            ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "ftp://x/y", "mailto:a@b"]
        {
            assert_eq!(canonical_link(href, None, &feed()), None, "{href}");
        }
        let file_base = Url::parse("file:///etc/").expect("static URL");
        assert_eq!(canonical_link("passwd", Some(&file_base), &feed()), None);
    }

    #[test]
    fn keys_prefer_id_then_link_then_hash() {
        let link = Url::parse("https://news.example/a").expect("static URL");
        assert_eq!(make_key(Some("tag:x,2025:1"), Some(&link), &feed(), "t", "", None), "id:tag:x,2025:1");
        assert_eq!(
            make_key(Some("123"), None, &feed(), "t", "", None),
            "id:https://news.example/rss/world.xml#123"
        );
        assert_eq!(make_key(None, Some(&link), &feed(), "t", "", None), "link:https://news.example/a");
        let hashed = make_key(None, None, &feed(), "t", "", None);
        assert!(hashed.starts_with("hash:"));
        assert_eq!(hashed, make_key(None, None, &feed(), "t", "", None));
        assert_ne!(hashed, make_key(None, None, &feed(), "u", "", None));
    }

    #[test]
    fn no_id_of_one_feed_can_name_another_feeds_opaque_id() {
        let b = Url::parse("https://b.example/rss.xml").expect("static URL");
        let victim = make_key(Some("12345"), None, &b, "t", "", None);
        assert_eq!(victim, "id:https://b.example/rss.xml#12345", "opaque keys keep their form");
        let a = feed();
        for forged in [
            "https://b.example/rss.xml#12345",
            "http://b.example/rss.xml#12345",
            "https://b.example/rss.xml#a#b",
            "https://b.example/rss.xml#",
        ] {
            let key = make_key(Some(forged), None, &a, "t", "", None);
            assert!(key.starts_with("uri:"), "{forged}: {key}");
            assert_ne!(key, victim);
        }
        // Global ids without that shape keep their key, in every feed.
        for global in
            ["tag:b.example,2025:1", "urn:uuid:1", "https://b.example/p/1", "https://b.example/p#tag:x"]
        {
            assert_eq!(make_key(Some(global), None, &a, "t", "", None), format!("id:{global}"));
            assert_eq!(make_key(Some(global), None, &b, "t", "", None), format!("id:{global}"));
        }
    }

    #[test]
    fn entry_fields_are_plain_text() {
        let raw = RawEntry {
            title: Some("<b>Lavrov</b> &amp; Rubio".into()),
            summary: Some("  ".into()),
            content: Some("<p>Talks</p><p>in Riyadh</p>".into()),
            authors: vec!["x@y.z (Jane Doe)".into(), "Jane Doe".into()],
            links: vec![
                RawLink {
                    href: "/enc.mp3".into(),
                    rel: Some("enclosure".into()),
                    media_type: None,
                    base: None,
                },
                RawLink { href: "javascript:void(0)".into(), rel: None, media_type: None, base: None },
                RawLink {
                    href: "/story".into(),
                    rel: Some("alternate".into()),
                    media_type: Some("text/html".into()),
                    base: None,
                },
            ],
            ..RawEntry::default()
        };
        let entry = normalise(raw, &feed(), Utc::now(), &mut DroppedDates::default());
        assert_eq!(entry.title, "Lavrov & Rubio");
        assert_eq!(entry.summary, "Talks in Riyadh");
        assert_eq!(entry.authors, ["Jane Doe"]);
        assert_eq!(entry.link.as_ref().map(Url::as_str), Some("https://news.example/story"));
        assert_eq!(entry.key, "link:https://news.example/story");
    }

    #[test]
    fn permalink_guid_serves_as_link() {
        let raw = RawEntry { id: Some("https://news.example/p/1#x".into()), ..RawEntry::default() };
        let entry = normalise(raw, &feed(), Utc::now(), &mut DroppedDates::default());
        assert_eq!(entry.link.as_ref().map(Url::as_str), Some("https://news.example/p/1"));
        assert_eq!(entry.key, "uri:https://news.example/p/1#x", "shaped like an opaque key");
    }

    #[test]
    fn dates_rfc3339_cannot_state_or_far_in_the_future_are_dropped_and_counted() {
        let now = Utc::now();
        let date = |text: &str| super::super::dates::parse_date(text);
        let raw = |published, updated| RawEntry { published, updated, ..RawEntry::default() };
        let mut dropped = DroppedDates::default();
        // Year 9999 at -14:00 is year 10000 in UTC: `+10000-…` would leak into the alert line.
        let beyond = date("9999-12-31T23:00:00-14:00");
        assert!(beyond.is_some_and(|d| d.year() == 10_000));
        let entry = normalise(raw(beyond, date("2025-02-18T10:00:00Z")), &feed(), now, &mut dropped);
        assert_eq!(entry.published, None);
        assert_eq!(entry.updated, date("2025-02-18T10:00:00Z"));
        let in_a_week = Some(now + chrono::TimeDelta::days(7));
        let in_an_hour = Some(now + chrono::TimeDelta::hours(1));
        let entry = normalise(raw(in_a_week, in_an_hour), &feed(), now, &mut dropped);
        assert_eq!((entry.published, entry.updated), (None, in_an_hour));
        assert_eq!(dropped, DroppedDates { out_of_range: 1, future: 1 });
        assert_eq!(
            dropped.note().as_deref(),
            Some("dates-dropped (1 beyond RFC 3339's years, 1 more than a day in the future)")
        );
        assert_eq!(DroppedDates::default().note(), None);
    }
}
