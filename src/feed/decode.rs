//! Bytes -> UTF-8 text, choosing the encoding the way lenient feed readers do: a byte order mark,
//! then the HTTP charset, then the XML declaration, then detection. Labels that contradict the
//! bytes (a `utf-16` label on ASCII-compatible bytes, `utf-8` on bytes that are not UTF-8) are
//! ignored rather than trusted. No I/O.

use encoding_rs::Encoding;
use std::borrow::Cow;

/// A decoded document and how it was decoded.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    /// The document as UTF-8, without a byte order mark.
    pub text: Cow<'a, str>,
    /// Lower-case name of the encoding used, e.g. "utf-8", "windows-1251", "utf-16be".
    pub encoding: String,
    /// Notes for the repairs list when a label was overridden.
    pub notes: Vec<&'static str>,
}

/// The fixed-width Unicode encodings encoding_rs does not decode (UTF-32) or that must be
/// recognised from byte patterns before any label is read (UTF-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wide {
    Utf16Be,
    Utf16Le,
    Utf32Be,
    Utf32Le,
}

impl Wide {
    fn name(self) -> &'static str {
        match self {
            Wide::Utf16Be => "utf-16be",
            Wide::Utf16Le => "utf-16le",
            Wide::Utf32Be => "utf-32be",
            Wide::Utf32Le => "utf-32le",
        }
    }
}

/// Decodes `bytes`, using `http_charset` (the Content-Type charset parameter) when it is
/// plausible. Never fails: undecodable bytes become U+FFFD.
pub(crate) fn decode<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> Decoded<'a> {
    let mut notes = Vec::new();

    // 1. A byte order mark is the strongest signal there is.
    if let Some((wide, bom_len)) = wide_bom(bytes) {
        return decode_wide(&bytes[bom_len..], wide, notes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let (text, had_errors) = encoding_rs::UTF_8.decode_without_bom_handling(rest);
        if had_errors {
            notes.push("invalid-utf8-replaced");
        }
        return Decoded { text, encoding: "utf-8".into(), notes };
    }

    // 2. UTF-16/32 without a BOM show themselves by their zero bytes; labels can't be read
    // as ASCII in that case anyway.
    if let Some(wide) = sniff_wide(bytes) {
        return decode_wide(bytes, wide, notes);
    }

    // From here on the bytes are ASCII-compatible, so a label naming UTF-16/32 is a lie.
    let valid_utf8 = std::str::from_utf8(bytes).ok();
    let declared_label = xml_declared_encoding(bytes);
    let http = http_charset.and_then(|label| resolve_label(label, &mut notes));
    let declared = declared_label.and_then(|label| resolve_label(label, &mut notes));

    // 3. The HTTP charset wins (RFC 7303), unless it contradicts the bytes: `utf-8` over
    // non-UTF-8 bytes. (A legacy charset over valid UTF-8 is handled in `decode_with`.)
    if let Some(encoding) = http {
        if encoding == encoding_rs::UTF_8 && valid_utf8.is_none() {
            notes.push("http-charset-ignored");
        } else {
            return decode_with(bytes, encoding, valid_utf8, notes);
        }
    }

    // 4. The XML declaration, again unless `utf-8` is contradicted by the bytes.
    if let Some(encoding) = declared {
        if encoding == encoding_rs::UTF_8 && valid_utf8.is_none() {
            notes.push("declared-encoding-ignored");
        } else {
            return decode_with(bytes, encoding, valid_utf8, notes);
        }
    }

    // 5. Detection: valid UTF-8 is UTF-8; anything else goes to chardetng.
    if let Some(text) = valid_utf8 {
        return Decoded { text: Cow::Borrowed(text), encoding: "utf-8".into(), notes };
    }
    let encoding = detect(bytes);
    notes.push("encoding-detected");
    decode_with(bytes, encoding, None, notes)
}

