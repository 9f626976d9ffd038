//! Bytes -> text for HTML pages, in the order browsers use: byte-order mark, the HTTP
//! `Content-Type` charset, a `<meta charset>` / `http-equiv` declaration near the top of the page,
//! then content detection (valid UTF-8 first, chardetng otherwise). No I/O.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::scan::{Token, Tokenizer};

/// How far into the page a `<meta>` charset declaration is looked for. The HTML standard says
/// 1024 bytes; real pages often put a long `<title>` or scripts first, and browsers look further.
const META_PRESCAN_BYTES: usize = 8192;

/// Decodes `bytes` to text and says which encoding was used. Malformed sequences become U+FFFD;
/// this never fails.
pub fn decode_html(bytes: &[u8], http_charset: Option<&str>) -> (String, &'static Encoding) {
    let encoding = sniff_encoding(bytes, http_charset);
    // `decode` removes a BOM of any kind and lets it win over `encoding`, as browsers do.
    let (text, used, _had_errors) = encoding.decode(bytes);
    (text.into_owned(), used)
}

/// Chooses the encoding of `bytes` without decoding them.
pub(crate) fn sniff_encoding(bytes: &[u8], http_charset: Option<&str>) -> &'static Encoding {
    if let Some((encoding, _bom_len)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    if let Some(encoding) = http_charset.and_then(label_to_encoding) {
        return encoding;
    }
    let head = &bytes[..bytes.len().min(META_PRESCAN_BYTES)];
    if let Some(encoding) = meta_charset(head) {
        return encoding;
    }
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
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
    fn meta_inside_comment_or_script_is_ignored_and_utf16_label_means_utf8() {
        let html = "<!-- <meta charset=koi8-r> --><script>var s='<meta charset=koi8-r>'</script>\
                    <meta charset=utf-16>é";
        assert_eq!(sniff_encoding(html.as_bytes(), None), UTF_8);
        assert_eq!(charset_from_content_type("text/html; Charset=\"KOI8-R\""), Some(encoding_rs::KOI8_R));
        assert_eq!(charset_from_content_type("text/html"), None);
    }
}
