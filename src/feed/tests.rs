//! Tests of the whole `feed::parse` path: every failure class issue 5 names, on fixture copies
//! of notable files from both shared corpora (tests/fixtures/feeds/parse/README.md), plus
//! hostile input from RELIABILITY.md's X rows and a never-panics property test.

use super::*;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds/parse")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()))
}

fn feed_url() -> Url {
    Url::parse("https://news.example/rss/world.xml").expect("static URL")
}

/// The charset a feedparser suite file's `Header: Content-type` line would have sent.
fn suite_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).to_ascii_lowercase();
    let line = head.lines().find(|line| line.trim_start().starts_with("header:"))?;
    let value = line.split("charset").nth(1)?.trim_start().strip_prefix('=')?.trim();
    value.split([';', ' ']).find(|s| !s.is_empty()).map(str::to_string)
}

fn parse_fixture(name: &str) -> ParsedFeed {
    let bytes = fixture(name);
    let charset = suite_charset(&bytes);
    parse(&bytes, &feed_url(), charset.as_deref()).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// One fixture's expected result.
struct Case {
    file: &'static str,
    format: &'static str,
    encoding: &'static str,
    items: usize,
    /// A repair (or fallback) that must be listed, if any.
    repair: Option<&'static str>,
    /// The first entry's title, if the document has one.
    title: Option<&'static str>,
    /// The first entry's canonical link, if it has one.
    link: Option<&'static str>,
}

const CASES: &[Case] = &[
    // New York Times: feed-rs rejects the whole feed over an empty <media:description/>.
    Case {
        file: "codehollow__Rss20NYTimes.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 5,
        repair: Some("fallback-extractor"),
        title: Some("Putin Led a Complex Cyberattack Scheme to Aid Trump, Report Finds"),
        link: Some(
            "http://www.nytimes.com/2017/01/06/us/politics/donald-trump-wall-hack-russia.html?partner=rss&emc=rss",
        ),
    },
    // Suspilne: a stray default namespace on <rss> makes feed-rs read zero items.
    Case {
        file: "feeder__rss_ukrnet.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 3,
        repair: Some("stray-default-namespace"),
        title: Some("Торгівля між Росією та Китаєм у 2023 році перевищила 200 млрд доларів — New York Times"),
        link: Some(
            "https://suspilne.media/645026-torgivla-miz-rosieu-ta-kitaem-u-2023-roci-perevisila-200-mlrd-dolariv-new-york-times/",
        ),
    },
    // heise: RSS 0.90, which feed-rs "parses" to zero items.
    Case {
        file: "miniflux__rdf_UTF8.xml",
        format: "rss0.90",
        encoding: "utf-8",
        items: 60,
        repair: Some("rss090-namespace"),
        title: Some("OLED-TVs: Vorsichtsmaßnahmen gegen Einbrennen"),
        link: Some(
            "https://www.heise.de/newsticker/meldung/OLED-TVs-Vorsichtsmassnahmen-gegen-Einbrennen-4205274.html?wt_mc=rss.ho.beitrag.rdf",
        ),
    },
    // The Guardian: an unescaped & in a media:content URL.
    Case {
        file: "feeder__rss_theguardian.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 3,
        repair: Some("unescaped-ampersand"),
        title: Some("Saudi foreign minister defends role in securing Ukraine prisoner swaps"),
        link: None,
    },
    // UOL: <rss> without version, Latin-1 bytes, no XML declaration.
    Case {
        file: "rss-parser__uolNoticias.rss",
        format: "rss",
        encoding: "windows-1252",
        items: 15,
        repair: Some("rss-version-missing"),
        title: Some("Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"),
        link: None,
    },
    // Latin-1 without any declaration.
    Case {
        file: "miniflux__no_encoding_ISO-8859-1.xml",
        format: "rss2.0",
        encoding: "windows-1252",
        items: 10,
        repair: Some("encoding-detected"),
        title: Some("Perturbateurs endocriniens : quels effets sur le cerveau ?"),
        link: None,
    },
    // UTF-8 bytes labelled encoding="utf-16".
    Case {
        file: "fastfeedparser__utf16_encoded.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 1,
        repair: Some("wide-encoding-label-ignored"),
        title: Some("UTF-16 Entry 1"),
        link: Some("https://example.com/entry1"),
    },
    // UTF-8 bytes labelled ISO-8859-1: read as UTF-8, not as mojibake.
    Case {
        file: "codehollow__Rss20FinanzenNet.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 15,
        repair: Some("utf8-despite-label"),
        title: Some("NVIDIA Buy"),
        link: None,
    },
    // windows-1251 with a stray namespace; feed-rs reads 0 of 10.
    Case {
        file: "node-feedparser__iconv.xml",
        format: "rss2.0",
        encoding: "windows-1251",
        items: 10,
        repair: Some("stray-default-namespace"),
        title: Some("В Бузулуке главные стройплощадки – детсад и Ледовый дворец"),
        link: Some("http://www.oren.ru/news/2743422/"),
    },
    // Illegally nested items: feed-rs reads 10 of 20.
    Case {
        file: "node-feedparser__illegally-nested.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 20,
        repair: Some("fallback-extractor"),
        title: Some("My Professional Armchair Analysis of CES"),
        link: None,
    },
    // Broken XML feed-rs rejects (a CDATA section left open).
    Case {
        file: "fastfeedparser__osm-pl.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 8,
        repair: Some("fallback-extractor"),
        title: Some("Cyfrowy Kanon Krajoznawczy Polski będzie opracowywany przez OSMP!"),
        link: None,
    },
    // Namespaced RSS elements, two XML declarations, no version: feedparser reads 0, we read both.
    Case {
        file: "fastfeedparser__malformed_rss_namespaced.xml",
        format: "rss",
        encoding: "utf-8",
        items: 2,
        repair: Some("fallback-extractor"),
        title: Some("Test Entry 1"),
        link: Some("https://example.com/entry1"),
    },
    // Reuters "Most Read", cut off by a server error: no items, but a feed.
    Case {
        file: "feed-rs__rss_2.0_invalid_1.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 0,
        repair: Some("fallback-extractor"),
        title: None,
        link: None,
    },
    Case {
        file: "prof18__feed-test-greek.xml",
        format: "rss2.0",
        encoding: "iso-8859-7",
        items: 1,
        repair: None,
        title: Some("«Πορτραίτα καραντίνας» για έμπνευση από τη συλλογή Φέλιου"),
        link: None,
    },
    Case {
        file: "rsparser__kc0011.rss",
        format: "rss2.0",
        encoding: "gbk",
        items: 20,
        repair: None,
        title: Some("建国35周年纪念，华表，和平鸽"),
        link: Some("http://www.kc0011.net/dispbbs.asp?BoardID=10&ID=25164257&Page=1"),
    },
    Case {
        file: "feed-rs__atom_mediarss_youtube_1.xml",
        format: "atom1.0",
        encoding: "utf-8",
        items: 1,
        repair: None,
        title: Some("Navigating with Quantum Entanglement"),
        link: Some("https://www.youtube.com/watch?v=0A1ouV7iD8o"),
    },
    Case {
        file: "feed-rs__jsonfeed_elastic_1.1.json",
        format: "json1.1",
        encoding: "utf-8",
        items: 3,
        repair: None,
        title: Some("InfluxDB vs. Graphite for Time Series Data & Metrics Benchmark"),
        link: None,
    },
    // feedparser's own suite.
    Case {
        file: "suite/encoding_utf-16be-bom.xml",
        format: "rss",
        encoding: "utf-16be",
        items: 0,
        repair: None,
        title: None,
        link: None,
    },
    Case {
        file: "suite/encoding_utf-16le-autodetect.xml",
        format: "rss",
        encoding: "utf-16le",
        items: 0,
        repair: None,
        title: None,
        link: None,
    },
    Case {
        file: "suite/encoding_utf-32le-autodetect.xml",
        format: "rss",
        encoding: "utf-32le",
        items: 0,
        repair: None,
        title: None,
        link: None,
    },
    Case {
        file: "suite/encoding_http_text_xml_charset_2.xml",
        format: "rss2.0",
        encoding: "windows-1252",
        items: 1,
        repair: None,
        title: Some("Foo"),
        link: None,
    },
    Case {
        file: "suite/encoding_euc-kr-item.xml",
        format: "rss2.0",
        encoding: "euc-kr",
        items: 1,
        repair: None,
        title: None,
        link: None,
    },
    Case {
        file: "suite/illformed_chardet_koi8r.xml",
        format: "rss",
        encoding: "koi8-u",
        items: 1,
        repair: Some("encoding-detected"),
        title: Some("Как пережить новогоднюю ночь"),
        link: None,
    },
    Case {
        file: "suite/illformed_chardet_shiftjis.xml",
        format: "atom1.0",
        encoding: "shift_jis",
        items: 1,
        repair: Some("encoding-detected"),
        title: Some("DrecomRSSに記事投稿が反映されない…"),
        link: None,
    },
    Case {
        file: "suite/illformed_chardet_big5.xml",
        format: "atom1.0",
        encoding: "big5",
        items: 0,
        repair: Some("encoding-detected"),
        title: None,
        link: None,
    },
    Case {
        file: "suite/illformed_rss_incomplete_cdata.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 1,
        repair: Some("fallback-extractor"),
        title: None,
        link: None,
    },
    Case {
        file: "suite/illformed_rss_item_link_corrupted_ampersands.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 1,
        repair: None,
        title: None,
        link: Some("http://link/get?a=1&b=2"),
    },
    Case {
        file: "suite/entities_query_variable_entry.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 1,
        repair: Some("unescaped-ampersand"),
        title: None,
        link: Some("http://example/?a=1&b=2&c"),
    },
    Case {
        file: "suite/wellformed_atom_entry_issued.xml",
        format: "atom0.3",
        encoding: "utf-8",
        items: 1,
        repair: Some("fallback-extractor"),
        title: None,
        link: None,
    },
    Case {
        file: "suite/wellformed_cdf_item_title.xml",
        format: "cdf",
        encoding: "utf-8",
        items: 1,
        repair: Some("fallback-extractor"),
        title: Some("Example item"),
        link: None,
    },
    Case {
        file: "suite/wellformed_rdf_rss090_item_title.xml",
        format: "rss0.90",
        encoding: "utf-8",
        items: 1,
        repair: Some("rss090-namespace"),
        title: Some("Item title"),
        link: None,
    },
    Case {
        file: "suite/wellformed_rss_item_dc_title.xml",
        format: "rss2.0",
        encoding: "utf-8",
        items: 1,
        repair: None,
        title: Some("Example title"),
        link: None,
    },
];

#[test]
fn fixtures_parse_as_expected() {
    for case in CASES {
        let parsed = parse_fixture(case.file);
        let file = case.file;
        assert_eq!(parsed.format, case.format, "{file}: format");
        assert_eq!(parsed.encoding, case.encoding, "{file}: encoding");
        assert_eq!(parsed.entries.len(), case.items, "{file}: items ({:?})", parsed.repairs);
        if let Some(repair) = case.repair {
            assert!(
                parsed.repairs.iter().any(|r| r.starts_with(repair)),
                "{file}: {repair} not in {:?}",
                parsed.repairs
            );
        }
        if let Some(title) = case.title {
            assert_eq!(parsed.entries[0].title, title, "{file}: title");
        }
        if let Some(link) = case.link {
            assert_eq!(parsed.entries[0].link.as_ref().map(Url::as_str), Some(link), "{file}: link");
        }
        for entry in &parsed.entries {
            assert!(!entry.key.is_empty(), "{file}: empty key");
            if let Some(link) = &entry.link {
                assert!(matches!(link.scheme(), "http" | "https"), "{file}: {link}");
                assert!(link.fragment().is_none() && !link.as_str().contains("utm_"), "{file}: {link}");
            }
            assert!(
                !entry.title.contains(['<', '\n']) || entry.title.contains("< "),
                "{file}: {:?}",
                entry.title
            );
        }
    }
}

#[test]
fn every_fixture_file_has_a_case_and_a_readme_line() {
    let readme = std::fs::read_to_string(fixture_dir().join("README.md")).expect("fixture README");
    let mut files = Vec::new();
    for dir in [fixture_dir(), fixture_dir().join("suite")] {
        for entry in std::fs::read_dir(&dir).expect("fixture dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && name != "README.md" {
                files.push(if dir.ends_with("suite") { format!("suite/{name}") } else { name });
            }
        }
    }
    for file in files {
        let base = file.trim_start_matches("suite/");
        assert!(readme.contains(base), "{file} is not described in the fixture README");
    }
}

