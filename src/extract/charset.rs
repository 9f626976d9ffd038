//! Bytes -> text for HTML pages, in the order browsers use: byte-order mark, the HTTP
//! `Content-Type` charset, a `<meta charset>` / `http-equiv` declaration near the top of the page,
//! then content detection (valid UTF-8 first, chardetng otherwise).
//!
//! A declaration is checked against the bytes, as chardetng-style detection does: pages are often
//! re-saved or re-served as UTF-8 while still declaring their old legacy charset, and a page
//! declared UTF-8 is sometimes written in a legacy one. Non-ASCII bytes that form valid UTF-8 are
//! all but impossible in legacy-encoded text, so such a page is read as UTF-8 whatever it
//! declares; a page declared UTF-8 whose non-ASCII bytes are mostly malformed is detected. No I/O.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::scan::{Token, Tokenizer};

/// How far into the page a `<meta>` charset declaration is looked for. The HTML standard says
/// 1024 bytes; real pages often put a long `<title>` or scripts first, and browsers look further.
const META_PRESCAN_BYTES: usize = 8192;

/// A page declared UTF-8 is re-detected only when it has at least this many malformed sequences
/// (a stray byte or two in a UTF-8 page is damage, not another encoding).
const MIN_MALFORMED_FOR_REDETECTION: usize = 4;

/// Decodes `bytes` to text and says which encoding was used. Malformed sequences become U+FFFD;
/// this never fails.
pub fn decode_html(bytes: &[u8], http_charset: Option<&str>) -> (String, &'static Encoding) {
    let (text, used) = decode_html_cow(bytes, http_charset);
    (text.into_owned(), used)
}

/// [`decode_html`] without the copy when the page is already valid UTF-8.
pub(crate) fn decode_html_cow<'a>(
    bytes: &'a [u8],
    http_charset: Option<&str>,
) -> (std::borrow::Cow<'a, str>, &'static Encoding) {
    let encoding = sniff_encoding(bytes, http_charset);
    // `decode` removes a BOM of any kind and lets it win over `encoding`, as browsers do.
    let (text, used, _had_errors) = encoding.decode(bytes);
    (text, used)
}

/// Chooses the encoding of `bytes` without decoding them.
pub(crate) fn sniff_encoding(bytes: &[u8], http_charset: Option<&str>) -> &'static Encoding {
    if let Some((encoding, _bom_len)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    let declared = http_charset.and_then(label_to_encoding).or_else(|| {
        let head = &bytes[..bytes.len().min(META_PRESCAN_BYTES)];
        meta_charset(head)
    });
    match declared {
        // A legacy declaration over bytes that are valid UTF-8 with non-ASCII text would turn
        // every accented letter into mojibake ("Ã©"): the bytes win.
        Some(encoding) if encoding != UTF_8 => {
            if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
                UTF_8
            } else {
                encoding
            }
        }
        Some(_) if mostly_malformed_utf8(bytes) => detect(bytes),
        Some(encoding) => encoding,
        None if std::str::from_utf8(bytes).is_ok() => UTF_8,
        None => detect(bytes),
    }
}

/// chardetng's guess for bytes that are not valid UTF-8.
fn detect(bytes: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// Whether more of the non-ASCII sequences in `bytes` are malformed UTF-8 than well-formed (and
/// at least [`MIN_MALFORMED_FOR_REDETECTION`] are): the text would come out as replacement
/// characters.
fn mostly_malformed_utf8(bytes: &[u8]) -> bool {
    if std::str::from_utf8(bytes).is_ok() {
        return false;
    }
    let (mut malformed, mut well_formed) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        well_formed += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        malformed += usize::from(!chunk.invalid().is_empty());
    }
    malformed >= MIN_MALFORMED_FOR_REDETECTION && malformed > well_formed
}

/// Maps a charset label to an encoding with the HTML standard's adjustments: a page cannot
/// declare itself UTF-16 from inside (it would not be readable as ASCII), and `x-user-defined`
/// means windows-1252 for documents.
fn label_to_encoding(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'');
    let encoding = Encoding::for_label(label.as_bytes())?;
    Some(adjust_declared(encoding))
}

fn adjust_declared(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        UTF_8
    } else if encoding == encoding_rs::X_USER_DEFINED {
        WINDOWS_1252
    } else {
        encoding
    }
}

/// Finds a charset declared by `<meta charset=..>` or `<meta http-equiv=content-type
/// content="..; charset=..">` in `head`, using the same tokenizer as the structural guard so
/// comments, scripts and quoted attribute values are skipped correctly.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let mut tokenizer = Tokenizer::new(head);
    loop {
        match tokenizer.next_token() {
            Token::Eof => return None,
            Token::Start { name, .. } => {
                let tag = &head[name.clone()];
                if tag.eq_ignore_ascii_case(b"meta") {
                    if let Some(encoding) = charset_from_meta(head, tokenizer.attributes()) {
                        return Some(encoding);
                    }
                } else if let Some(raw) = super::scan::raw_text_kind(tag) {
                    tokenizer.skip_raw_text(raw, name);
                }
            }
            Token::End { .. } | Token::Text { .. } => {}
        }
    }
}

