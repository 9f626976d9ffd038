//! A byte-level HTML tokenizer that follows the HTML standard's tag, attribute and comment rules
//! closely enough to stay in step with html5ever, but builds nothing: it reports tag names and
//! attribute ranges into the input. The charset prescan and the structural guard use it; it runs
//! in linear time on any input. No I/O.

use std::ops::Range;

/// At most this many attributes per tag are recorded (all are counted). The charset prescan only
/// needs a few; the guard only needs the count.
const MAX_RECORDED_ATTRIBUTES: usize = 32;

/// One token. Ranges index the tokenizer's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// `<name ...>`; `attributes` is the number of attributes written (duplicates included).
    Start {
        name: Range<usize>,
        self_closing: bool,
        attributes: usize,
        /// A hash of the attribute names and values, for the "Noah's Ark" comparison of
        /// formatting elements in the guard.
        attribute_hash: u64,
        /// Offset of the `<`.
        at: usize,
    },
    /// `</name ...>`.
    End { name: Range<usize>, at: usize },
    /// Character data up to the next markup; `blank` when it is all ASCII whitespace.
    Text { blank: bool },
    /// End of input.
    Eof,
}

/// How the text after a start tag is tokenized until its end tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawText {
    /// `script`, `style`, `textarea`, `title`, ...: everything up to `</name` is text.
    UntilEndTag,
    /// `plaintext`: everything to the end of the input is text.
    ToEnd,
}

/// Says whether the start tag `name` (any case) switches the tokenizer to a raw-text state.
pub(crate) fn raw_text_kind(name: &[u8]) -> Option<RawText> {
    const UNTIL_END: [&[u8]; 9] = [
        b"script",
        b"style",
        b"textarea",
        b"title",
        b"xmp",
        b"iframe",
        b"noembed",
        b"noframes",
        // html5ever parses with scripting enabled, so `noscript` content is raw text.
        b"noscript",
    ];
    if UNTIL_END.iter().any(|raw| raw.eq_ignore_ascii_case(name)) {
        Some(RawText::UntilEndTag)
    } else if name.eq_ignore_ascii_case(b"plaintext") {
        Some(RawText::ToEnd)
    } else {
        None
    }
}

