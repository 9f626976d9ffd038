//! Text normalisation and tokenisation for topic matching (no I/O, never panics).
//!
//! A document field is turned into a list of [`Token`]s. Each token keeps the byte range it came
//! from in the *original* text (so explanations can point at it) and a normalised form used for
//! matching: HTML entities decoded, Unicode NFKC, lower case, `ё` folded to `е`, soft hyphens and
//! zero-width characters dropped. Everything that is not a letter, digit or combining mark
//! separates words, so matching is punctuation-insensitive; an apostrophe between two letters
//! stays inside the word (`Russia’s` is one token, which the English stemmer reduces to `russia`).
//! Sentence numbers are assigned along the way for the same-sentence operator.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Which field of a document a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Title,
    Body,
}

impl Field {
    /// The field's name as written in queries and explanations.
    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Body => "body",
        }
    }
}

/// One word of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// Byte range in the original field text.
    pub start: u32,
    pub end: u32,
    /// Byte range of the normalised form in [`Tokens::buffer`].
    pub norm_start: u32,
    pub norm_end: u32,
    pub field: Field,
    /// Sentence number, unique across both fields.
    pub sentence: u32,
}

/// The tokens of a whole document (title first, then body) and their normalised text.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    pub tokens: Vec<Token>,
    pub buffer: String,
}

impl Tokens {
    /// Adds the token whose normalised form is the buffer from `norm_start` to its end.
    fn push(&mut self, (start, end): (usize, usize), norm_start: usize, field: Field, sentence: u32) {
        self.tokens.push(Token {
            start: start as u32,
            end: end as u32,
            norm_start: norm_start as u32,
            norm_end: self.buffer.len() as u32,
            field,
            sentence,
        });
    }

    /// The normalised form of token `index`.
    pub fn norm(&self, index: usize) -> &str {
        let token = &self.tokens[index];
        &self.buffer[token.norm_start as usize..token.norm_end as usize]
    }
}

/// Characters dropped without splitting a word: soft hyphen and zero-width marks, which
/// publishers insert inside words for line breaking.
fn is_ignorable(character: char) -> bool {
    matches!(character, '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn is_apostrophe(character: char) -> bool {
    matches!(character, '\'' | '\u{2019}' | '\u{02BC}')
}

fn is_word_char(character: char) -> bool {
    // Fast paths: ASCII and Cyrillic are most of the text and their classes are simple.
    if character.is_ascii() {
        return character.is_ascii_alphanumeric();
    }
    if ('\u{0410}'..='\u{044F}').contains(&character) || character == 'ё' || character == 'Ё' {
        return true;
    }
    character.is_alphanumeric() || is_combining_mark(character)
}

/// The common named HTML entities (the ones news text actually carries); numeric references
/// are decoded in full. An unknown entity is left as written.
const NAMED_ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{00A0}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("hellip", '…'),
    ("shy", '\u{00AD}'),
    ("thinsp", '\u{2009}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("zwj", '\u{200D}'),
    ("zwnj", '\u{200C}'),
    ("middot", '·'),
    ("bull", '•'),
    ("eacute", 'é'),
    ("egrave", 'è'),
    ("aacute", 'á'),
    ("agrave", 'à'),
    ("ouml", 'ö'),
    ("uuml", 'ü'),
    ("auml", 'ä'),
    ("iacute", 'í'),
    ("oacute", 'ó'),
    ("uacute", 'ú'),
    ("ccedil", 'ç'),
    ("ntilde", 'ñ'),
    ("szlig", 'ß'),
    ("euro", '€'),
    ("pound", '£'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("deg", '°'),
    ("numero", '№'),
];

/// Decodes an entity starting at `text[at]` (which is `&`); returns the character and the
/// entity's length in bytes.
fn decode_entity(text: &str, at: usize) -> Option<(char, usize)> {
    let rest = &text[at + 1..];
    // Entities are short; looking further only wastes time on stray ampersands.
    let semicolon = rest.bytes().take(12).position(|byte| byte == b';')?;
    let name = &rest[..semicolon];
    let character = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        char::from_u32(code)?
    } else {
        NAMED_ENTITIES.iter().find(|(entity, _)| *entity == name).map(|(_, character)| *character)?
    };
    Some((character, semicolon + 2))
}

/// Words before a full stop that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "gov", "sen", "rep", "gen", "lt", "col", "capt", "sgt", "adm", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "vs", "jr", "sr",
    "prof", "pres", "amb", "inc", "corp", "co", "ltd", "approx", "etc", "gg", "г", "гг", "т", "им", "ул",
    "тыс", "млн", "млрд", "руб", "долл", "см", "др", "пр",
];