#[test]
fn real_feed_fields_are_normalised() {
    let nyt = parse_fixture("codehollow__Rss20NYTimes.xml");
    let first = &nyt.entries[0];
    assert_eq!(
        first.key,
        "id:http://www.nytimes.com/2017/01/06/us/politics/donald-trump-wall-hack-russia.html"
    );
    assert_eq!(first.authors, ["MICHAEL D. SHEAR and DAVID E. SANGER"]);
    assert_eq!(first.published.map(|d| d.to_rfc3339()).as_deref(), Some("2017-01-07T01:49:31+00:00"));
    assert!(first.summary.starts_with("U.S. intelligence agencies presented"));

    let youtube = parse_fixture("feed-rs__atom_mediarss_youtube_1.xml");
    let video = &youtube.entries[0];
    assert_eq!(video.key, "id:yt:video:0A1ouV7iD8o");
    // The summary comes from media:description when there is no summary or content.
    assert!(video.summary.starts_with("Check Out Weathered on PBS Terra"));
    assert!(video.updated.is_some() && video.published.is_some());
}

#[test]
fn http_charset_decodes_a_cp1251_body_without_declaration() {
    // RELIABILITY.md X6: the charset is only in the HTTP header.
    let doc = "<rss version=\"2.0\"><channel><item><title>Лавров и Рубио обсудили Украину</title>\
               <link>https://example.ru/1</link></item></channel></rss>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(doc);
    let parsed = parse(&bytes, &feed_url(), Some("windows-1251")).expect("a feed");
    assert_eq!(parsed.encoding, "windows-1251");
    assert_eq!(parsed.entries[0].title, "Лавров и Рубио обсудили Украину");
}

