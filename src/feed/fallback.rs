//! The tolerant fallback: a tokenizer that never fails (unclosed tags, stray `<`, a document cut
//! off mid-item, mismatched end tags are all taken in stride) and an extractor that picks items
//! out of its events by element name, whatever the format: RSS 0.9x-2.0 with or without
//! `<channel>`, RDF, Atom 0.3 and 1.0, CDF. Used where feed-rs fails or reads fewer items than
//! the document plainly has. Bounded: at most `MAX_ENTRIES` items, element nesting tracked to a
//! fixed depth. No I/O.

use super::dates::parse_date;
use super::normalise::{RawEntry, RawLink};
use super::plain::decode_text;
use super::repair::StartTag;
use url::Url;

/// Deeper nesting than this is not tracked (end tags beyond it are ignored); feeds nest a
/// dozen levels, hostile documents a million.
const MAX_TRACKED_DEPTH: usize = 512;

/// One lexical unit of a document.
enum Token<'a> {
    Start(StartTag<'a>, bool),
    End(&'a str),
    Text(&'a str),
    CData(&'a str),
}

/// Splits a document into tokens, leniently.
struct Tokenizer<'a> {
    source: &'a str,
    pos: usize,
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.source.as_bytes();
        loop {
            if self.pos >= bytes.len() {
                return None;
            }
            let start = self.pos;
            if bytes[start] != b'<' {
                let end = memchr::memchr(b'<', &bytes[start..]).map_or(bytes.len(), |e| start + e);
                self.pos = end;
                return Some(Token::Text(&self.source[start..end]));
            }
            let rest = &bytes[start..];
            if rest.starts_with(b"<!--") {
                self.pos = find(bytes, start + 4, b"-->").map_or(bytes.len(), |e| e + 3);
                continue;
            }
            if rest.starts_with(b"<![CDATA[") {
                let content_start = start + 9;
                let end = find(bytes, content_start, b"]]>").unwrap_or(bytes.len());
                self.pos = (end + 3).min(bytes.len());
                return Some(Token::CData(&self.source[content_start..end]));
            }
            if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                self.pos = memchr::memchr(b'>', &bytes[start..]).map_or(bytes.len(), |e| start + e + 1);
                continue;
            }
            if rest.starts_with(b"</") {
                let name_end = bytes[start + 2..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || *b == b'>')
                    .map_or(bytes.len(), |p| start + 2 + p);
                self.pos = memchr::memchr(b'>', &bytes[name_end..]).map_or(bytes.len(), |e| name_end + e + 1);
                return Some(Token::End(&self.source[start + 2..name_end]));
            }
            if rest.get(1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b >= 0x80) {
                let tag = StartTag::parse(self.source, start);
                let self_closing = tag.self_closing(self.source);
                self.pos = tag.end.max(start + 1);
                return Some(Token::Start(tag, self_closing));
            }
            // A lone `<` is text.
            let end = memchr::memchr(b'<', &bytes[start + 1..]).map_or(bytes.len(), |e| start + 1 + e);
            self.pos = end;
            return Some(Token::Text(&self.source[start..end]));
        }
    }
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|offset| from + offset)
}

/// Which entry field an element feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Link,
    Id,
    Summary,
    Content,
    Published,
    Updated,
    Author,
}

/// Maps an element name (lower case, prefix as written) to a field, for direct children of an item.
fn field_for(name: &str) -> Option<Field> {
    // Feeds that spell RSS or Atom elements with an explicit prefix mean the plain element.
    let name = name.strip_prefix("rss:").or_else(|| name.strip_prefix("atom:")).unwrap_or(name);
    Some(match name {
        "title" | "dc:title" | "atom:title" | "rss:title" => Field::Title,
        "link" | "atom:link" | "rss:link" => Field::Link,
        "guid" | "id" | "atom:id" | "dc:identifier" => Field::Id,
        "description" | "summary" | "abstract" | "atom:summary" | "dc:description" | "rss:description" => {
            Field::Summary
        }
        "content" | "content:encoded" | "atom:content" | "body" | "xhtml:body" | "fullitem" => Field::Content,
        "pubdate" | "published" | "issued" | "dc:date" | "created" | "atom:published" | "dcterms:issued"
        | "dcterms:created" => Field::Published,
        "updated" | "modified" | "atom:updated" | "dcterms:modified" | "lastmod" => Field::Updated,
        "author" | "dc:creator" | "creator" | "atom:author" | "dc:author" => Field::Author,
        _ => return None,
    })
}

/// Text being collected for one field.
struct Capture {
    field: Field,
    /// Stack depth of the field's element.
    depth: usize,
    text: String,
    /// For authors: the text of a `<name>` child, which beats the whole element's text.
    name: Option<String>,
    in_name: bool,
    /// Inside a `<script>`/`<style>` child (its depth): text there is never shown to a reader.
    skip_from: Option<usize>,
    base: Option<Url>,
}

struct OpenItem {
    depth: usize,
    entry: RawEntry,
}

