//! Textual repairs on a decoded document before feed-rs sees it, for the places where feed-rs
//! is stricter than the web: `<rss>` without (or with an unknown) `version`, `<rss>` without
//! `<channel>`, a stray default namespace on `<rss>`, the RSS 0.90 namespace, unescaped `&`,
//! HTML named entities, character references quick-xml rejects (`&#0;`, `&#X41;`), XML
//! declarations (which would make quick-xml re-decode our UTF-8) and an unclosed CDATA section at
//! the end. One linear scan; the text is copied only when something is actually changed. No I/O.

use super::plain::{named_entity, numeric_char};
use std::borrow::Cow;

/// What the root element says the document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    /// `<rss>` with its `version` attribute as written.
    Rss { version: Option<String> },
    /// `<rdf:RDF>`: RSS 1.0, or RSS 0.90 when it uses the Netscape namespace.
    Rdf { rss090: bool },
    /// `<feed>`: Atom 1.0, or Atom 0.3 (the purl.org namespace).
    Atom { atom03: bool },
    /// `<channel>` as the root: CDF, or RSS whose `<rss>` wrapper was lost.
    Channel,
    /// Some other element (its local name, lower case).
    Other(String),
    /// No element at all.
    Missing,
}

/// A document ready for feed-rs.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub text: Cow<'a, str>,
    pub root: Root,
    pub repairs: Vec<&'static str>,
    /// `<item>`/`<entry>` start tags outside CDATA and comments: how many items the document
    /// plainly has (up to the cap), to notice a parser that silently read fewer.
    pub item_tags: usize,
}

/// The body is cut before its element number `MAX_ELEMENTS + 1` (counting start tags outside
/// CDATA and comments), whatever the items: feed-rs spends some 400 bytes on each element it
/// keeps (200,000 `<link/>` in one entry cost 80 MiB), and a real feed at the item cap has
/// tens of thousands at most (1,000 items of 30 elements; XHTML content adds a few hundred each).
pub(crate) const MAX_ELEMENTS: usize = 100_000;

/// Elements deeper than this are not tracked for closing a truncated document (feeds nest a
/// handful deep; the fallback extractor tracks the same depth).
const MAX_OPEN_ELEMENTS: usize = 64;

const RSS090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS10_NS: &str = "http://purl.org/rss/1.0/";
const ATOM03_NS: &str = "http://purl.org/atom/ns#";

/// One replacement of `start..end` in the original text.
struct Edit {
    start: usize,
    end: usize,
    replacement: Cow<'static, str>,
}