#[test]
fn html_entities_and_unescaped_ampersands_are_repaired() {
    let doc = "<rss version=\"2.0\"><channel><item><title>Talks&nbsp;resume &mdash; Q&A</title>\
               <link>https://example.com/a?x=1&y=2</link><description>caf&eacute; &hellip;</description>\
               </item></channel></rss>";
    let parsed = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    let entry = &parsed.entries[0];
    // The no-break space is whitespace, collapsed like any other.
    assert_eq!(entry.title, "Talks resume — Q&A");
    assert_eq!(entry.summary, "café …");
    assert_eq!(entry.link.as_ref().map(Url::as_str), Some("https://example.com/a?x=1&y=2"));
    assert!(parsed.repairs.contains(&"html-entities".to_string()));
    assert!(parsed.repairs.contains(&"unescaped-ampersand".to_string()));
}

#[test]
fn links_resolve_against_xml_base_and_the_feed_url_and_bad_schemes_drop() {
    let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://cdn.example/base/">
        <entry><id>tag:a</id><link href="story?utm_source=x#c"/></entry>
        <entry xml:base="/other/"><id>tag:b</id><link href="s2"/></entry>
        <entry><id>tag:c</id><link href="javascript:alert(1)"/></entry>
        </feed>"#;
    let parsed = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    let links: Vec<Option<&str>> = parsed.entries.iter().map(|e| e.link.as_ref().map(Url::as_str)).collect();
    assert_eq!(links, [Some("https://cdn.example/base/story"), Some("https://cdn.example/other/s2"), None]);
    let relative = "<rss version=\"2.0\"><channel><item><link>../x.html</link></item></channel></rss>";
    let parsed = parse(relative.as_bytes(), &feed_url(), None).expect("a feed");
    assert_eq!(parsed.entries[0].link.as_ref().map(Url::as_str), Some("https://news.example/x.html"));
}