/// Whether the normalised word before a full stop makes it no sentence end: a single letter
/// (an initial) or a known abbreviation.
fn is_abbreviation(word: &str) -> bool {
    let mut characters = word.chars();
    (characters.next().is_some() && characters.next().is_none()) || ABBREVIATIONS.contains(&word)
}

/// Whether the character at byte `at` of `text` (or its end) ends the word before it for
/// certain: not a word character, not an apostrophe (which may join two letters), not a
/// mark dropped inside words and not `&` (an entity may decode to a letter).
fn ends_word_at(text: &str, at: usize) -> bool {
    match text.as_bytes().get(at) {
        None => true,
        Some(&byte) if byte.is_ascii() => !byte.is_ascii_alphanumeric() && byte != b'\'' && byte != b'&',
        Some(_) => text[at..]
            .chars()
            .next()
            .is_some_and(|next| !(is_word_char(next) || is_apostrophe(next) || is_ignorable(next))),
    }
}

/// Appends a run of ASCII letters and digits and basic Cyrillic letters (see
/// [`plain_run_end`]) lower-cased, `ё` folded to `е`: its normalised form, the same as
/// [`normalise_word`] gives, without decoding characters.
fn push_plain_lowercase(run: &str, out: &mut String, scratch: &mut Vec<u8>) {
    if run.is_ascii() {
        let start = out.len();
        out.push_str(run);
        out[start..].make_ascii_lowercase();
        return;
    }
    scratch.clear();
    let bytes = run.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte.is_ascii() {
            scratch.push(byte.to_ascii_lowercase());
            at += 1;
            continue;
        }
        // A two-byte basic Cyrillic letter: `А`–`П` (D0 90–9F) → `а`–`п` (D0 B0–BF), `Р`–`Я`
        // (D0 A0–AF) → `р`–`я` (D1 80–8F), `Ё` (D0 81) and `ё` (D1 91) → `е` (D0 B5).
        let pair = match (byte, bytes.get(at + 1).copied().unwrap_or_default()) {
            (0xD0, second @ 0x90..=0x9F) => [0xD0, second + 0x20],
            (0xD0, second @ 0xA0..=0xAF) => [0xD1, second - 0x20],
            (0xD0, 0x81) | (0xD1, 0x91) => [0xD0, 0xB5],
            (first, second) => [first, second],
        };
        scratch.extend_from_slice(&pair);
        at += 2;
    }
    // Valid by construction (each two-byte letter becomes another); checked all the same.
    match std::str::from_utf8(scratch) {
        Ok(lower) => out.push_str(lower),
        Err(_) => normalise_word(run, out),
    }
}

/// One character of input after entity decoding, with its original byte range.
struct Piece {
    character: char,
    start: usize,
    end: usize,
}

/// Walks `text`, decoding entities, yielding characters with their original byte ranges.
struct Pieces<'a> {
    text: &'a str,
    position: usize,
}

/// The input character at byte `start` of `text` (an entity counts as one character).
fn piece_at(text: &str, start: usize) -> Option<Piece> {
    let byte = *text.as_bytes().get(start)?;
    if byte.is_ascii() && byte != b'&' {
        return Some(Piece { character: byte as char, start, end: start + 1 });
    }
    let character = text[start..].chars().next()?;
    if character == '&'
        && let Some((decoded, length)) = decode_entity(text, start)
    {
        return Some(Piece { character: decoded, start, end: start + length });
    }
    Some(Piece { character, start, end: start + character.len_utf8() })
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        let piece = piece_at(self.text, self.position)?;
        self.position = piece.end;
        Some(piece)
    }
}

