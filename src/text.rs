//! Small text helpers shared by the stages: HTML fragments to plain text, whitespace, truncation.
//! No I/O.

/// Turns an HTML fragment (or plain text with entities) into plain text: tags dropped, entities
/// decoded, whitespace collapsed to single spaces. Block-level boundaries become spaces.
pub fn html_to_text(fragment: &str) -> String {
    if !fragment.contains(['<', '&']) {
        return collapse_whitespace(fragment);
    }
    let parsed = scraper::Html::parse_fragment(fragment);
    let mut out = String::with_capacity(fragment.len());
    for text in parsed.root_element().text() {
        out.push_str(text);
        out.push(' ');
    }
    collapse_whitespace(&out)
}

/// Collapses every run of Unicode whitespace to one ASCII space and trims both ends.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Cuts `text` to at most `max_chars` characters, on a char boundary, adding `…` when cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((byte_index, _)) => {
            let mut cut = text[..byte_index].to_string();
            cut.push('…');
            cut
        }
    }
}

/// Characters that can break a line for some reader (U+0085, U+2028, U+2029) or reorder what
/// a terminal shows (bidi controls and overrides), beyond the C0/C1 controls.
pub fn is_line_or_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// THE rule for text that may come from a feed, a page or a server on its way to a log, a
/// terminal or a JSON line: a character is unsafe when it is a control (C0, DEL, C1: ESC, BEL,
/// U+0085 …), a line separator (U+2028, U+2029) or a bidi control (U+200E/F, U+202A–U+202E,
/// U+2066–U+2069). Unsafe characters are never written raw; how they are written depends on the
/// output ([`printable`] for text, [`escape_json`] for JSON).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_line_or_bidi_control(c)
}

/// Text for a terminal or a text log: every [unsafe](is_unsafe) character is shown escaped
/// (`\u{1b}`, `\u{202e}`, `\u{a}`), everything else as is. Borrowed when nothing is unsafe.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Serialised JSON (one compact value, or several lines of them) made safe by the same rule:
/// every [unsafe](is_unsafe) character from DEL up is written as a `\uXXXX` escape (such a
/// character can only be inside a string, where the escape means the same character). C0
/// controls are left: serde_json already escapes them inside strings, and outside strings they
/// are the line breaks between values.
pub fn escape_json(json: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| c >= '\u{7f}' && is_unsafe(c);
    if !json.chars().any(needs) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            // Every unsafe character from DEL up is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The candidate closest to `typed`, when it is close enough to be what was meant.
pub fn did_you_mean<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(typed, candidate), *candidate))
        .filter(|(similarity, _)| *similarity >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_fragment_becomes_plain_text() {
        assert_eq!(
            html_to_text("<p>Lavrov &amp; Rubio&nbsp;met</p><p>in  Riyadh</p>"),
            "Lavrov & Rubio met in Riyadh"
        );
        assert_eq!(html_to_text("plain\n text"), "plain text");
    }

    /// Every character the rule covers, as a feed could send it.
    const HOSTILE: &str = "a\u{1b}[31m\u{7}b\u{0}\u{7f}\u{9b}\u{85}\u{2028}\u{2029}\u{202a}\u{202e}\u{2066}\u{2069}\u{200f}\r\nc";

    #[test]
    fn printable_escapes_controls_and_bidi() {
        assert_eq!(printable("a\u{1b}[31mb\u{202e}c"), "a\\u{1b}[31mb\\u{202e}c");
        assert_eq!(printable("Лавров"), "Лавров");
        let shown = printable(HOSTILE);
        assert!(!shown.chars().any(is_unsafe), "{shown:?}");
        assert!(shown.starts_with("a\\u{1b}[31m\\u{7}b") && shown.ends_with("\\u{d}\\u{a}c"), "{shown}");
    }

    #[test]
    fn escaped_json_is_the_same_value_without_unsafe_characters() {
        let json = serde_json::to_string(&serde_json::json!({ "title": HOSTILE })).expect("serialises");
        let escaped = escape_json(&json);
        assert!(!escaped.chars().any(is_unsafe), "{escaped}");
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back["title"], HOSTILE);
        assert!(matches!(escape_json("{\"a\":\"Лавров\"}\n"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("переговоры", 3), "пер…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }
}