#[test]
fn item_without_guid_or_link_gets_the_same_key_every_time() {
    // RELIABILITY.md D1: feed-rs would generate a random UUID for this item on each parse.
    let doc = "<rss version=\"2.0\"><channel><item><title>Talks in Riyadh</title>\
               <pubDate>Tue, 18 Feb 2025 10:00:00 GMT</pubDate></item>\
               <item><description>no title either</description></item></channel></rss>";
    let first = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    let second = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    assert_eq!(first.entries.len(), 2);
    for (a, b) in first.entries.iter().zip(&second.entries) {
        assert!(a.key.starts_with("hash:"), "{}", a.key);
        assert_eq!(a.key, b.key);
    }
    assert_ne!(first.entries[0].key, first.entries[1].key);
    // Another feed URL gives another key.
    let other = Url::parse("https://other.example/feed").expect("static URL");
    let elsewhere = parse(doc.as_bytes(), &other, None).expect("a feed");
    assert_ne!(elsewhere.entries[0].key, first.entries[0].key);
}

#[test]
fn entries_are_capped_per_document() {
    // RELIABILITY.md X4, scaled down: more items than MAX_ENTRIES.
    let mut doc = String::from("<rss version=\"2.0\"><channel>");
    for index in 0..MAX_ENTRIES + 50 {
        doc.push_str(&format!("<item><guid>g{index}</guid><title>t{index}</title></item>"));
    }
    doc.push_str("</channel></rss>");
    let parsed = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    assert_eq!(parsed.entries.len(), MAX_ENTRIES);
    assert_eq!(parsed.entries[0].title, "t0");
}