/// Repairs `text` (already decoded) for feed-rs, keeping at most `max_items` items: the document
/// is cut just before the start tag of item `max_items + 1` and the elements open there are
/// closed, so no parser ever builds more entries than the cap, whatever the input holds (a
/// million `<item/>` costs a scan, not a million entries).
pub(crate) fn prepare(text: Cow<'_, str>, max_items: usize) -> Prepared<'_> {
    let mut repairs = Vec::new();
    // The prolog's edits (a handful) and the ones to apply later, near the end.
    let mut edits = Vec::new();
    let mut deferred = Vec::new();
    let source: &str = &text;
    let bytes = source.as_bytes();

    // Anything before the first `<` (a stray BOM, whitespace, a PHP notice) goes.
    let first_lt = memchr::memchr(b'<', bytes).unwrap_or(bytes.len());
    if !source[..first_lt].trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').is_empty() {
        repairs.push("leading-junk-removed");
    }
    let mut cut = first_lt;

    // Walk the prolog to the root element.
    let mut pos = first_lt;
    let mut root = Root::Missing;
    let mut root_tag_end = bytes.len();
    let mut rss_root = false;
    let mut open: Vec<&str> = Vec::new();
    while pos < bytes.len() {
        let Some(offset) = memchr::memchr(b'<', &bytes[pos..]) else {
            break;
        };
        pos += offset;
        let rest = &source[pos..];
        if is_xml_declaration(rest) {
            let end = find_from(bytes, pos, b"?>").map_or(bytes.len(), |e| e + 2);
            if pos == cut {
                cut = end;
            } else {
                edits.push(Edit { start: pos, end, replacement: Cow::Borrowed("") });
            }
            pos = end;
        } else if rest.starts_with("<?") {
            pos = find_from(bytes, pos, b"?>").map_or(bytes.len(), |e| e + 2);
        } else if rest.starts_with("<!--") {
            pos = find_from(bytes, pos + 4, b"-->").map_or(bytes.len(), |e| e + 3);
        } else if rest.starts_with("<!") {
            pos = doctype_end(bytes, pos);
        } else {
            let tag = StartTag::parse(source, pos);
            root_tag_end = tag.end;
            root = classify_root(&tag);
            rss_root = matches!(root, Root::Rss { .. }) && !tag.self_closing(source);
            if !tag.self_closing(source) {
                open.push(tag.name);
            }
            fix_root(source, &tag, &root, &mut edits, &mut repairs);
            pos = tag.end;
            break;
        }
    }

    // `<rss>` whose items sit directly under it: give feed-rs the `<channel>` it requires.
    if rss_root && memchr::memmem::find(&bytes[root_tag_end.min(bytes.len())..], b"<channel").is_none() {
        repairs.push("rss-without-channel");
        edits.push(Edit { start: root_tag_end, end: root_tag_end, replacement: Cow::Borrowed("<channel>") });
        let close =
            memchr::memmem::rfind(bytes, b"</rss").filter(|c| *c >= root_tag_end).unwrap_or(bytes.len());
        // Found now, applied when the text gets there.
        deferred.push(Edit { start: close, end: close, replacement: Cow::Borrowed("</channel>") });
        open.push("channel");
    }

    // The prolog's few edits, in order, then the body's as the scan finds them: the repaired
    // text is built during the scan, so its cost is the text, not a list of edits (a document
    // of bare `&` makes one edit every two bytes).
    let mut out = Builder::new(source, cut);
    edits.sort_by_key(|edit| edit.start);
    for edit in edits {
        out.edit(edit);
    }
    for edit in deferred {
        out.defer(edit);
    }
    let scan = scan_body(source, pos, &mut out, &mut repairs, open, max_items);
    let built = match scan.truncation {
        Some(truncation) => {
            repairs.push(truncation.note);
            // Repairs past the cut would apply to text that is gone.
            out.finish(truncation.at, &truncation.closing)
        }
        None => out.finish(bytes.len(), ""),
    };
    let item_tags = scan.item_tags;

    let text = match built {
        Some(repaired) => Cow::Owned(repaired),
        None => cut_front(text, cut),
    };
    Prepared { text, root, repairs, item_tags }
}

/// The repaired text, built as edits come: nothing is copied until the first edit, then the
/// source up to each edit and its replacement. Edits come in order of position, except the few
/// `defer`red ones (an insertion near the end found early), merged in when the text gets there.
struct Builder<'s> {
    source: &'s str,
    out: Option<String>,
    /// The source before this position is in `out` (or cut from the front).
    done: usize,
    /// Deferred edits, sorted by position.
    deferred: Vec<Edit>,
}