fn charset_from_meta(
    head: &[u8],
    attributes: &[(std::ops::Range<usize>, std::ops::Range<usize>)],
) -> Option<&'static Encoding> {
    let mut is_content_type = false;
    let mut content = None;
    for (name, value) in attributes {
        let name = &head[name.clone()];
        let value = &head[value.clone()];
        if name.eq_ignore_ascii_case(b"charset") {
            let label = String::from_utf8_lossy(value);
            if let Some(encoding) = label_to_encoding(&label) {
                return Some(encoding);
            }
        } else if name.eq_ignore_ascii_case(b"http-equiv") {
            is_content_type = value.eq_ignore_ascii_case(b"content-type");
        } else if name.eq_ignore_ascii_case(b"content") {
            content = Some(value);
        }
    }
    let content = content.filter(|_| is_content_type)?;
    charset_from_content_type(&String::from_utf8_lossy(content))
}

/// Extracts the charset parameter of a `Content-Type` value such as
/// `text/html; charset="windows-1251"`.
pub(crate) fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset")?;
    let rest = lower[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest.find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_ascii_whitespace());
    label_to_encoding(&rest[..end.unwrap_or(rest.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUSSIAN: &str = "Переговоры в Эр-Рияде завершились";

    #[test]
    fn windows_1251_page_with_meta_decodes_to_cyrillic() {
        let html = format!("<html><head><meta charset=\"windows-1251\"></head><body>{RUSSIAN}</body>");
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&html);
        let (text, encoding) = decode_html(&bytes, None);
        assert_eq!(encoding, encoding_rs::WINDOWS_1251);
        assert!(text.contains(RUSSIAN), "{text}");
    }

    #[test]
    fn http_charset_wins_over_meta_and_bom_wins_over_both() {
        let html = format!("<meta http-equiv='Content-Type' content='text/html; charset=utf-8'>{RUSSIAN}");
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(&html);
        let (text, encoding) = decode_html(&bytes, Some("koi8-r"));
        assert_eq!(encoding, encoding_rs::KOI8_R);
        assert!(text.contains(RUSSIAN));

        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(RUSSIAN.as_bytes());
        let (text, encoding) = decode_html(&with_bom, Some("windows-1251"));
        assert_eq!(encoding, UTF_8);
        assert_eq!(text, RUSSIAN);
    }

    #[test]
    fn undeclared_cyrillic_is_detected() {
        let sentence = "Министр иностранных дел России заявил журналистам, что переговоры \
                        продолжатся на следующей неделе в столице Саудовской Аравии. ";
        let html = format!("<html><body><p>{}</p></body></html>", sentence.repeat(4));
        for encoding in [encoding_rs::WINDOWS_1251, encoding_rs::KOI8_R] {
            let (bytes, _, _) = encoding.encode(&html);
            let (text, used) = decode_html(&bytes, None);
            // KOI8-U only differs from KOI8-R in Ukrainian letters, so either is a right guess.
            let same_family =
                used == encoding || (encoding == encoding_rs::KOI8_R && used == encoding_rs::KOI8_U);
            assert!(same_family, "detected {}", used.name());
            assert!(text.contains("Министр иностранных дел"));
        }
    }

    #[test]
    fn legacy_declaration_over_valid_utf8_bytes_is_overruled() {
        let html = format!("<meta charset=iso-8859-1><p>Café, naïve, {RUSSIAN}</p>");
        let (text, encoding) = decode_html(html.as_bytes(), None);
        assert_eq!(encoding, UTF_8);
        assert!(text.contains("Café, naïve") && text.contains(RUSSIAN), "{text}");
        // The same holds for an HTTP header naming a legacy charset.
        assert_eq!(sniff_encoding(html.as_bytes(), Some("windows-1251")), UTF_8);
        // Pure ASCII pages keep their declaration (it decides nothing, but it is what was said).
        assert_eq!(sniff_encoding(b"<meta charset=koi8-r><p>plain</p>", None), encoding_rs::KOI8_R);
    }

    #[test]
    fn utf8_declaration_over_legacy_bytes_is_detected_but_a_stray_byte_is_not() {
        let sentence = "Министр иностранных дел России заявил журналистам, что переговоры \
                        продолжатся на следующей неделе. ";
        let html = format!("<meta charset=utf-8><p>{}</p>", sentence.repeat(4));
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&html);
        let (text, encoding) = decode_html(&bytes, None);
        assert_eq!(encoding, encoding_rs::WINDOWS_1251);
        assert!(text.contains("Министр иностранных дел"));
        let mut damaged = html.clone().into_bytes();
        damaged.push(0xFF);
        assert_eq!(sniff_encoding(&damaged, None), UTF_8);
    }

    #[test]
    fn meta_inside_comment_or_script_is_ignored_and_utf16_label_means_utf8() {
        let html = "<!-- <meta charset=koi8-r> --><script>var s='<meta charset=koi8-r>'</script>\
                    <meta charset=utf-16>é";
        assert_eq!(sniff_encoding(html.as_bytes(), None), UTF_8);
        assert_eq!(charset_from_content_type("text/html; Charset=\"KOI8-R\""), Some(encoding_rs::KOI8_R));
        assert_eq!(charset_from_content_type("text/html"), None);
    }
}
