//! Markup to plain text for feed fields, in one pass and without building a DOM: tags dropped
//! (script and style with their content), entities decoded (the HTML5 named set, numeric
//! references with the Windows-1252 fix-up browsers apply), whitespace collapsed. Feed titles
//! and summaries are small and many, so this is much cheaper than a full HTML parse, and it
//! cannot be slowed down by nesting. No I/O.

/// Tags after which text must not run into the next word ("a</p><p>b" -> "a b"). Inline tags
/// (`b`, `a`, `span`, …) are dropped without a space so "Lav<b>rov</b>" stays one word.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
];

/// Converts an HTML fragment (or plain text that may hold entities) to collapsed plain text.
pub(crate) fn html_to_plain(fragment: &str) -> String {
    let mut out = String::with_capacity(fragment.len().min(4096));
    // Pending whitespace is written only before the next visible character, which both collapses
    // runs and trims the end.
    let mut pending_space = false;
    let bytes = fragment.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(offset) = memchr::memchr3(b'<', b'&', b'\n', &bytes[pos..]).map(|o| pos + o) else {
            // No more markup: copy the rest.
            push_text(&mut out, &fragment[pos..], &mut pending_space);
            break;
        };
        push_text(&mut out, &fragment[pos..offset], &mut pending_space);
        pos = offset;
        match bytes[pos] {
            b'\n' => {
                pending_space = true;
                pos += 1;
            }
            b'&' => {
                let (consumed, decoded) = decode_entity(&fragment[pos..]);
                match decoded {
                    Some(text) => push_text(&mut out, &text.as_str(), &mut pending_space),
                    None => push_text(&mut out, "&", &mut pending_space),
                }
                pos += consumed;
            }
            _ => {
                let (consumed, separates) = skip_markup(&fragment[pos..]);
                if consumed == 0 {
                    push_text(&mut out, "<", &mut pending_space);
                    pos += 1;
                } else {
                    pending_space |= separates;
                    pos += consumed;
                }
            }
        }
    }
    out
}

/// Appends `text`, collapsing whitespace runs to one space and dropping leading whitespace.
fn push_text(out: &mut String, text: &str, pending_space: &mut bool) {
    for ch in text.chars() {
        // C1 controls in decoded text are Windows-1252 bytes mislabelled as Latin-1 or
        // re-encoded as UTF-8 ("don\u{92}t"): read them as the punctuation they were meant to be.
        let ch = match ch {
            '\u{80}'..='\u{9f}' => C1_REPLACEMENTS[ch as usize - 0x80].unwrap_or(ch),
            _ => ch,
        };
        if ch.is_whitespace() {
            *pending_space = true;
        } else if ch.is_control() {
            // Control characters (ESC, NUL, …) never belong in a title or summary.
            continue;
        } else {
            if *pending_space && !out.is_empty() {
                out.push(' ');
            }
            *pending_space = false;
            out.push(ch);
        }
    }
}

