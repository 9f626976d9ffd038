//! How often a feed document says it may be polled: RSS 2.0 `<ttl>` (minutes) and the RSS 1.0
//! syndication module's `<sy:updatePeriod>` / `<sy:updateFrequency>`.
//!
//! feed-rs exposes `Feed.ttl` (RSS 2.0 only) but not the `sy:` elements, and the fallback
//! readers expose neither; both live in the channel head, before the first item. So this is one
//! cheap scan of that head over the raw bytes (the tags are ASCII in every encoding newswatch
//! decodes except UTF-16, where the hint is simply not found), for every document whatever reader
//! later takes its entries. It never fails: a hint that cannot be read is no hint.

use memchr::memmem;
use std::time::Duration;

/// Only this much of a document is searched for the head when no item starts earlier.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The longest hint believed (a year); longer values are read as this.
const MAX_HINT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The polling hints of a feed document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedHints {
    /// `<ttl>`: minutes the channel may be cached.
    pub ttl: Option<Duration>,
    /// `<sy:updatePeriod>` divided by `<sy:updateFrequency>` (default 1): how often it updates.
    pub update_period: Option<Duration>,
}

impl FeedHints {
    /// The longest wait the document asks for, if any (zero is no hint).
    pub fn wait(&self) -> Option<Duration> {
        self.ttl.into_iter().chain(self.update_period).max().filter(|wait| !wait.is_zero())
    }
}

/// Reads the hints from the head of a feed document.
pub fn schedule_hints(bytes: &[u8]) -> FeedHints {
    let head = head_of(bytes);
    let ttl = element_text(head, b"<ttl>", b"</ttl>")
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(|minutes| Duration::from_secs(minutes.saturating_mul(60)).min(MAX_HINT));
    let period = prefixed_element_text(head, b"updatePeriod").and_then(|text| {
        let secs = match text.trim().to_ascii_lowercase().as_str() {
            "hourly" => 3600,
            "daily" => 86_400,
            "weekly" => 7 * 86_400,
            "monthly" => 30 * 86_400,
            "yearly" => 365 * 86_400,
            _ => return None,
        };
        Some(Duration::from_secs(secs))
    });
    let frequency = prefixed_element_text(head, b"updateFrequency")
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&frequency| frequency > 0)
        .unwrap_or(1);
    FeedHints { ttl, update_period: period.map(|period| (period / frequency).min(MAX_HINT)) }
}

/// The bytes before the first item or entry, at most [`MAX_HEAD_BYTES`].
fn head_of(bytes: &[u8]) -> &[u8] {
    let bytes = &bytes[..bytes.len().min(MAX_HEAD_BYTES)];
    let end = [&b"<item"[..], b"<entry"]
        .iter()
        .filter_map(|tag| memmem::find(bytes, tag))
        .min()
        .unwrap_or(bytes.len());
    &bytes[..end]
}

/// The text between `open` and the next `close`, when short and UTF-8.
fn element_text<'a>(head: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a str> {
    let start = memmem::find(head, open)? + open.len();
    let length = memmem::find(&head[start..], close)?;
    (length <= 32).then(|| std::str::from_utf8(&head[start..start + length]).ok()).flatten()
}

/// The text of `<prefix:local>…</prefix:local>` for any namespace prefix (feeds bind the
/// syndication namespace to `sy` almost always, but the prefix is the document's choice).
fn prefixed_element_text<'a>(head: &'a [u8], local: &[u8]) -> Option<&'a str> {
    let mut open_tail = Vec::with_capacity(local.len() + 2);
    open_tail.push(b':');
    open_tail.extend_from_slice(local);
    open_tail.push(b'>');
    for found in memmem::find_iter(head, &open_tail) {
        // Walk back over the prefix to the `<` that opens this tag.
        let before = &head[..found];
        let Some(lt) = before.iter().rposition(|&b| b == b'<') else { continue };
        let prefix = &before[lt + 1..];
        if prefix.is_empty()
            || prefix[0] == b'/'
            || !prefix.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        {
            continue;
        }
        let mut close = Vec::with_capacity(prefix.len() + open_tail.len() + 2);
        close.extend_from_slice(b"</");
        close.extend_from_slice(prefix);
        close.extend_from_slice(&open_tail);
        return element_text(&head[lt..], &head[lt..found + open_tail.len()], &close);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(xml: &str) -> FeedHints {
        schedule_hints(xml.as_bytes())
    }

    #[test]
    fn ttl_is_read_in_minutes_from_the_channel_head() {
        let found =
            hints("<rss><channel><title>t</title><ttl>30</ttl><item><title>x</title></item></channel></rss>");
        assert_eq!(found.ttl, Some(Duration::from_secs(1800)));
        assert_eq!(found.wait(), Some(Duration::from_secs(1800)));
    }

    #[test]
    fn a_ttl_inside_an_item_is_not_the_channel_s() {
        let found = hints("<rss><channel><item><ttl>30</ttl></item></channel></rss>");
        assert_eq!(found, FeedHints::default());
        assert_eq!(found.wait(), None);
    }

    #[test]
    fn update_period_is_divided_by_its_frequency_whatever_the_prefix() {
        let rdf = r#"<rdf:RDF xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
            <sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>
            </channel><item/></rdf:RDF>"#;
        assert_eq!(hints(rdf).update_period, Some(Duration::from_secs(1800)));
        let other_prefix = "<rss><channel><syn:updatePeriod> Daily </syn:updatePeriod></channel></rss>";
        assert_eq!(hints(other_prefix).update_period, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn the_longest_hint_wins_and_nonsense_is_no_hint() {
        let both = "<rss><channel><ttl>5</ttl><sy:updatePeriod>hourly</sy:updatePeriod></channel></rss>";
        assert_eq!(hints(both).wait(), Some(Duration::from_secs(3600)));
        for bad in [
            "<rss><channel><ttl>soon</ttl></channel></rss>",
            "<rss><channel><ttl>-5</ttl></channel></rss>",
            "<rss><channel><ttl>0</ttl></channel></rss>",
            "<rss><channel><sy:updatePeriod>fortnightly</sy:updatePeriod></channel></rss>",
            "<rss><channel><ttl>30",
            "",
        ] {
            assert_eq!(hints(bad).wait(), None, "{bad}");
        }
        let huge = hints("<rss><channel><ttl>99999999999999</ttl></channel></rss>");
        assert_eq!(huge.ttl, Some(MAX_HINT));
    }
}