/// Decodes with a known encoding; `valid_utf8` short-cuts the UTF-8 case without a copy.
///
/// Bytes that are valid UTF-8 and not plain ASCII are read as UTF-8 whatever the label says:
/// legacy-encoded text almost never forms valid multi-byte UTF-8 by accident, while UTF-8
/// documents labelled ISO-8859-1 (a server or template default) are common.
fn decode_with<'a>(
    bytes: &'a [u8],
    encoding: &'static Encoding,
    valid_utf8: Option<&'a str>,
    mut notes: Vec<&'static str>,
) -> Decoded<'a> {
    if let Some(text) = valid_utf8
        && (encoding == encoding_rs::UTF_8 || !text.is_ascii())
    {
        if encoding != encoding_rs::UTF_8 {
            notes.push("utf8-despite-label");
        }
        return Decoded { text: Cow::Borrowed(text), encoding: "utf-8".into(), notes };
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        notes.push("undecodable-bytes-replaced");
    }
    Decoded { text, encoding: encoding.name().to_ascii_lowercase(), notes }
}

/// Guesses a legacy encoding with chardetng (which also knows UTF-8, but that case is handled
/// before this is called).
fn detect(bytes: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// Maps a label to an encoding for ASCII-compatible bytes: unknown labels and UTF-16/32 labels
/// (which cannot describe bytes whose labels we could read as ASCII) give `None`.
fn resolve_label(label: &str, notes: &mut Vec<&'static str>) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(['"', '\'']);
    let lower = label.to_ascii_lowercase();
    if lower.starts_with("utf-32") || lower.starts_with("ucs-4") || lower == "utf32" {
        notes.push("wide-encoding-label-ignored");
        return None;
    }
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE => {
            notes.push("wide-encoding-label-ignored");
            None
        }
        // WHATWG maps several labels to "replacement" (ISO-2022-KR and friends): decoding with it
        // would destroy the document, so treat the label as unknown.
        Some(encoding) if encoding == encoding_rs::REPLACEMENT => None,
        Some(encoding) => Some(encoding),
        None => {
            // "utf16"/"ucs-2" style labels encoding_rs does not know.
            if lower.starts_with("utf16") || lower.starts_with("ucs-2") || lower == "unicode" {
                notes.push("wide-encoding-label-ignored");
            } else {
                notes.push("unknown-encoding-label");
            }
            None
        }
    }
}

/// Finds a UTF-16/32 byte order mark. UTF-32LE's BOM starts like UTF-16LE's, so it is tested first.
fn wide_bom(bytes: &[u8]) -> Option<(Wide, usize)> {
    if bytes.starts_with(&[0x00, 0x00, 0xFE, 0xFF]) {
        Some((Wide::Utf32Be, 4))
    } else if bytes.starts_with(&[0xFF, 0xFE, 0x00, 0x00]) {
        Some((Wide::Utf32Le, 4))
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        Some((Wide::Utf16Be, 2))
    } else if bytes.starts_with(&[0xFF, 0xFE]) {
        Some((Wide::Utf16Le, 2))
    } else {
        None
    }
}

/// Recognises BOM-less UTF-16/32 by where the zero bytes fall in the first bytes: markup is
/// mostly ASCII, so every other (or three in four) bytes are zero.
fn sniff_wide(bytes: &[u8]) -> Option<Wide> {
    let sample = &bytes[..bytes.len().min(256) & !3];
    if sample.len() < 4 {
        return None;
    }
    let mut zeros = [0usize; 4];
    for (index, byte) in sample.iter().enumerate() {
        if *byte == 0 {
            zeros[index % 4] += 1;
        }
    }
    let quarter = sample.len() / 4;
    let mostly = |count: usize| count * 10 >= quarter * 7;
    let rarely = |count: usize| count * 10 <= quarter * 2;
    if mostly(zeros[0]) && mostly(zeros[1]) && mostly(zeros[2]) && rarely(zeros[3]) {
        Some(Wide::Utf32Be)
    } else if rarely(zeros[0]) && mostly(zeros[1]) && mostly(zeros[2]) && mostly(zeros[3]) {
        Some(Wide::Utf32Le)
    } else if mostly(zeros[0]) && mostly(zeros[2]) && rarely(zeros[1]) && rarely(zeros[3]) {
        Some(Wide::Utf16Be)
    } else if mostly(zeros[1]) && mostly(zeros[3]) && rarely(zeros[0]) && rarely(zeros[2]) {
        Some(Wide::Utf16Le)
    } else {
        None
    }
}