/// Recognises the markup at the start of `rest` (which starts with `<`): a tag, comment,
/// CDATA section, doctype or processing instruction. Returns the bytes it spans (0 when this
/// `<` is just a less-than sign) and whether it separates words.
fn skip_markup(rest: &str) -> (usize, bool) {
    let bytes = rest.as_bytes();
    let Some(&next) = bytes.get(1) else {
        return (0, false);
    };
    if rest.starts_with("<!--") {
        let end = memchr::memmem::find(&bytes[4..], b"-->").map_or(bytes.len(), |e| e + 4 + 3);
        return (end, true);
    }
    if rest.starts_with("<![CDATA[") {
        // CDATA inside HTML is just text; drop the markers only.
        return ("<![CDATA[".len(), false);
    }
    if next == b'!' || next == b'?' {
        let end = memchr::memchr(b'>', bytes).map_or(bytes.len(), |e| e + 1);
        return (end, true);
    }
    let closing = next == b'/';
    let name_start = if closing { 2 } else { 1 };
    if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return (0, false);
    }
    let name_end = bytes[name_start..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b':' || *b == b'-'))
        .map_or(bytes.len(), |p| name_start + p);
    let qualified = rest[name_start..name_end].to_ascii_lowercase();
    // `xhtml:script` is a script too.
    let name = qualified.rsplit(':').next().unwrap_or(&qualified).to_string();
    let tag_end = tag_end(bytes, name_end);
    let separates = !INLINE_TAGS.contains(&name.as_str());
    if !closing && (name == "script" || name == "style") {
        // Skip the element's content too; it is never text a reader sees.
        let close = format!("</{qualified}");
        let lower_rest = &rest[tag_end..];
        let end =
            find_ascii_case_insensitive(lower_rest.as_bytes(), close.as_bytes()).map_or(bytes.len(), |e| {
                let after = tag_end + e;
                tag_end_from(bytes, after)
            });
        return (end, true);
    }
    (tag_end, separates)
}

/// The index just past the `>` closing a tag whose name ends at `from`, honouring quoted
/// attribute values; the end of input when unterminated.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote = None;
    for (index, byte) in bytes.iter().enumerate().skip(from) {
        match (quote, *byte) {
            (None, b'"' | b'\'') => quote = Some(*byte),
            (Some(q), b) if b == q => quote = None,
            (None, b'>') => return index + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// The index just past the next `>` at or after `from`.
fn tag_end_from(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'>', &bytes[from..]).map_or(bytes.len(), |e| from + e + 1)
}

/// Finds `needle` (ASCII lower case) in `haystack` ignoring ASCII case.
fn find_ascii_case_insensitive(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window.eq_ignore_ascii_case(needle))
}

/// Windows-1252 meanings of the C1 range, which HTML applies to numeric references
/// (`&#150;` is an en dash on every web page that uses it).
use web_atoms::C1_REPLACEMENTS;

/// Decodes one character or entity reference at the start of `rest` (which starts with `&`).
/// Returns the bytes consumed and the decoded text, or `(1, None)` when this `&` starts no
/// reference (it is then a literal ampersand).
pub(crate) fn decode_entity(rest: &str) -> (usize, Option<EntityText>) {
    let bytes = rest.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        let (radix, digits_start) = if matches!(bytes.get(2), Some(b'x' | b'X')) { (16, 3) } else { (10, 2) };
        let digits_len = bytes[digits_start..]
            .iter()
            .take_while(|b| if radix == 16 { b.is_ascii_hexdigit() } else { b.is_ascii_digit() })
            .count();
        if digits_len == 0 {
            return (1, None);
        }
        let digits_end = digits_start + digits_len;
        let consumed = if bytes.get(digits_end) == Some(&b';') { digits_end + 1 } else { digits_end };
        let value = u32::from_str_radix(&rest[digits_start..digits_end], radix).unwrap_or(u32::MAX);
        return (consumed, Some(EntityText::one(numeric_char(value))));
    }
    let name_len = bytes[1..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    if name_len == 0 {
        return (1, None);
    }
    let name_end = 1 + name_len;
    if bytes.get(name_end) == Some(&b';') {
        if let Some(text) = named_entity(&rest[1..name_end]) {
            return (name_end + 1, Some(text));
        }
        return (1, None);
    }
    // A few legacy references are recognised without the semicolon, as browsers do.
    const LEGACY: &[(&str, char)] =
        &[("nbsp", '\u{a0}'), ("amp", '&'), ("lt", '<'), ("gt", '>'), ("quot", '"'), ("copy", '©')];
    for (name, ch) in LEGACY {
        if &rest[1..name_end] == *name {
            return (name_end, Some(EntityText::one(*ch)));
        }
    }
    (1, None)
}