/// An open element: its name as written and the `xml:base` in effect inside it.
struct Frame<'a> {
    name: &'a str,
    base: Option<Url>,
}

/// Extracts up to `max_entries` items from any XML-ish document.
pub(crate) fn extract(source: &str, feed_url: &Url, max_entries: usize) -> Vec<RawEntry> {
    let mut entries = Vec::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut untracked_depth = 0usize;
    let mut item: Option<OpenItem> = None;
    let mut capture: Option<Capture> = None;

    for token in (Tokenizer { source, pos: 0 }) {
        match token {
            Token::Start(tag, self_closing) => {
                if stack.len() >= MAX_TRACKED_DEPTH {
                    if !self_closing {
                        untracked_depth += 1;
                    }
                    continue;
                }
                let parent_base = stack.last().and_then(|frame| frame.base.clone());
                let base = match tag.attr("xml:base") {
                    Some(href) => {
                        parent_base.as_ref().unwrap_or(feed_url).join(href.trim()).ok().or(parent_base)
                    }
                    None => parent_base,
                };
                let lower = tag.name.to_ascii_lowercase();
                let local = lower.rsplit(':').next().unwrap_or(&lower);
                stack.push(Frame { name: tag.name, base: base.clone() });
                let depth = stack.len();

                if let Some(open) = capture.as_mut() {
                    // Markup inside a field: keep its text, separate words.
                    open.text.push(' ');
                    if open.skip_from.is_none() && !self_closing && (local == "script" || local == "style") {
                        open.skip_from = Some(depth);
                    }
                    if open.field == Field::Author && local == "name" {
                        open.in_name = true;
                        open.name.get_or_insert_with(String::new);
                    }
                } else if local == "item" || local == "entry" {
                    if let Some(done) = item.take() {
                        entries.push(done.entry);
                    }
                    if entries.len() >= max_entries {
                        return entries;
                    }
                    let mut entry = RawEntry::default();
                    // CDF puts the link and date on the item element itself.
                    if let Some(href) = tag.attr_ignore_case("href") {
                        entry.links.push(RawLink {
                            href: decode_text(href),
                            rel: None,
                            media_type: None,
                            base: base.clone(),
                        });
                    }
                    if let Some(lastmod) = tag.attr_ignore_case("lastmod") {
                        entry.updated = parse_date(lastmod);
                    }
                    if let Some(about) = tag.attr("rdf:about").filter(|_| local == "item") {
                        entry.about = Some(decode_text(about));
                    }
                    item = Some(OpenItem { depth, entry });
                } else if let Some(open_item) = item.as_mut().filter(|open| depth == open.depth + 1)
                    && let Some(field) = field_for(&lower)
                {
                    if field == Field::Link && tag.attr("href").is_some() {
                        let href = tag.attr("href").unwrap_or_default();
                        open_item.entry.links.push(RawLink {
                            href: decode_text(href),
                            rel: tag.attr("rel").map(str::to_string),
                            media_type: tag.attr("type").map(str::to_string),
                            base: base.clone(),
                        });
                    } else if field == Field::Id && tag.attr("rdf:resource").is_some() {
                        open_item
                            .entry
                            .id
                            .get_or_insert_with(|| decode_text(tag.attr("rdf:resource").unwrap_or_default()));
                    } else if !self_closing {
                        capture = Some(Capture {
                            field,
                            depth,
                            text: String::new(),
                            name: None,
                            in_name: false,
                            skip_from: None,
                            base: base.clone(),
                        });
                    }
                }
                if self_closing {
                    close_to(stack.len() - 1, &mut stack, &mut item, &mut capture, &mut entries);
                }
            }
            Token::End(name) => {
                if untracked_depth > 0 {
                    untracked_depth -= 1;
                    continue;
                }
                // Close the nearest open element of that name; an end tag that matches nothing
                // open is ignored, as browsers do.
                if let Some(index) = stack.iter().rposition(|frame| frame.name.eq_ignore_ascii_case(name)) {
                    if let Some(open) = capture.as_mut()
                        && open.in_name
                        && name.rsplit(':').next().is_some_and(|local| local.eq_ignore_ascii_case("name"))
                    {
                        open.in_name = false;
                    }
                    close_to(index, &mut stack, &mut item, &mut capture, &mut entries);
                }
            }
            Token::Text(raw) => {
                if let Some(open) = capture.as_mut() {
                    let text = decode_text(raw);
                    push_captured(open, &text);
                }
            }
            Token::CData(raw) => {
                if let Some(open) = capture.as_mut() {
                    push_captured(open, raw);
                }
            }
        }
        if entries.len() >= max_entries {
            return entries;
        }
    }
    // A document cut off mid-item still gives that item: the monitor would rather see it.
    if let Some(open) = capture.take()
        && let Some(open_item) = item.as_mut()
    {
        finish_capture(open, &mut open_item.entry);
    }
    if let Some(done) = item.take() {
        entries.push(done.entry);
    }
    entries.truncate(max_entries);
    entries
}