#[test]
fn entity_bombs_and_external_entities_stay_literal() {
    // RELIABILITY.md X1/X2: no DTD processing, unknown entities are kept as text.
    let doc = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">
        <!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel>
        <item><title>&lol2; &xxe;</title><guid>a</guid></item></channel></rss>"#;
    let parsed = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    assert_eq!(parsed.entries[0].title, "&lol2; &xxe;");
}

#[test]
fn hostile_and_broken_documents_are_errors_or_feeds_never_panics() {
    // RELIABILITY.md X3/X5.
    let deep = "<rss version=\"2.0\"><channel><item><description>".to_string() + &"<b>".repeat(100_000);
    let _ = parse(deep.as_bytes(), &feed_url(), None);
    let namespaces: String = (0..20_000).map(|i| format!("<x xmlns:n{i}=\"urn:{i}\">")).collect();
    let _ = parse(format!("<rss version=\"2.0\"><channel>{namespaces}").as_bytes(), &feed_url(), None);

    let truncated = "<rss version=\"2.0\"><channel><item><title>kept</title></item><item><title>cut";
    let parsed = parse(truncated.as_bytes(), &feed_url(), None).expect("a partial feed");
    assert_eq!(parsed.entries[0].title, "kept");

    let nul_ref = "<rss version=\"2.0\"><channel><item><title>a&#0;b</title></item></channel></rss>";
    let parsed = parse(nul_ref.as_bytes(), &feed_url(), None).expect("a feed");
    assert_eq!(parsed.entries[0].title, "a\u{fffd}b");

    let invalid_utf8 =
        b"<rss version=\"2.0\"><channel><item><title>\xff\xfe bad</title></item></channel></rss>";
    assert_eq!(parse(invalid_utf8, &feed_url(), None).expect("a feed").entries.len(), 1);

    for not_a_feed in [
        &b""[..],
        b"   ",
        b"<!-- only a comment -->",
        b"plain text",
        b"{\"a\": 1}",
        b"<html><body>hi</body></html>",
    ] {
        let err = parse(not_a_feed, &feed_url(), None).expect_err("not a feed");
        assert!(!err.reason.contains("panicked"), "{err}");
    }
}

