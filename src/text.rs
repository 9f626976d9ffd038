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

/// Feed-derived text made safe for a terminal: control, line-separator and bidi characters are
/// shown escaped (`\u{202e}`), everything else as is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_line_or_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
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

    #[test]
    fn printable_escapes_controls_and_bidi() {
        assert_eq!(printable("a\u{1b}[31mb\u{202e}c"), "a\\u{1b}[31mb\\u{202e}c");
        assert_eq!(printable("Лавров"), "Лавров");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("переговоры", 3), "пер…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }
}