fn push_captured(open: &mut Capture, text: &str) {
    if open.skip_from.is_some() {
        return;
    }
    if open.in_name {
        open.name.get_or_insert_with(String::new).push_str(text);
    } else {
        open.text.push_str(text);
    }
}

/// Pops the stack down to `len` elements, finishing any field or item that ends with them.
fn close_to(
    len: usize,
    stack: &mut Vec<Frame<'_>>,
    item: &mut Option<OpenItem>,
    capture: &mut Option<Capture>,
    entries: &mut Vec<RawEntry>,
) {
    stack.truncate(len);
    if let Some(open) = capture.as_mut()
        && open.skip_from.is_some_and(|depth| depth > len)
    {
        open.skip_from = None;
    }
    if capture.as_ref().is_some_and(|open| open.depth > len)
        && let Some(open) = capture.take()
        && let Some(open_item) = item.as_mut()
    {
        finish_capture(open, &mut open_item.entry);
    }
    if item.as_ref().is_some_and(|open| open.depth > len)
        && let Some(done) = item.take()
    {
        entries.push(done.entry);
    }
}

/// Stores a finished field in the entry; the first occurrence of a field wins.
fn finish_capture(open: Capture, entry: &mut RawEntry) {
    let text = open.text.trim();
    match open.field {
        Field::Title => {
            entry.title.get_or_insert_with(|| text.to_string());
        }
        Field::Link => {
            if !text.is_empty() {
                entry.links.push(RawLink {
                    href: text.to_string(),
                    rel: None,
                    media_type: None,
                    base: open.base,
                });
            }
        }
        Field::Id => {
            if !text.is_empty() {
                entry.id.get_or_insert_with(|| text.to_string());
            }
        }
        Field::Summary => {
            entry.summary.get_or_insert_with(|| text.to_string());
        }
        Field::Content => {
            entry.content.get_or_insert_with(|| text.to_string());
        }
        Field::Published => {
            if entry.published.is_none() {
                entry.published = parse_date(text);
            }
        }
        Field::Updated => {
            if entry.updated.is_none() {
                entry.updated = parse_date(text);
            }
        }
        Field::Author => {
            let name = open.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(text);
            if !name.is_empty() {
                entry.authors.push(name.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.com/feed.xml").expect("static URL")
    }

    #[test]
    fn atom03_entries_with_dates_and_author_names() {
        let doc = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title mode="escaped">A &amp;lt;b&amp;gt;</title>
            <link rel="alternate" type="text/html" href="/a"/><id>tag:x,2004:1</id><issued>2004-01-01T00:00:00Z</issued>
            <modified>2004-01-02T00:00:00Z</modified><author><name>Ann</name><email>a@x</email></author></entry></feed>"#;
        let entries = extract(doc, &base(), 10);
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry.title.as_deref(), Some("A &lt;b&gt;"));
        assert_eq!(entry.id.as_deref(), Some("tag:x,2004:1"));
        assert_eq!(entry.links[0].href, "/a");
        assert_eq!(entry.authors, ["Ann"]);
        assert!(entry.published.is_some() && entry.updated.is_some());
    }

    #[test]
    fn truncated_document_keeps_complete_and_partial_items() {
        let doc = "<rss><channel><item><title>one</title></item><item><title>two</title><description>cut";
        let entries = extract(doc, &base(), 10);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].summary.as_deref(), Some("cut"));
    }

    #[test]
    fn unclosed_and_mismatched_tags_do_not_lose_items() {
        let doc =
            "<rss><channel><item><title>a < b</title><p></item><item><title>c</title></item></chanel></rss>";
        let entries = extract(doc, &base(), 10);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].title.as_deref(), Some("a < b"));
    }

    #[test]
    fn cdf_items_take_href_and_lastmod_attributes() {
        let doc = r#"<CHANNEL HREF="http://example.com/"><ITEM HREF="http://example.com/1" LASTMOD="2004-01-01T00:00"><TITLE>t</TITLE><ABSTRACT>s</ABSTRACT></ITEM></CHANNEL>"#;
        let entries = extract(doc, &base(), 10);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].links[0].href, "http://example.com/1");
        assert_eq!(entries[0].summary.as_deref(), Some("s"));
        assert!(entries[0].updated.is_some());
    }

    #[test]
    fn xml_base_is_tracked_per_element() {
        let doc = r#"<feed xml:base="http://a.example/dir/"><entry xml:base="sub/"><link href="x"/></entry></feed>"#;
        let entries = extract(doc, &base(), 10);
        let link = &entries[0].links[0];
        assert_eq!(link.base.as_ref().map(Url::as_str), Some("http://a.example/dir/sub/"));
    }

    #[test]
    fn extraction_is_bounded() {
        let doc = "<rss>".to_string() + &"<item><title>x</title></item>".repeat(50) + "</rss>";
        assert_eq!(extract(&doc, &base(), 7).len(), 7);
        let deep = "<a>".repeat(100_000) + "<item><title>deep</title></item>";
        assert!(extract(&deep, &base(), 10).len() <= 1);
    }
}