/// The end of the run of ASCII letters and digits and basic Cyrillic letters (`А`–`я`, `Ё`,
/// `ё`) that starts at byte `at` of a UTF-8 text (`at` itself when there is none). Such
/// characters are word characters (see [`is_word_char`]) whose class needs no decoding.
fn plain_run_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        if matches!(byte, 0xD0 | 0xD1)
            && let Some(&next) = bytes.get(at + 1)
        {
            let code = (u32::from(byte & 0x1F) << 6) | u32::from(next & 0x3F);
            if (0x410..=0x44F).contains(&code) || code == 0x401 || code == 0x451 {
                at += 2;
                continue;
            }
        }
        break;
    }
    at
}

/// Appends the tokens of one field to `out`, numbering sentences from `out`'s last sentence.
pub(crate) fn tokenize_into(text: &str, field: Field, out: &mut Tokens) {
    tokenize_field(text, field, out, true);
}

/// [`tokenize_into`]; without `plain_words`, every word goes through the general path (the
/// tests check both give the same tokens).
fn tokenize_field(text: &str, field: Field, out: &mut Tokens, plain_words: bool) {
    let mut sentence = out.tokens.last().map_or(0, |token| token.sentence + 1);
    let mut position = 0usize;
    // The word being built: its original range and its raw (decoded, not yet normalised) chars.
    let mut word_start: Option<usize> = None;
    let mut word_end = 0usize;
    let mut raw = String::new();
    // Lower-cased Cyrillic bytes of a plain word, before they join the buffer.
    let mut scratch: Vec<u8> = Vec::new();
    // A pending full stop, question mark or line break that may end the sentence.
    let mut pending_break = false;

    let flush = |raw: &mut String, start: usize, end: usize, sentence: u32, out: &mut Tokens| {
        if raw.is_empty() {
            return;
        }
        let norm_start = out.buffer.len();
        normalise_word(raw, &mut out.buffer);
        raw.clear();
        if out.buffer.len() > norm_start {
            out.push((start, end), norm_start, field, sentence);
        }
    };

    let bytes = text.as_bytes();
    while position < bytes.len() {
        // Fast path: a run of ASCII letters and digits and basic Cyrillic letters, most of any
        // English or Russian text, is taken byte by byte (the general path below decodes
        // characters and entities).
        let run = plain_run_end(bytes, position);
        if run > position {
            if pending_break {
                let first = text[position..].chars().next().unwrap_or_default();
                if first.is_uppercase() || first.is_ascii_digit() {
                    sentence += 1;
                }
                pending_break = false;
            }
            // A whole word of plain characters (nothing before it in the word, and nothing
            // after it that could continue it: see `ends_word_at`) is lower-cased straight into
            // the buffer, which is all its normalisation is.
            if plain_words && word_start.is_none() && ends_word_at(text, run) {
                let norm_start = out.buffer.len();
                push_plain_lowercase(&text[position..run], &mut out.buffer, &mut scratch);
                out.push((position, run), norm_start, field, sentence);
                // The separator itself is read next; only a full stop needs the word.
                if bytes.get(run) == Some(&b'.') && !is_abbreviation(&out.buffer[norm_start..]) {
                    pending_break = true;
                }
                position = run;
                continue;
            }
            if word_start.is_none() {
                word_start = Some(position);
            }
            raw.push_str(&text[position..run]);
            position = run;
            word_end = run;
            continue;
        }
        // A space between words changes nothing.
        if plain_words && bytes[position] == b' ' && word_start.is_none() {
            position += 1;
            continue;
        }
        let Some(piece) = piece_at(text, position) else {
            break;
        };
        position = piece.end;
        let character = piece.character;
        if is_word_char(character) {
            if pending_break {
                // A break only counts when the next word starts with a capital or a digit
                // (or after a line break): "U.S. talks" stays one sentence.
                if character.is_uppercase() || character.is_numeric() {
                    sentence += 1;
                }
                pending_break = false;
            }
            if word_start.is_none() {
                word_start = Some(piece.start);
            }
            raw.push(character);
            // The rest of a run of plain word characters needs no per-character decisions:
            // take it at once (entities, apostrophes and ignorable marks stop the run).
            let run = text[position..]
                .find(|next: char| !is_word_char(next))
                .map_or(text.len(), |at| position + at);
            raw.push_str(&text[position..run]);
            position = run;
            word_end = run.max(piece.end);
            continue;
        }
        if is_ignorable(character) && word_start.is_some() {
            word_end = piece.end;
            continue;
        }
        if is_apostrophe(character)
            && word_start.is_some()
            && piece_at(text, position).is_some_and(|next| next.character.is_alphabetic())
        {
            raw.push('\'');
            continue;
        }
        // A separator: close the current word first.
        if let Some(start) = word_start.take() {
            let ends_sentence_here = matches!(character, '.' | '!' | '?' | '…' | ';');
            let norm_start = out.buffer.len();
            flush(&mut raw, start, word_end, sentence, out);
            if ends_sentence_here && !(character == '.' && is_abbreviation(&out.buffer[norm_start..])) {
                pending_break = true;
            }
        } else if matches!(character, '!' | '?' | '…' | ';') {
            pending_break = true;
        }
        if character == '\n' || character == '\u{2029}' {
            // A line break always ends a sentence: headlines and datelines carry no full stop.
            sentence += 1;
            pending_break = false;
        }
    }
    if let Some(start) = word_start {
        flush(&mut raw, start, word_end, sentence, out);
    }
}