/// Decodes UTF-16 with encoding_rs and UTF-32 by hand (encoding_rs follows WHATWG, which has no
/// UTF-32). Invalid code units become U+FFFD.
fn decode_wide<'a>(bytes: &'a [u8], wide: Wide, mut notes: Vec<&'static str>) -> Decoded<'a> {
    let text: Cow<'a, str> = match wide {
        Wide::Utf16Be | Wide::Utf16Le => {
            let encoding = if wide == Wide::Utf16Be { encoding_rs::UTF_16BE } else { encoding_rs::UTF_16LE };
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            if had_errors {
                notes.push("undecodable-bytes-replaced");
            }
            Cow::Owned(text.into_owned())
        }
        Wide::Utf32Be | Wide::Utf32Le => {
            let mut text = String::with_capacity(bytes.len() / 4);
            let mut had_errors = false;
            for chunk in bytes.chunks(4) {
                let Ok(quad) = <[u8; 4]>::try_from(chunk) else {
                    had_errors = true;
                    break;
                };
                let scalar =
                    if wide == Wide::Utf32Be { u32::from_be_bytes(quad) } else { u32::from_le_bytes(quad) };
                match char::from_u32(scalar) {
                    Some(ch) => text.push(ch),
                    None => {
                        had_errors = true;
                        text.push(char::REPLACEMENT_CHARACTER);
                    }
                }
            }
            if had_errors {
                notes.push("undecodable-bytes-replaced");
            }
            Cow::Owned(text)
        }
    };
    let text = match text {
        Cow::Owned(mut owned) if owned.starts_with('\u{FEFF}') => {
            owned.drain(..'\u{FEFF}'.len_utf8());
            Cow::Owned(owned)
        }
        other => other,
    };
    Decoded { text, encoding: wide.name().into(), notes }
}