impl<'s> Builder<'s> {
    fn new(source: &'s str, cut: usize) -> Builder<'s> {
        Builder { source, out: None, done: cut, deferred: Vec::new() }
    }

    fn defer(&mut self, edit: Edit) {
        let at = self.deferred.partition_point(|deferred| deferred.start <= edit.start);
        self.deferred.insert(at, edit);
    }

    fn edit(&mut self, edit: Edit) {
        self.flush_deferred(edit.start, true);
        self.apply(edit.start, edit.end, &edit.replacement);
    }

    /// Applies the deferred edits before `position` (and at it, when `inclusive`).
    fn flush_deferred(&mut self, position: usize, inclusive: bool) {
        while self.deferred.first().is_some_and(|d| d.start < position || (inclusive && d.start == position))
        {
            let deferred = self.deferred.remove(0);
            self.apply(deferred.start, deferred.end, &deferred.replacement);
        }
    }

    fn apply(&mut self, start: usize, end: usize, replacement: &str) {
        // Overlapping edits cannot come out of one scan, but stay safe if they do.
        if start < self.done {
            return;
        }
        let (source, done) = (self.source, self.done);
        let out = self.out.get_or_insert_with(|| String::with_capacity(source.len() - done + 64));
        out.push_str(&source[done..start]);
        out.push_str(replacement);
        self.done = end;
    }

    /// The repaired text up to `end` (deferred edits at or after it are dropped), followed by
    /// `closing`; `None` when nothing was changed, so the caller keeps the text it has.
    fn finish(mut self, end: usize, closing: &str) -> Option<String> {
        let whole = end >= self.source.len();
        self.flush_deferred(end, whole);
        if self.out.is_none() && whole && closing.is_empty() {
            return None;
        }
        self.apply(end, end, closing);
        self.out
    }
}

/// `text` without its first `cut` bytes; borrowed input stays borrowed.
fn cut_front(text: Cow<'_, str>, cut: usize) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(borrowed) => Cow::Borrowed(&borrowed[cut..]),
        Cow::Owned(mut owned) => {
            owned.drain(..cut);
            Cow::Owned(owned)
        }
    }
}

/// What [`scan_body`] found.
struct Scan {
    item_tags: usize,
    truncation: Option<Truncation>,
}

/// Where the document is cut (the start of the first item over the cap) and the end tags that
/// close the elements open there.
struct Truncation {
    at: usize,
    closing: String,
    /// The repair note: which cap was reached.
    note: &'static str,
}

/// Scans the body: fixes `&` and character references, drops misplaced XML declarations,
/// closes a CDATA section left open at the end, and counts item start tags. `open` holds the
/// elements open where the body starts (the root, and a `<channel>` we inserted); the scan
/// tracks open elements so it can stop at item `max_items + 1` and close what is open there.
fn scan_body<'a>(
    source: &'a str,
    mut pos: usize,
    out: &mut Builder<'_>,
    repairs: &mut Vec<&'static str>,
    mut open: Vec<&'a str>,
    max_items: usize,
) -> Scan {
    let bytes = source.as_bytes();
    let mut item_tags = 0;
    let mut elements = 0;
    let mut truncation = None;
    // Elements opened beyond MAX_OPEN_ELEMENTS are counted, not named.
    let mut untracked = 0usize;
    let mut ampersands_fixed = false;
    let mut entities_fixed = false;
    let mut char_refs_fixed = false;
    while pos < bytes.len() {
        let Some(offset) = memchr::memchr2(b'<', b'&', &bytes[pos..]) else {
            break;
        };
        pos += offset;
        if bytes[pos] == b'&' {
            let (consumed, fix) = check_reference(&source[pos..]);
            match fix {
                RefFix::Keep => {}
                RefFix::Escape => {
                    ampersands_fixed = true;
                    out.edit(Edit { start: pos, end: pos + 1, replacement: Cow::Borrowed("&amp;") });
                }
                RefFix::Replace(text, kind) => {
                    match kind {
                        RefKind::Named => entities_fixed = true,
                        RefKind::Numeric => char_refs_fixed = true,
                    }
                    out.edit(Edit { start: pos, end: pos + consumed, replacement: Cow::Owned(text) });
                }
            }
            pos += consumed.max(1);
            continue;
        }
        let rest = &bytes[pos..];
        if rest.starts_with(b"<![CDATA[") {
            match find_from(bytes, pos + 9, b"]]>") {
                Some(end) => pos = end + 3,
                None => {
                    repairs.push("unclosed-cdata");
                    out.edit(Edit {
                        start: bytes.len(),
                        end: bytes.len(),
                        replacement: Cow::Borrowed("]]>"),
                    });
                    pos = bytes.len();
                }
            }
        } else if rest.starts_with(b"<!--") {
            pos = find_from(bytes, pos + 4, b"-->").map_or(bytes.len(), |e| e + 3);
        } else if is_xml_declaration(&source[pos..]) {
            let end = find_from(bytes, pos, b"?>").map_or(bytes.len(), |e| e + 2);
            repairs.push("misplaced-xml-declaration");
            out.edit(Edit { start: pos, end, replacement: Cow::Borrowed("") });
            pos = end;
        } else {
            let cap = if is_item_tag(rest) && item_tags == max_items {
                Some("items-beyond-cap-ignored")
            } else if elements == MAX_ELEMENTS && is_start_tag(rest) {
                Some("elements-beyond-cap-ignored")
            } else {
                None
            };
            if let Some(note) = cap {
                let closing = open.iter().rev().map(|name| format!("</{name}>")).collect();
                truncation = Some(Truncation { at: pos, closing, note });
                break;
            }
            item_tags += usize::from(is_item_tag(rest));
            elements += usize::from(is_start_tag(rest));
            track_element(source, pos, &mut open, &mut untracked);
            pos += 1;
        }
    }
    if ampersands_fixed {
        repairs.push("unescaped-ampersand");
    }
    if entities_fixed {
        repairs.push("html-entities");
    }
    if char_refs_fixed {
        repairs.push("invalid-char-reference");
    }
    Scan { item_tags, truncation }
}