/// Checks the invariants every parse result must keep, and that no panic was caught.
fn check_invariants(result: &Result<ParsedFeed, FeedError>, what: &str) {
    match result {
        Ok(parsed) => {
            assert!(parsed.entries.len() <= MAX_ENTRIES, "{what}");
            for entry in &parsed.entries {
                assert!(!entry.key.is_empty(), "{what}");
                assert!(entry.link.as_ref().is_none_or(|l| matches!(l.scheme(), "http" | "https")), "{what}");
                assert!(entry.title.chars().count() <= MAX_TITLE_CHARS + 1, "{what}");
            }
        }
        Err(err) => assert!(!err.reason.contains("panicked"), "{what}: {err}"),
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_feed);
    let alphabet: &[u8] =
        b"<>/&;#x!?[]-=\"' abcdefghijklmnopqrstuvwxyzitemrsschannelentry\n\x00\xff\xfe\xef\xbb\xbf";
    for round in 0..400 {
        let len = rng.usize(0..2_000);
        let bytes: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| rng.u8(..)).collect()
        } else {
            // Markup-shaped noise reaches deeper into the tokenizers than uniform bytes.
            (0..len).map(|_| alphabet[rng.usize(..alphabet.len())]).collect()
        };
        let charset = ["utf-8", "utf-16", "windows-1251", "bogus"][rng.usize(..4)];
        let result = parse(&bytes, &feed_url(), rng.bool().then_some(charset));
        check_invariants(&result, &format!("random round {round}"));
    }
}

#[test]
fn mutated_real_feeds_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0xfeed_5eed);
    let files = [
        "codehollow__Rss20NYTimes.xml",
        "feeder__rss_ukrnet.xml",
        "feeder__rss_theguardian.xml",
        "rss-parser__uolNoticias.rss",
        "feed-rs__atom_mediarss_youtube_1.xml",
        "feed-rs__jsonfeed_elastic_1.1.json",
        "suite/encoding_utf-16be-bom.xml",
        "suite/wellformed_cdf_item_title.xml",
        "suite/wellformed_atom_entry_issued.xml",
    ];
    for file in files {
        let original = fixture(file);
        for round in 0..25 {
            let mut bytes = original.clone();
            for _ in 0..rng.usize(1..6) {
                mutate(&mut rng, &mut bytes);
            }
            check_invariants(&parse(&bytes, &feed_url(), None), &format!("{file} mutation {round}"));
        }
    }
}

/// One random edit: truncate, delete, duplicate, overwrite or insert markup-ish bytes.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(b'<');
        return;
    }
    let at = rng.usize(..bytes.len());
    let span = rng.usize(1..64).min(bytes.len() - at);
    match rng.u8(..5) {
        0 => bytes.truncate(at),
        1 => {
            bytes.drain(at..at + span);
        }
        2 => {
            let copy = bytes[at..at + span].to_vec();
            let to = rng.usize(..bytes.len());
            bytes.splice(to..to, copy);
        }
        3 => {
            for byte in &mut bytes[at..at + span] {
                *byte = rng.u8(..);
            }
        }
        _ => {
            let snippets: [&[u8]; 8] = [
                b"<![CDATA[",
                b"]]>",
                b"&",
                b"&nbsp;",
                b"<item>",
                b"</channel>",
                b"<?xml version=\"1.0\" encoding=\"utf-16\"?>",
                b"\xff\xfe",
            ];
            let snippet = snippets[rng.usize(..snippets.len())];
            bytes.splice(at..at, snippet.iter().copied());
        }
    }
}

#[test]
fn deep_nesting_anywhere_is_handled_without_stack_overflow() {
    // RELIABILITY.md X3: a stack overflow would abort the process, which catch_unwind cannot
    // stop, so nesting is probed where feed-rs and the fallback each walk elements.
    let wraps = [
        "<rss version=\"2.0\"><channel>{}</channel></rss>",
        "<rss version=\"2.0\"><channel><item>{}</item></channel></rss>",
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>{}</entry></feed>",
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><content type=\"xhtml\">{}</content></entry></feed>",
        "<feed xmlns=\"http://purl.org/atom/ns#\"><entry><title>{}</title></entry></feed>",
    ];
    let depth = 60_000;
    let inner = "<x>".repeat(depth) + &"</x>".repeat(depth);
    for wrap in wraps {
        let doc = wrap.replace("{}", &inner);
        let result = parse(doc.as_bytes(), &feed_url(), None);
        check_invariants(&result, wrap);
    }
}