/// Reads `encoding="…"` from an XML declaration in the first kilobyte, read as ASCII. Text before
/// the declaration (a stray newline, a PHP notice) is tolerated.
fn xml_declared_encoding(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = memchr::memmem::find(head, b"<?xml")?;
    let decl_end = memchr::memmem::find(&head[start..], b"?>").map_or(head.len(), |end| start + end);
    let decl = &head[start..decl_end];
    let attr = memchr::memmem::find(decl, b"encoding")?;
    let rest = &decl[attr + b"encoding".len()..];
    let rest = rest.trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let end = memchr::memchr(quote, value)?;
    std::str::from_utf8(&value[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big_endian { &[0xFE, 0xFF] } else { &[0xFF, 0xFE] });
        }
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        out
    }

    fn utf32(text: &str, big_endian: bool) -> Vec<u8> {
        text.chars()
            .flat_map(|ch| if big_endian { (ch as u32).to_be_bytes() } else { (ch as u32).to_le_bytes() })
            .collect()
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss><title>Привет</title></rss>";

    #[test]
    fn utf16_with_and_without_bom_in_both_byte_orders() {
        for big_endian in [true, false] {
            for bom in [true, false] {
                let bytes = utf16(DOC, big_endian, bom);
                let decoded = decode(&bytes, None);
                assert_eq!(decoded.text, DOC, "big_endian={big_endian} bom={bom}");
                assert_eq!(decoded.encoding, if big_endian { "utf-16be" } else { "utf-16le" });
            }
        }
    }

    #[test]
    fn utf32_is_decoded_by_hand() {
        for big_endian in [true, false] {
            let bytes = utf32(DOC, big_endian);
            let decoded = decode(&bytes, None);
            assert_eq!(decoded.text, DOC);
            assert!(decoded.encoding.starts_with("utf-32"));
        }
        let mut with_bom = vec![0xFF, 0xFE, 0, 0];
        with_bom.extend(utf32("<a/>", false));
        assert_eq!(decode(&with_bom, None).text, "<a/>");
    }

    #[test]
    fn utf8_bom_is_dropped() {
        let decoded = decode(b"\xEF\xBB\xBF<rss/>", None);
        assert_eq!(decoded.text, "<rss/>");
        assert_eq!(decoded.encoding, "utf-8");
    }

    #[test]
    fn declared_legacy_encoding_is_used() {
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1251.encode("<?xml version=\"1.0\" encoding=\"windows-1251\"?><t>Путин</t>");
        let decoded = decode(&bytes, None);
        assert!(decoded.text.contains("Путин"));
        assert_eq!(decoded.encoding, "windows-1251");
    }

    #[test]
    fn http_charset_decodes_an_undeclared_cp1251_body() {
        let (bytes, _, _) =
            encoding_rs::WINDOWS_1251.encode("<rss><title>Переговоры в Эр-Рияде</title></rss>");
        let decoded = decode(&bytes, Some("windows-1251"));
        assert!(decoded.text.contains("Переговоры"));
        assert_eq!(decoded.encoding, "windows-1251");
    }

    #[test]
    fn http_charset_overrides_the_declaration() {
        let (bytes, _, _) =
            encoding_rs::KOI8_R.encode("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>Мир</t>");
        let decoded = decode(&bytes, Some("koi8-r"));
        assert!(decoded.text.contains("Мир"));
        assert_eq!(decoded.encoding, "koi8-r");
    }

    #[test]
    fn utf16_label_on_utf8_bytes_is_ignored() {
        let decoded = decode(DOC.as_bytes(), None);
        assert_eq!(decoded.text, DOC);
        assert_eq!(decoded.encoding, "utf-8");
        assert!(decoded.notes.contains(&"wide-encoding-label-ignored"));
    }

    #[test]
    fn utf8_label_on_latin1_bytes_falls_back_to_detection() {
        let bytes =
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Not\xEDcias de S\xE3o Paulo e Bras\xEDlia</t>";
        let decoded = decode(bytes, None);
        assert!(decoded.text.contains("Notícias de São Paulo"), "{}", decoded.text);
        assert_eq!(decoded.encoding, "windows-1252");
    }

    #[test]
    fn legacy_labels_do_not_override_a_utf8_document() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Zürich</t>";
        let decoded = decode(doc.as_bytes(), Some("iso-8859-1"));
        assert_eq!(decoded.text, doc);
        assert!(decoded.notes.contains(&"utf8-despite-label"));
        let declared = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>für</t>";
        assert_eq!(decode(declared.as_bytes(), None).text, declared);
    }

    #[test]
    fn undeclared_legacy_encodings_are_detected() {
        let cases: [(&'static Encoding, &str); 4] = [
            (encoding_rs::SHIFT_JIS, "<t>日本語のニュースです。東京で会談が行われました。</t>"),
            (encoding_rs::GBK, "<t>中国新闻网报道，双方在北京举行会谈，讨论了双边关系。</t>"),
            (encoding_rs::EUC_KR, "<t>한국 뉴스입니다. 서울에서 회담이 열렸습니다.</t>"),
            (encoding_rs::WINDOWS_1251, "<t>Новости: в Москве прошли переговоры о мире.</t>"),
        ];
        for (encoding, text) in cases {
            let (bytes, _, _) = encoding.encode(text);
            let decoded = decode(&bytes, None);
            assert_eq!(decoded.text, text, "{}", encoding.name());
        }
    }

    #[test]
    fn declared_asian_encodings_decode() {
        for (encoding, label) in
            [(encoding_rs::BIG5, "big5"), (encoding_rs::GBK, "gb2312"), (encoding_rs::EUC_KR, "euc-kr")]
        {
            let doc = format!("<?xml version=\"1.0\" encoding=\"{label}\"?><t>中文 한국</t>");
            let (bytes, _, _) = encoding.encode(&doc);
            let decoded = decode(&bytes, None);
            assert!(decoded.text.starts_with("<?xml"), "{label}");
            assert_eq!(decoded.encoding, encoding.name().to_ascii_lowercase());
        }
    }

    #[test]
    fn unknown_labels_are_noted_and_ignored() {
        let decoded = decode(b"<?xml version='1.0' encoding='x-bogus'?><t>ok</t>", Some("nonsense"));
        assert_eq!(decoded.encoding, "utf-8");
        assert!(decoded.notes.contains(&"unknown-encoding-label"));
    }
}