/// Whether `rest` starts with a start tag (`<name`), not an end tag or a declaration.
fn is_start_tag(rest: &[u8]) -> bool {
    rest.get(1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b':')
}

/// Updates the open elements for the tag at `pos` (`<name …>`, `<name/>` or `</name>`; other
/// `<!…>`/`<?…>` constructs and stray `<` change nothing). An end tag closes up to its nearest
/// open namesake, as lenient parsers do; one with no namesake is ignored.
fn track_element<'a>(source: &'a str, pos: usize, open: &mut Vec<&'a str>, untracked: &mut usize) {
    let bytes = source.as_bytes();
    match bytes.get(pos + 1) {
        Some(b'/') => {
            let name_start = pos + 2;
            let name_end = bytes[name_start..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || *b == b'>')
                .map_or(bytes.len(), |p| name_start + p);
            let name = &source[name_start..name_end];
            if *untracked > 0 {
                *untracked -= 1;
            } else if let Some(index) = open.iter().rposition(|open_name| *open_name == name) {
                open.truncate(index);
            }
        }
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' || *b == b':' => {
            let (name, self_closing) = start_tag_name(source, pos);
            if self_closing {
                return;
            }
            if open.len() >= MAX_OPEN_ELEMENTS || *untracked > 0 {
                *untracked += 1;
            } else {
                open.push(name);
            }
        }
        _ => {}
    }
}

/// The name of the start tag at `pos` and whether it closes itself, read without building its
/// attributes (this runs for every tag of the body): quoted attribute values may hold `>`.
fn start_tag_name(source: &str, pos: usize) -> (&str, bool) {
    let bytes = source.as_bytes();
    let name_end = bytes[pos + 1..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .map_or(bytes.len(), |p| pos + 1 + p);
    let mut quote = None;
    for (index, &byte) in bytes.iter().enumerate().skip(name_end) {
        match (quote, byte) {
            (Some(open), _) if byte == open => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'>') => return (&source[pos + 1..name_end], bytes[index - 1] == b'/'),
            (None, b'<') => break,
            (None, _) => {}
        }
    }
    (&source[pos + 1..name_end], false)
}

enum RefKind {
    Named,
    Numeric,
}

enum RefFix {
    Keep,
    /// A bare `&`: escape it.
    Escape,
    /// Replace the reference with this text (a numeric reference quick-xml accepts).
    Replace(String, RefKind),
}