#[test]
fn a_million_items_are_cut_at_the_cap_before_parsing() {
    // Issue 11: a 7 MB feed of a million empty items peaked at 723 MB, every entry built before
    // the cut. Now the cap applies before any parser builds entries (benches/bounds.rs prints
    // the peak memory); the repair note says items were left unread.
    let mut rss = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    rss.push_str(&"<item/>".repeat(1_000_000));
    rss.push_str("</channel></rss>");
    let parsed = parse_capped(rss.as_bytes(), &feed_url(), None, 100).expect("a feed");
    assert_eq!(parsed.entries.len(), 100);
    assert!(parsed.repairs.iter().any(|r| r == "items-beyond-cap-ignored"), "{:?}", parsed.repairs);

    // Atom with real entries, the cap above MAX_ENTRIES (MAX_ENTRIES wins).
    let mut atom = String::from("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>");
    for index in 0..50_000 {
        atom.push_str(&format!("<entry><id>urn:x:{index}</id><title>t{index}</title></entry>"));
    }
    atom.push_str("</feed>");
    let parsed = parse_capped(atom.as_bytes(), &feed_url(), None, 100_000).expect("a feed");
    assert_eq!(parsed.entries.len(), MAX_ENTRIES);
    assert_eq!(parsed.entries[0].key, "id:urn:x:0");
    assert_eq!(parsed.entries[MAX_ENTRIES - 1].title, format!("t{}", MAX_ENTRIES - 1));
    assert!(parsed.repairs.iter().any(|r| r == "items-beyond-cap-ignored"), "{:?}", parsed.repairs);

    // JSON Feed: a million empty objects.
    let mut json = String::from("{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[");
    json.push_str(&"{},".repeat(1_000_000));
    json.push_str("{}]}");
    let parsed = parse_capped(json.as_bytes(), &feed_url(), None, 100).expect("a feed");
    assert_eq!(parsed.entries.len(), 100);
    assert!(parsed.repairs.iter().any(|r| r == "items-beyond-cap-ignored"), "{:?}", parsed.repairs);

    // A feed at the cap exactly is not marked.
    let small = "<rss version=\"2.0\"><channel><item><title>a</title></item></channel></rss>";
    let parsed = parse_capped(small.as_bytes(), &feed_url(), None, 1).expect("a feed");
    assert_eq!(parsed.entries.len(), 1);
    assert!(parsed.repairs.is_empty(), "{:?}", parsed.repairs);
}

#[test]
fn impossible_and_far_future_dates_are_dropped_and_said_so() {
    // Issue 11: year 9999 at -14:00 became `+10000-…` in `published`.
    let doc = "<rss version=\"2.0\"><channel>\
        <item><guid>a</guid><pubDate>Fri, 31 Dec 9999 23:00:00 -1400</pubDate></item>\
        <item><guid>b</guid><pubDate>Mon, 01 Jan 2224 00:00:00 GMT</pubDate></item>\
        <item><guid>c</guid><pubDate>Tue, 18 Feb 2025 10:00:00 GMT</pubDate></item></channel></rss>";
    let parsed = parse(doc.as_bytes(), &feed_url(), None).expect("a feed");
    let published: Vec<Option<String>> =
        parsed.entries.iter().map(|entry| entry.published.map(|date| date.to_rfc3339())).collect();
    assert_eq!(published, [None, None, Some("2025-02-18T10:00:00+00:00".to_string())]);
    assert!(
        parsed.repairs.contains(
            &"dates-dropped (1 beyond RFC 3339's years, 1 more than a day in the future)".to_string()
        ),
        "{:?}",
        parsed.repairs
    );
}