/// Looks up an HTML5 named reference (without `&` and `;`).
pub(crate) fn named_entity(name: &str) -> Option<EntityText> {
    let mut key = String::with_capacity(name.len() + 1);
    key.push_str(name);
    key.push(';');
    let &(first, second) = web_atoms::NAMED_ENTITIES.get(key.as_str())?;
    // Keys that are only prefixes of longer names map to (0, 0).
    let first = char::from_u32(first).filter(|_| first != 0)?;
    let second = char::from_u32(second).filter(|_| second != 0);
    Some(EntityText { first, second })
}

/// The character a numeric reference stands for, as HTML decodes it.
pub(crate) fn numeric_char(value: u32) -> char {
    match value {
        0x80..=0x9F => C1_REPLACEMENTS[(value - 0x80) as usize].unwrap_or(char::REPLACEMENT_CHARACTER),
        0 => char::REPLACEMENT_CHARACTER,
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// The one or two characters an entity decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntityText {
    pub first: char,
    pub second: Option<char>,
}

impl EntityText {
    fn one(first: char) -> Self {
        EntityText { first, second: None }
    }

    /// The decoded text.
    pub(crate) fn as_str(&self) -> String {
        let mut out = String::with_capacity(8);
        out.push(self.first);
        if let Some(second) = self.second {
            out.push(second);
        }
        out
    }
}

/// Decodes XML and HTML character/entity references in text, leaving unknown ones literal.
/// Used for text taken from the tolerant fallback tokenizer, which does no decoding itself.
pub(crate) fn decode_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut pos = 0;
    while let Some(offset) = memchr::memchr(b'&', &bytes[pos..]) {
        out.push_str(&raw[pos..pos + offset]);
        pos += offset;
        let (consumed, decoded) = decode_entity(&raw[pos..]);
        match decoded {
            Some(text) => {
                out.push(text.first);
                if let Some(second) = text.second {
                    out.push(second);
                }
            }
            None => out.push('&'),
        }
        pos += consumed;
    }
    out.push_str(&raw[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_dropped_and_blocks_separate_words() {
        assert_eq!(
            html_to_plain("<p>Lavrov &amp; Rubio&nbsp;met</p><p>in  Riyadh</p>"),
            "Lavrov & Rubio met in Riyadh"
        );
        assert_eq!(html_to_plain("Lav<b>rov</b> said"), "Lavrov said");
        assert_eq!(html_to_plain("a<br/>b"), "a b");
    }

    #[test]
    fn script_style_and_comments_vanish() {
        assert_eq!(
            html_to_plain("x<script type=\"a\">var a = '<p>';</script>y<style>p{}</STYLE>z<!-- c -->w"),
            "x y z w"
        );
        assert_eq!(html_to_plain("a<x:script>b</x:script>c"), "a c");
    }

    #[test]
    fn entities_decode_including_numeric_and_c1() {
        assert_eq!(html_to_plain("&mdash;&#8212;&#x2014;&#150;&hellip;"), "———–…");
        assert_eq!(html_to_plain("AT&T &unknown; &"), "AT&T &unknown; &");
        assert_eq!(html_to_plain("&#0;x"), "\u{fffd}x");
        assert_eq!(html_to_plain("don\u{92}t"), "don\u{2019}t");
    }

    #[test]
    fn lone_less_than_and_unterminated_tags_are_safe() {
        assert_eq!(html_to_plain("5 < 6 and 7<8"), "5 < 6 and 7<8");
        assert_eq!(html_to_plain("text <a href=\"x"), "text");
    }

    #[test]
    fn whitespace_and_control_characters_are_cleaned() {
        assert_eq!(html_to_plain("  a\n\t b\u{1b}[31m \r\n"), "a b[31m");
    }

    #[test]
    fn decode_text_leaves_unknown_references() {
        assert_eq!(decode_text("a &lt; b &amp;&amp; &lol9; &nbsp;"), "a < b && &lol9; \u{a0}");
    }
}