/// Decides what to do with the `&` at the start of `rest`; returns the bytes the reference spans.
fn check_reference(rest: &str) -> (usize, RefFix) {
    let bytes = rest.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        let hex = matches!(bytes.get(2), Some(b'x' | b'X'));
        let digits_start = if hex { 3 } else { 2 };
        let digits_len = bytes[digits_start..]
            .iter()
            .take_while(|b| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() })
            .count();
        let end = digits_start + digits_len;
        if digits_len == 0 || bytes.get(end) != Some(&b';') {
            return (1, RefFix::Escape);
        }
        let value =
            u32::from_str_radix(&rest[digits_start..end], if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
        let ch = numeric_char(value);
        // quick-xml rejects `&#0;`, code points beyond Unicode, surrogates and an upper-case `X`;
        // C1 controls are almost always Windows-1252 text and are remapped as browsers do.
        let acceptable = bytes[2] != b'X' && ch as u32 == value && is_xml_char(ch);
        if acceptable {
            return (end + 1, RefFix::Keep);
        }
        let ch = if is_xml_char(ch) { ch } else { char::REPLACEMENT_CHARACTER };
        return (end + 1, RefFix::Replace(format!("&#{};", ch as u32), RefKind::Numeric));
    }
    let name_len = bytes[1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-' || **b == b'.')
        .count();
    let end = 1 + name_len;
    if name_len == 0 || bytes.get(end) != Some(&b';') {
        return (1, RefFix::Escape);
    }
    let name = &rest[1..end];
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        return (end + 1, RefFix::Keep);
    }
    match named_entity(name) {
        Some(text) => {
            let mut replacement = format!("&#{};", text.first as u32);
            if let Some(second) = text.second {
                replacement.push_str(&format!("&#{};", second as u32));
            }
            (end + 1, RefFix::Replace(replacement, RefKind::Named))
        }
        // Unknown names (`&lol9;` from a DTD we never expand) stay literal: feed-rs keeps them
        // as text, which is the safe reading of entity bombs.
        None => (end + 1, RefFix::Keep),
    }
}