/// Tokenises a document: the title's tokens first, then the body's, sentences numbered across.
pub(crate) fn tokenize(title: &str, body: &str) -> Tokens {
    let mut out = Tokens {
        tokens: Vec::with_capacity((title.len() + body.len()) / 5 + 4),
        buffer: String::with_capacity(title.len() + body.len()),
    };
    tokenize_into(title, Field::Title, &mut out);
    tokenize_into(body, Field::Body, &mut out);
    out
}

/// Appends the normalised form of a raw word: NFKC, lower case, `ё` → `е`.
pub(crate) fn normalise_word(raw: &str, out: &mut String) {
    if raw.is_ascii() {
        let start = out.len();
        out.push_str(raw);
        out[start..].make_ascii_lowercase();
        return;
    }
    // Basic Cyrillic and ASCII letters are already in NFKC: lower-case them directly, in one
    // pass; anything else sends the whole word down the general path below.
    let start = out.len();
    let mut plain = true;
    for character in raw.chars() {
        let lower = match character {
            'А'..='Я' => char::from_u32(character as u32 + 0x20).unwrap_or(character),
            'Ѐ'..='Џ' => char::from_u32(character as u32 + 0x50).unwrap_or(character),
            'а'..='я' | 'ѐ'..='џ' => character,
            c if c.is_ascii() => c.to_ascii_lowercase(),
            _ => {
                plain = false;
                break;
            }
        };
        out.push(if lower == 'ё' { 'е' } else { lower });
    }
    if plain {
        return;
    }
    out.truncate(start);
    for character in raw.nfkc() {
        for lower in character.to_lowercase() {
            match lower {
                'ё' => out.push('е'),
                // NFKC can turn a character into punctuation or spaces ("¼" stays a digit, but
                // e.g. "℅" becomes "c/o"); keep words free of separators.
                c if is_word_char(c) || c == '\'' => out.push(c),
                _ => {}
            }
        }
    }
}

/// Normalises a whole phrase as written in a query into its words.
pub(crate) fn normalise_words(text: &str) -> Vec<String> {
    let mut tokens = Tokens::default();
    tokenize_into(text, Field::Body, &mut tokens);
    (0..tokens.tokens.len()).map(|index| tokens.norm(index).to_string()).collect()
}

/// The word's surface form for case-sensitive matching: entities decoded and NFKC, case kept.
pub(crate) fn surface(original: &str) -> String {
    let mut out = String::new();
    for piece in (Pieces { text: original, position: 0 }) {
        if is_ignorable(piece.character) {
            continue;
        }
        if is_apostrophe(piece.character) {
            out.push('\'');
        } else {
            out.push(piece.character);
        }
    }
    if out.is_ascii() { out } else { out.nfkc().collect() }
}

/// Stemmers for the two languages, chosen per word by script.
pub(crate) struct Stemmers {
    english: Stemmer,
    russian: Stemmer,
}