/// The tokenizer state: the input and a position.
pub(crate) struct Tokenizer<'a> {
    input: &'a [u8],
    pos: usize,
    attributes: Vec<(Range<usize>, Range<usize>)>,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0C)
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Tokenizer { input, pos: 0, attributes: Vec::new() }
    }

    /// Name/value ranges of the last start tag's first attributes.
    pub(crate) fn attributes(&self) -> &[(Range<usize>, Range<usize>)] {
        &self.attributes
    }

    /// Current offset into the input.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Skips the content of a raw-text element whose start tag was just returned, leaving the
    /// position at its end tag (or at the end of the input).
    pub(crate) fn skip_raw_text(&mut self, kind: RawText, name: Range<usize>) {
        if kind == RawText::ToEnd {
            self.pos = self.input.len();
            return;
        }
        let name = &self.input[name];
        let mut from = self.pos;
        while let Some(offset) = memchr::memmem::find(&self.input[from..], b"</") {
            let at = from + offset;
            let after = at + 2 + name.len();
            if after <= self.input.len()
                && self.input[at + 2..after].eq_ignore_ascii_case(name)
                && (after == self.input.len()
                    || matches!(self.input[after], b'>' | b'/')
                    || is_space(self.input[after]))
            {
                self.pos = at;
                return;
            }
            from = at + 2;
        }
        self.pos = self.input.len();
    }

    /// Returns the next token.
    pub(crate) fn next_token(&mut self) -> Token {
        let input = self.input;
        loop {
            if self.pos >= input.len() {
                return Token::Eof;
            }
            if input[self.pos] != b'<' {
                let end =
                    memchr::memchr(b'<', &input[self.pos..]).map_or(input.len(), |offset| self.pos + offset);
                let blank = input[self.pos..end].iter().all(|&byte| is_space(byte));
                self.pos = end;
                return Token::Text { blank };
            }
            let at = self.pos;
            let next = input.get(at + 1).copied();
            match next {
                Some(byte) if byte.is_ascii_alphabetic() => return self.tag(at, at + 1, true),
                Some(b'/') => match input.get(at + 2).copied() {
                    Some(byte) if byte.is_ascii_alphabetic() => return self.tag(at, at + 2, false),
                    // `</>` is dropped; `</` then anything else opens a bogus comment.
                    Some(b'>') => self.pos = at + 3,
                    Some(_) => self.skip_past(at + 2, b'>'),
                    None => self.pos = input.len(),
                },
                Some(b'!') => {
                    if input[at..].starts_with(b"<!--") {
                        self.skip_comment(at + 4);
                    } else {
                        // Doctype, CDATA outside foreign content, other bogus comments.
                        self.skip_past(at + 2, b'>');
                    }
                }
                Some(b'?') => self.skip_past(at + 2, b'>'),
                // A lone `<` is text.
                _ => {
                    let end =
                        memchr::memchr(b'<', &input[at + 1..]).map_or(input.len(), |offset| at + 1 + offset);
                    self.pos = end;
                    return Token::Text { blank: false };
                }
            }
        }
    }

    fn skip_past(&mut self, from: usize, byte: u8) {
        self.pos = memchr::memchr(byte, &self.input[from.min(self.input.len())..])
            .map_or(self.input.len(), |offset| from + offset + 1);
    }

    /// A comment ends at the first `-->` or `--!>`; `<!-->` and `<!--->` are empty comments.
    fn skip_comment(&mut self, body: usize) {
        let input = self.input;
        if input[body..].starts_with(b">") {
            self.pos = body + 1;
            return;
        }
        if input[body..].starts_with(b"->") {
            self.pos = body + 2;
            return;
        }
        let mut from = body;
        while let Some(offset) = memchr::memmem::find(&input[from..], b"--") {
            let dashes = from + offset;
            let mut after = dashes + 2;
            // Extra dashes (`--->`) still close the comment.
            while input.get(after) == Some(&b'-') {
                after += 1;
            }
            match input.get(after) {
                Some(b'>') => {
                    self.pos = after + 1;
                    return;
                }
                Some(b'!') if input.get(after + 1) == Some(&b'>') => {
                    self.pos = after + 2;
                    return;
                }
                _ => from = after,
            }
        }
        self.pos = input.len();
    }

    /// Tokenizes a tag whose name starts at `name_start`.
    fn tag(&mut self, at: usize, name_start: usize, is_start: bool) -> Token {
        let input = self.input;
        let mut pos = name_start;
        while pos < input.len() && !is_space(input[pos]) && input[pos] != b'/' && input[pos] != b'>' {
            pos += 1;
        }
        let name = name_start..pos;
        self.attributes.clear();
        let mut attributes = 0usize;
        let mut attribute_hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut self_closing = false;
        loop {
            while pos < input.len() && is_space(input[pos]) {
                pos += 1;
            }
            let Some(&byte) = input.get(pos) else {
                // A tag cut by the end of the input is dropped by html5ever.
                self.pos = input.len();
                return Token::Eof;
            };
            match byte {
                b'>' => {
                    pos += 1;
                    break;
                }
                b'/' => {
                    pos += 1;
                    if input.get(pos) == Some(&b'>') {
                        self_closing = true;
                        pos += 1;
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            // Attribute name: the first character may be `=`.
            let attribute_name_start = pos;
            pos += 1;
            while pos < input.len() && !is_space(input[pos]) && !matches!(input[pos], b'/' | b'>' | b'=') {
                pos += 1;
            }
            let attribute_name = attribute_name_start..pos;
            while pos < input.len() && is_space(input[pos]) {
                pos += 1;
            }
            let mut value = pos..pos;
            if input.get(pos) == Some(&b'=') {
                pos += 1;
                while pos < input.len() && is_space(input[pos]) {
                    pos += 1;
                }
                match input.get(pos).copied() {
                    Some(quote @ (b'"' | b'\'')) => {
                        let start = pos + 1;
                        match memchr::memchr(quote, &input[start..]) {
                            Some(offset) => {
                                value = start..start + offset;
                                pos = start + offset + 1;
                            }
                            None => {
                                self.pos = input.len();
                                return Token::Eof;
                            }
                        }
                    }
                    Some(b'>') | None => {}
                    Some(_) => {
                        let start = pos;
                        while pos < input.len() && !is_space(input[pos]) && input[pos] != b'>' {
                            pos += 1;
                        }
                        value = start..pos;
                    }
                }
            }
            attributes += 1;
            for &byte in input[attribute_name.clone()].iter().chain(b"=").chain(&input[value.clone()]) {
                attribute_hash =
                    (attribute_hash ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3);
            }
            attribute_hash = (attribute_hash ^ 0xff).wrapping_mul(0x0100_0000_01b3);
            if is_start && self.attributes.len() < MAX_RECORDED_ATTRIBUTES {
                self.attributes.push((attribute_name, value));
            }
        }
        self.pos = pos;
        if is_start {
            Token::Start { name, self_closing, attributes, attribute_hash, at }
        } else {
            Token::End { name, at }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(html: &str) -> Vec<String> {
        let mut tokenizer = Tokenizer::new(html.as_bytes());
        let mut out = Vec::new();
        loop {
            match tokenizer.next_token() {
                Token::Eof => return out,
                Token::Start { name, attributes, .. } => {
                    let tag = &html[name.clone()];
                    out.push(format!("<{tag}:{attributes}"));
                    if let Some(kind) = raw_text_kind(tag.as_bytes()) {
                        tokenizer.skip_raw_text(kind, name);
                    }
                }
                Token::End { name, .. } => out.push(format!("/{}", &html[name])),
                Token::Text { blank } => out.push(if blank { "_".into() } else { "t".into() }),
            }
        }
    }

    #[test]
    fn tags_attributes_comments_and_raw_text_follow_the_standard() {
        assert_eq!(
            names("<div class='a>b' id=x data-y>t</div> <!-- <p> --!> <br/><!--> <p>"),
            ["<div:3", "t", "/div", "_", "_", "<br:0", "_", "<p:0"]
        );
        assert_eq!(
            names("<script>if (a<b) '<div>'</scripty></script ><i>"),
            ["<script:0", "/script", "<i:0"]
        );
        assert_eq!(names("a < b <!doctype html><?php x ?></>c"), ["t", "t", "t"]);
        assert_eq!(names("<plaintext><div><div>"), ["<plaintext:0"]);
        // A tag cut by the end of input is dropped, as html5ever drops it.
        assert_eq!(names("<p>x<div class=\"never closed"), ["<p:0", "t"]);
    }
}