fn is_xml_char(ch: char) -> bool {
    matches!(ch as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// `<item`, `<entry`, `<rss:item`, `<atom:entry` followed by a delimiter.
fn is_item_tag(rest: &[u8]) -> bool {
    let name_end = rest[1..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .map_or(rest.len(), |p| p + 1);
    let name = &rest[1..name_end];
    let local = name.iter().rposition(|b| *b == b':').map_or(name, |colon| &name[colon + 1..]);
    name_end < rest.len() && (local == b"item" || local == b"entry")
}

fn is_xml_declaration(rest: &str) -> bool {
    rest.len() > 5 && rest.starts_with("<?xml") && rest.as_bytes()[5].is_ascii_whitespace()
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|offset| from + offset)
}

/// The end of a `<!DOCTYPE …>` (or other `<!…>`) declaration, skipping an internal subset.
fn doctype_end(bytes: &[u8], pos: usize) -> usize {
    let mut depth = 0usize;
    for (index, byte) in bytes.iter().enumerate().skip(pos + 2) {
        match byte {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'>' if depth == 0 => return index + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// A start tag's name and attributes, as byte spans in the source.
pub(crate) struct StartTag<'a> {
    pub name: &'a str,
    /// Byte index just after the name.
    pub name_end: usize,
    /// (name, value, span of the whole attribute) for each attribute.
    pub attributes: Vec<(&'a str, &'a str, (usize, usize))>,
    /// Byte index just past the closing `>`.
    pub end: usize,
}

impl<'a> StartTag<'a> {
    /// Parses the start tag at `pos` (which holds `<`), leniently: unquoted values are allowed.
    pub(crate) fn parse(source: &'a str, pos: usize) -> StartTag<'a> {
        let bytes = source.as_bytes();
        let mut index = pos + 1;
        while index < bytes.len()
            && !(bytes[index].is_ascii_whitespace() || bytes[index] == b'>' || bytes[index] == b'/')
        {
            index += 1;
        }
        let name = &source[pos + 1..index];
        let name_end = index;
        let mut attributes = Vec::new();
        loop {
            while index < bytes.len() && (bytes[index].is_ascii_whitespace() || bytes[index] == b'/') {
                index += 1;
            }
            if index >= bytes.len() || bytes[index] == b'>' {
                break;
            }
            let attr_start = index;
            while index < bytes.len()
                && !(bytes[index].is_ascii_whitespace() || matches!(bytes[index], b'=' | b'>' | b'/'))
            {
                index += 1;
            }
            let attr_name = &source[attr_start..index];
            while index < bytes.len() && bytes[index].is_ascii_whitespace() {
                index += 1;
            }
            let mut value = "";
            if bytes.get(index) == Some(&b'=') {
                index += 1;
                while index < bytes.len() && bytes[index].is_ascii_whitespace() {
                    index += 1;
                }
                match bytes.get(index) {
                    Some(&quote @ (b'"' | b'\'')) => {
                        let value_end =
                            memchr::memchr(quote, &bytes[index + 1..]).map_or(bytes.len(), |e| index + 1 + e);
                        value = &source[index + 1..value_end];
                        index = (value_end + 1).min(bytes.len());
                    }
                    _ => {
                        let value_start = index;
                        while index < bytes.len()
                            && !(bytes[index].is_ascii_whitespace() || bytes[index] == b'>')
                        {
                            index += 1;
                        }
                        value = &source[value_start..index];
                    }
                }
            }
            if attr_name.is_empty() {
                index += 1;
                continue;
            }
            attributes.push((attr_name, value, (attr_start, index)));
        }
        let end = (index + 1).min(bytes.len());
        StartTag { name, name_end, attributes, end }
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&'a str> {
        self.attributes.iter().find(|(n, _, _)| *n == name).map(|(_, v, _)| *v)
    }

    /// An attribute by name ignoring ASCII case (CDF writes `HREF`, `LASTMOD`).
    pub(crate) fn attr_ignore_case(&self, name: &str) -> Option<&'a str> {
        self.attributes.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)).map(|(_, v, _)| *v)
    }

    /// Whether the tag closes itself (`<rss/>`).
    pub(crate) fn self_closing(&self, source: &str) -> bool {
        source.as_bytes()[..self.end].ends_with(b"/>")
    }
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn classify_root(tag: &StartTag<'_>) -> Root {
    let local = local_name(tag.name).to_ascii_lowercase();
    match local.as_str() {
        "rss" => Root::Rss { version: tag.attr("version").map(|v| v.trim().to_string()) },
        "rdf" => {
            let default_ns = tag.attr("xmlns").unwrap_or("");
            Root::Rdf { rss090: default_ns == RSS090_NS }
        }
        "feed" => Root::Atom {
            atom03: tag.attr("xmlns").is_some_and(|ns| ns == ATOM03_NS) || tag.attr("version") == Some("0.3"),
        },
        "channel" => Root::Channel,
        _ => Root::Other(local),
    }
}

/// Root-element repairs: `version` on `<rss>`, a default namespace feed-rs can't place.
fn fix_root(
    source: &str,
    tag: &StartTag<'_>,
    root: &Root,
    edits: &mut Vec<Edit>,
    repairs: &mut Vec<&'static str>,
) {
    match root {
        Root::Rss { version } => {
            // feed-rs dispatches on the exact version string; RSS 0.93/0.94/2.01 and friends read
            // fine as 2.0, which is what feedparser does too.
            match version.as_deref() {
                None => {
                    repairs.push("rss-version-missing");
                    edits.push(Edit {
                        start: tag.name_end,
                        end: tag.name_end,
                        replacement: Cow::Borrowed(" version=\"2.0\""),
                    });
                }
                Some("2.0" | "0.91" | "0.92") => {}
                Some(_) => {
                    repairs.push("rss-version-unknown");
                    if let Some((_, _, span)) = tag.attributes.iter().find(|(n, _, _)| *n == "version") {
                        edits.push(Edit {
                            start: span.0,
                            end: span.1,
                            replacement: Cow::Borrowed("version=\"2.0\""),
                        });
                    }
                }
            }
            // RSS 2.0 has no namespace; a default one on `<rss>` moves every child out of the
            // namespace feed-rs looks in, so it reads zero items.
            if let Some((_, _, span)) = tag.attributes.iter().find(|(n, _, _)| *n == "xmlns") {
                repairs.push("stray-default-namespace");
                edits.push(Edit { start: span.0, end: span.1, replacement: Cow::Borrowed("") });
            }
        }
        Root::Rdf { rss090: true } => {
            if let Some((_, _, span)) = tag.attributes.iter().find(|(n, _, _)| *n == "xmlns") {
                repairs.push("rss090-namespace");
                let _ = source;
                edits.push(Edit {
                    start: span.0,
                    end: span.1,
                    replacement: Cow::Owned(format!("xmlns=\"{RSS10_NS}\"")),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Vec<&'static str>, Root) {
        let prepared = prepare(Cow::Borrowed(text), usize::MAX);
        (prepared.text.into_owned(), prepared.repairs, prepared.root)
    }

    #[test]
    fn xml_declaration_and_leading_junk_are_removed() {
        let (text, repairs, _) =
            run("\n Warning: x\n<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss version=\"2.0\"/>");
        assert_eq!(text, "<rss version=\"2.0\"/>");
        assert_eq!(repairs, ["leading-junk-removed"]);
    }

    #[test]
    fn well_formed_input_is_not_copied() {
        let source =
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><item>a &amp; b</item></channel></rss>";
        let prepared = prepare(Cow::Borrowed(source), usize::MAX);
        assert!(matches!(prepared.text, Cow::Borrowed(_)));
        assert!(prepared.repairs.is_empty());
        assert_eq!(prepared.item_tags, 1);
    }

    #[test]
    fn rss_without_version_gets_one() {
        let (text, repairs, root) = run("<rss><channel></channel></rss>");
        assert_eq!(text, "<rss version=\"2.0\"><channel></channel></rss>");
        assert_eq!(repairs, ["rss-version-missing"]);
        assert_eq!(root, Root::Rss { version: None });
    }

    #[test]
    fn unknown_rss_version_becomes_2_0() {
        let (text, repairs, _) = run("<rss version=\"0.94\"><channel/></rss>");
        assert_eq!(text, "<rss version=\"2.0\"><channel/></rss>");
        assert_eq!(repairs, ["rss-version-unknown"]);
    }

    #[test]
    fn stray_default_namespace_on_rss_is_dropped() {
        let (text, repairs, _) = run("<rss xmlns=\"http://example.com/x\" version=\"2.0\"><channel/></rss>");
        assert_eq!(text, "<rss  version=\"2.0\"><channel/></rss>");
        assert_eq!(repairs, ["stray-default-namespace"]);
    }

    #[test]
    fn rss_without_channel_is_wrapped() {
        let (text, repairs, _) = run("<rss version=\"2.0\"><item><title>t</title></item></rss>");
        assert_eq!(text, "<rss version=\"2.0\"><channel><item><title>t</title></item></channel></rss>");
        assert_eq!(repairs, ["rss-without-channel"]);
    }

    #[test]
    fn rss090_namespace_is_mapped_to_rss10() {
        let (text, repairs, root) = run(
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"><item/></rdf:RDF>",
        );
        assert!(text.contains("xmlns=\"http://purl.org/rss/1.0/\""));
        assert_eq!(repairs, ["rss090-namespace"]);
        assert_eq!(root, Root::Rdf { rss090: true });
    }

    #[test]
    fn unescaped_ampersands_are_escaped_in_text_and_attributes() {
        let (text, repairs, _) = run(
            "<rss version=\"2.0\"><channel><link href=\"a?b=1&c=2\">Q&A &amp; more</link></channel></rss>",
        );
        assert!(text.contains("href=\"a?b=1&amp;c=2\""));
        assert!(text.contains("Q&amp;A &amp; more"));
        assert_eq!(repairs, ["unescaped-ampersand"]);
    }

    #[test]
    fn html_entities_become_numeric_references_but_unknown_ones_stay() {
        let (text, repairs, _) =
            run("<rss version=\"2.0\"><channel><title>a&nbsp;b&mdash;c &lol9;</title></channel></rss>");
        assert!(text.contains("a&#160;b&#8212;c &lol9;"), "{text}");
        assert_eq!(repairs, ["html-entities"]);
    }

    #[test]
    fn invalid_character_references_are_replaced() {
        let (text, repairs, _) =
            run("<rss version=\"2.0\"><channel><title>&#0;&#X41;&#150;&#x41;</title></channel></rss>");
        assert!(text.contains("&#65533;&#65;&#8211;&#x41;"), "{text}");
        assert_eq!(repairs, ["invalid-char-reference"]);
    }

    #[test]
    fn cdata_and_comments_are_left_alone() {
        let source = "<rss version=\"2.0\"><channel><description><![CDATA[a & b &nbsp; <item>]]></description><!-- & --></channel></rss>";
        let (text, repairs, _) = run(source);
        assert_eq!(text, source);
        assert!(repairs.is_empty());
    }

    #[test]
    fn unclosed_cdata_at_the_end_is_closed() {
        let (text, repairs, _) = run("<rss version=\"2.0\"><channel><item><title><![CDATA[cut off");
        assert!(text.ends_with("cut off]]>"));
        assert!(repairs.contains(&"unclosed-cdata"));
    }

    #[test]
    fn items_are_counted_with_or_without_prefix() {
        let prepared =
            prepare(Cow::Borrowed("<feed><entry/><atom:entry>x</atom:entry><entryx/><items/></feed>"), 10);
        assert_eq!(prepared.item_tags, 2);
        assert_eq!(prepared.root, Root::Atom { atom03: false });
    }

    #[test]
    fn items_over_the_cap_are_cut_and_open_elements_closed() {
        // A million empty items: the prepared text keeps three and closes channel and rss.
        let mut doc = String::from("<rss version=\"2.0\"><channel><title>t</title>");
        doc.push_str(&"<item/>".repeat(1_000_000));
        doc.push_str("</channel></rss>");
        let prepared = prepare(Cow::Borrowed(&doc), 3);
        assert_eq!(
            prepared.text,
            "<rss version=\"2.0\"><channel><title>t</title><item/><item/><item/></channel></rss>"
        );
        assert_eq!(prepared.item_tags, 3);
        assert!(prepared.repairs.contains(&"items-beyond-cap-ignored"));

        // Nested markup, a prefixed root, an inserted <channel>, repairs past the cut dropped.
        let rdf = "<rdf:RDF><channel><title>c</title></channel><item><title>a<b>x</b></title></item>\
                   <item><title>&amp; & more</title></item></rdf:RDF>";
        assert_eq!(
            prepare(Cow::Borrowed(rdf), 1).text,
            "<rdf:RDF><channel><title>c</title></channel><item><title>a<b>x</b></title></item>\
                   </rdf:RDF>"
        );
        let (bare, _, _) = run("<rss><item><title>a</title></item><item>b</item></rss>");
        assert!(bare.contains("<channel>"), "{bare}");
        let cut = prepare(Cow::Borrowed("<rss><item><title>a</title></item><item>b</item></rss>"), 1);
        assert_eq!(cut.text, "<rss version=\"2.0\"><channel><item><title>a</title></item></channel></rss>");
        // At the cap exactly, nothing is cut.
        let exact = prepare(Cow::Borrowed("<feed><entry/><entry/></feed>"), 2);
        assert_eq!(exact.text, "<feed><entry/><entry/></feed>");
        assert!(exact.repairs.is_empty());
    }

    #[test]
    fn elements_over_the_cap_are_cut_even_inside_one_item() {
        let links = "<link href=\"https://x.example/a\"/>".repeat(MAX_ELEMENTS + 10);
        let doc = format!("<feed><entry><id>urn:x</id>{links}</entry><entry/></feed>");
        let prepared = prepare(Cow::Borrowed(&doc), 10);
        assert!(prepared.repairs.contains(&"elements-beyond-cap-ignored"), "{:?}", prepared.repairs);
        assert!(prepared.text.ends_with("/></entry></feed>"), "closed where cut");
        // The root does not count: the cut falls after MAX_ELEMENTS elements of the body.
        assert_eq!(prepared.text.matches("<link ").count(), MAX_ELEMENTS - 2);
    }
}