impl std::fmt::Debug for Stemmers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Stemmers")
    }
}

impl Default for Stemmers {
    fn default() -> Self {
        Stemmers {
            english: Stemmer::create(Algorithm::English),
            russian: Stemmer::create(Algorithm::Russian),
        }
    }
}

/// The most stems remembered per thread (a few MB at most); the cache is emptied when full.
const STEM_CACHE_ENTRIES: usize = 100_000;

thread_local! {
    static STEM_CACHE: std::cell::RefCell<std::collections::HashMap<String, String>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Russian stems shorter than this are not stemmed further (see [`Stemmers::stem`]).
const MIN_RUSSIAN_STEM_CHARS: usize = 4;

impl Stemmers {
    /// The matching key of a normalised word. Cyrillic words use the Russian Snowball stemmer
    /// applied until it stops changing (passes after the first never go below four letters): one pass leaves
    /// surnames in `-ов`/`-ин` inconsistent (`лавров` → `лавр` but `лаврова` → `лавров`), a
    /// second pass brings them together. Other words use the English Snowball stemmer.
    pub fn stem(&self, word: &str) -> String {
        // News vocabulary repeats across documents, and stemming is the costliest step of
        // matching: remember recent stems per thread. The cache never changes a result.
        STEM_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(stem) = cache.get(word) {
                return stem.clone();
            }
            let stem = self.stem_uncached(word);
            if cache.len() >= STEM_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(word.to_string(), stem.clone());
            stem
        })
    }

    fn stem_uncached(&self, word: &str) -> String {
        let is_cyrillic = word.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c));
        if !is_cyrillic {
            return self.english.stem(word).into_owned();
        }
        let mut current = self.russian.stem(word).into_owned();
        for _ in 0..2 {
            let next = self.russian.stem(&current);
            if next == current || next.chars().count() < MIN_RUSSIAN_STEM_CHARS {
                break;
            }
            current = next.into_owned();
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        normalise_words(text)
    }

    #[test]
    fn the_fast_run_takes_only_word_characters_and_all_basic_cyrillic_letters() {
        for code in (0u32..0x600).chain(0x1E00..0x1F00).chain(0x2000..0x2070) {
            let Some(character) = char::from_u32(code) else { continue };
            let text = format!("{character}x");
            let taken = plain_run_end(text.as_bytes(), 0);
            assert!(taken == 0 || is_word_char(character), "{character:?} taken by the fast run");
            let basic = character.is_ascii_alphanumeric()
                || ('А'..='я').contains(&character)
                || "Ёё".contains(character);
            assert_eq!(taken > 0, basic, "{character:?}");
            // A taken character is taken whole, and the run goes on to the next one.
            assert!(taken == 0 || taken == text.len(), "{character:?}");
        }
        // Sentence breaks still see a capital after a full stop, in either script.
        let mut tokens = Tokens::default();
        tokenize_into("Встреча прошла. Лавров уехал. US talks. u.s. deal", Field::Body, &mut tokens);
        let sentences: Vec<u32> = tokens.tokens.iter().map(|token| token.sentence).collect();
        assert_eq!(sentences, [0, 0, 1, 1, 2, 2, 2, 2, 2]);
    }

    /// Whole plain words are lower-cased straight into the buffer; every token (range, form,
    /// sentence) must be the one the general path gives. Checked on real news text in both
    /// scripts and on words that border every kind of character the fast path must refuse.
    #[test]
    fn plain_words_tokenise_exactly_as_the_general_path() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut texts: Vec<String> = Vec::new();
        for file in ["stories/items.jsonl", "relevance/sample.jsonl"] {
            let lines = std::fs::read_to_string(format!("{fixtures}/{file}")).unwrap();
            for line in lines.lines() {
                let item: serde_json::Value = serde_json::from_str(line).unwrap();
                for key in ["title", "text"] {
                    texts.push(item[key].as_str().unwrap_or_default().to_string());
                }
            }
        }
        texts.push(
            std::fs::read_to_string(format!("{fixtures}/pages/vse-diety-cp1251.expected.txt")).unwrap(),
        );
        let mut edges = String::new();
        for border in [
            " ",
            ".",
            "Z. Y",
            "д. Ж",
            "Mr. Ivanov",
            "г. Москва",
            "’s",
            "'s",
            "&amp;",
            "&eacute;",
            "\u{AD}x",
            "\u{200B}",
            "é",
            "ё",
            "Ё",
            "ÉTÉ",
            "—",
            "«",
            "»",
            "…",
            "\n",
            "\u{2029}",
            "1",
            "ﬁ",
            "Ⅳ",
            "ǅ",
        ] {
            for word in ["Lavrov", "ЛАВРОВ", "Ёлкин", "u2", "Встреча", "ABC", "x"] {
                edges.push_str(&format!("{word}{border}{word} {border}{word}{border} "));
            }
        }
        texts.push(edges);
        assert!(texts.len() > 1_000);
        let mut plain_tokens = 0;
        for text in &texts {
            let (mut fast, mut general) = (Tokens::default(), Tokens::default());
            for field in [Field::Title, Field::Body] {
                tokenize_field(text, field, &mut fast, true);
                tokenize_field(text, field, &mut general, false);
            }
            assert_eq!(fast.tokens, general.tokens, "{text}");
            assert_eq!(fast.buffer, general.buffer, "{text}");
            plain_tokens += fast.tokens.len();
        }
        assert!(plain_tokens > 100_000, "{plain_tokens}");
    }

    #[test]
    fn entities_nbsp_and_curly_quotes_normalise() {
        assert_eq!(words("Lavrov&nbsp;&amp;&#160;Rubio"), ["lavrov", "rubio"]);
        assert_eq!(words("Russia&rsquo;s “talks”"), ["russia's", "talks"]);
        assert_eq!(words("Russia’s"), words("Russia's"));
        assert_eq!(words("US\u{00A0}talks"), ["us", "talks"]);
        assert_eq!(words("&#x41;&unknown; x"), ["a", "unknown", "x"]);
    }

    #[test]
    fn nfkc_case_and_yo_fold() {
        assert_eq!(words("ＵＳ–РОССИЯ"), ["us", "россия"]);
        assert_eq!(words("ﬁnal Ёлка"), ["final", "елка"]);
        // A decomposed й (и + combining breve) composes back.
        assert_eq!(words("Сергеи\u{0306}"), ["сергей"]);
        assert_eq!(words("перего\u{00AD}воры"), ["переговоры"]);
    }

    #[test]
    fn punctuation_splits_words_and_offsets_point_at_original() {
        let text = "US-Russia &amp; talks";
        let tokens = tokenize("", text);
        let spans: Vec<&str> =
            tokens.tokens.iter().map(|token| &text[token.start as usize..token.end as usize]).collect();
        assert_eq!(spans, ["US", "Russia", "talks"]);
    }

    #[test]
    fn sentences_split_on_full_stops_but_not_abbreviations() {
        let tokens = tokenize("Title here", "U.S. Secretary met Mr. Lavrov. Then talks\nNext");
        let sentence_of = |word: &str| {
            let index = (0..tokens.tokens.len()).find(|&i| tokens.norm(i) == word).unwrap();
            tokens.tokens[index].sentence
        };
        assert_ne!(sentence_of("title"), sentence_of("secretary"));
        assert_eq!(sentence_of("u"), sentence_of("lavrov"));
        assert_ne!(sentence_of("lavrov"), sentence_of("then"));
        assert_ne!(sentence_of("talks"), sentence_of("next"));
    }

    #[test]
    fn russian_surnames_and_nouns_share_stems() {
        let stemmers = Stemmers::default();
        assert_eq!(stemmers.stem("лавров"), stemmers.stem("лаврова"));
        assert_eq!(stemmers.stem("лавров"), stemmers.stem("лавровым"));
        assert_eq!(stemmers.stem("переговоры"), stemmers.stem("переговорах"));
        assert_eq!(stemmers.stem("путин"), stemmers.stem("путину"));
        assert_eq!(stemmers.stem("talks"), stemmers.stem("talk"));
        assert_eq!(stemmers.stem("negotiations"), stemmers.stem("negotiate"));
        assert_eq!(stemmers.stem("russia's"), "russia");
    }
}
