//! HTML page -> article: title, main text, authors, publication time, language, canonical URL.
//!
//! The steps, all synchronous and without I/O:
//! 1. [`decode_html`]: bytes to text (BOM, HTTP charset, `<meta>`, then detection; bytes that
//!    are valid UTF-8 win over a declared legacy charset).
//! 2. The structural guard (`guard`): a linear pre-scan that simulates html5ever's stack of open
//!    elements and cuts the page before any tag that would make the parse expensive (nesting
//!    deeper than 512, a tag with over 1,000 attributes, too much stack walking overall); a page
//!    cut so early that no article is left is refused with [`ExtractError::Refused`]. It also
//!    notes the bodies of scripts and styles, which are left out of the parse.
//! 3. One html5ever parse (`scraper`), flattened into an arena with the page's metadata (`dom`).
//! 4. Metadata (`meta`): JSON-LD `NewsArticle`/`Article`, OpenGraph and other meta tags.
//! 5. Main text (`content`): content scoring picks the container with the most paragraph text and
//!    the least boilerplate; the JSON-LD `articleBody` replaces it when the page's markup holds
//!    much less than the structured data.
//!
//! `scraper::Html` is `!Send`; it never leaves [`article`], which returns owned data, so callers
//! can run it inside `spawn_blocking`. Nothing here panics on any input.

mod charset;
mod content;
mod dom;
mod guard;
mod meta;
mod scan;

use chrono::{DateTime, Utc};
use url::Url;

pub use charset::decode_html;

/// What was extracted from a page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Article {
    /// OpenGraph/Twitter title, else JSON-LD headline, else the title `<h1>`, else `<title>`.
    pub title: Option<String>,
    /// Paragraphs separated by blank lines.
    pub text: String,
    /// From JSON-LD `author`, else author meta tags, else byline elements ("By " removed).
    pub authors: Vec<String>,
    /// JSON-LD `datePublished`, else publication meta tags, `<time datetime>`, a byline date.
    pub published: Option<DateTime<Utc>>,
    /// `<html lang>`, else `Content-Language`/`og:locale`, else JSON-LD `inLanguage`.
    pub lang: Option<String>,
    /// `<link rel=canonical>`, else `og:url`, else JSON-LD `url`, resolved against the page URL.
    pub canonical_url: Option<String>,
    /// Which method produced the text: `"json-ld"` (structured data), `"article"` (a semantic
    /// container: `<article>`, `itemprop=articleBody` or an article-body class), `"density"`
    /// (content scoring alone).
    pub method: String,
    /// Why the structural guard cut the page before parsing, when it did (the text then comes
    /// from the part before the cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// Why a page gave no article.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExtractError {
    /// The structural guard refused the page before parsing.
    #[error("page refused before parsing: {0}")]
    Refused(String),
    /// The page parsed but had no article text.
    #[error("no article text found")]
    Empty,
}

/// The JSON-LD body wins when the markup gives less than this share of its words.
const JSON_LD_PREFERRED_BELOW: f64 = 0.6;
/// ... and holds at least this many words.
const JSON_LD_MIN_WORDS: usize = 30;

/// Decodes `html` (BOM, `http_charset`, meta, detection) and extracts the article.
///
/// `url` resolves a relative canonical link. Never panics; the parse is bounded by the
/// structural guard (see the module documentation).
pub fn article(html: &[u8], url: Option<&Url>, http_charset: Option<&str>) -> Result<Article, ExtractError> {
    let (text, _encoding) = charset::decode_html_cow(html, http_charset);
    article_from_str(&text, url)
}

/// Runs only the structural guard: `(bytes safe to parse, why the page was cut, deepest
/// simulated nesting, work units)`. For benchmarks and diagnostics.
#[doc(hidden)]
pub fn guard_check(page: &str) -> (usize, Option<String>, usize, u64) {
    let verdict = guard::check(page);
    (verdict.safe_len, verdict.cut_reason, verdict.max_depth, verdict.work)
}

/// Lists the page's elements with their content scores (container `=>`, title `T`,
/// boilerplate `x`). For diagnostics (`examples/extract_explain.rs`).
#[doc(hidden)]
pub fn explain(html: &[u8]) -> String {
    let mut out = String::new();
    let (page, _encoding) = charset::decode_html_cow(html, None);
    let verdict = guard::check(&page);
    let parsed = scraper::Html::parse_document(&verdict.parse_input(&page));
    let dom = dom::flatten(&parsed);
    content::extract(&dom, title_hint(&dom), Some(&mut out));
    out
}

/// OpenGraph title, else `<title>`: tells the content step which heading is the title.
fn title_hint<'d>(dom: &'d dom::Dom<'_>) -> Option<&'d str> {
    dom.meta
        .metas
        .iter()
        .find(|(key, _)| key == "og:title")
        .map(|(_, title)| title.as_str())
        .or(dom.meta.title.as_deref())
}

/// [`article`] for a page that is already text.
pub fn article_from_str(page: &str, url: Option<&Url>) -> Result<Article, ExtractError> {
    let verdict = guard::check(page);
    let parsed = scraper::Html::parse_document(&verdict.parse_input(page));
    let dom = dom::flatten(&parsed);
    let extracted = content::extract(&dom, title_hint(&dom), None);
    let metadata = meta::collect(&dom.meta, url, extracted.h1.as_deref());

    let dom_words = word_count(&extracted.text);
    let (text, method) = match metadata.json_ld_body.as_deref().map(json_ld_text) {
        Some(body)
            if word_count(&body) >= JSON_LD_MIN_WORDS
                && (dom_words as f64) < word_count(&body) as f64 * JSON_LD_PREFERRED_BELOW =>
        {
            (body, "json-ld")
        }
        _ if extracted.semantic => (extracted.text, "article"),
        _ => (extracted.text, "density"),
    };
    if text.is_empty() {
        return Err(match verdict.cut_reason {
            Some(reason) => ExtractError::Refused(reason),
            None => ExtractError::Empty,
        });
    }
    Ok(Article {
        title: metadata.title,
        text,
        authors: metadata.authors,
        published: metadata.published,
        lang: metadata.lang,
        canonical_url: metadata.canonical_url,
        method: method.to_string(),
        truncated: verdict.cut_reason,
    })
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// JSON-LD bodies are plain text, sometimes with HTML tags or entities left in; this strips tags
/// without a parse (the body is attacker-sized) and keeps line breaks as paragraph breaks.
fn json_ld_text(body: &str) -> String {
    let mut plain = String::with_capacity(body.len());
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push('\n');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let plain = plain
        .replace("&nbsp;", " ")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    plain
        .lines()
        .map(crate::text::collapse_whitespace)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tools::read_page;
    use std::collections::HashMap;
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages").join(name);
        read_page(&path).expect("fixture is readable")
    }

    fn fixture_text(name: &str) -> String {
        String::from_utf8(fixture(name)).expect("expected texts are UTF-8")
    }

    /// The shared scorer's metric for one page: F1 of the multisets of 4-word shingles.
    fn shingle_f1(predicted: &str, expected: &str) -> f64 {
        fn shingles(text: &str) -> HashMap<Vec<String>, usize> {
            let words: Vec<String> = text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|word| !word.is_empty())
                .map(str::to_string)
                .collect();
            let mut out = HashMap::new();
            for window in words.windows(4.min(words.len()).max(1)) {
                *out.entry(window.to_vec()).or_insert(0) += 1;
            }
            out
        }
        let (predicted, expected) = (shingles(predicted), shingles(expected));
        let common: usize = predicted
            .iter()
            .map(|(shingle, count)| (*count).min(expected.get(shingle).copied().unwrap_or(0)))
            .sum();
        let precision = common as f64 / predicted.values().sum::<usize>().max(1) as f64;
        let recall = common as f64 / expected.values().sum::<usize>().max(1) as f64;
        if common == 0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
    }

    fn check_extract(page: &str, expected: &str, charset: Option<&str>) -> Article {
        let found = article(&fixture(page), None, charset).expect("the page has an article");
        let f1 = shingle_f1(&found.text, &fixture_text(expected));
        assert!(f1 >= 0.95, "{page}: F1 {f1:.3}\n{}", found.text);
        found
    }

    #[test]
    fn real_news_pages_match_their_reference_text() {
        let found = check_extract("panarmenian.html.gz", "panarmenian.expected.txt", None);
        assert!(found.title.is_some_and(|title| !title.is_empty()));
        check_extract("jpost.html.gz", "jpost.expected.txt", None);
    }

    #[test]
    fn windows_1251_page_comes_out_as_cyrillic_declared_or_not() {
        // The page declares no charset: detection has to find windows-1251.
        let found = check_extract("vse-diety-cp1251.html", "vse-diety-cp1251.expected.txt", None);
        assert!(found.text.contains("Диета Аткинса"), "{}", &found.text[..200]);
        check_extract("vse-diety-cp1251.html", "vse-diety-cp1251.expected.txt", Some("windows-1251"));
        // The same page in KOI8-R, labelled only by the HTTP header.
        let (text, _) = decode_html(&fixture("vse-diety-cp1251.html"), Some("windows-1251"));
        let (koi8, _, _) = encoding_rs::KOI8_R.encode(&text);
        let found = article(&koi8, None, Some("koi8-r")).expect("article");
        assert!(shingle_f1(&found.text, &fixture_text("vse-diety-cp1251.expected.txt")) >= 0.95);
    }

    #[test]
    fn body_only_in_json_ld_is_used_with_its_metadata() {
        let url = Url::parse("https://zeitung.example/politik/").unwrap();
        let found = article(&fixture("jsonld-only.html"), Some(&url), None).expect("article");
        assert_eq!(found.method, "json-ld");
        assert!(found.text.starts_with("Der Stadtrat hat am Dienstagabend"));
        assert_eq!(found.text.split("\n\n").count(), 3);
        assert!(!found.text.contains("JavaScript"));
        assert_eq!(found.title.as_deref(), Some("Stadtrat beschließt Haushalt für 2025"));
        assert_eq!(found.authors, ["Anna Beispiel", "Jonas Muster"]);
        assert_eq!(found.published.map(|d| d.to_rfc3339()).as_deref(), Some("2025-02-18T08:30:00+00:00"));
        assert_eq!(found.lang.as_deref(), Some("de"));
        assert_eq!(
            found.canonical_url.as_deref(),
            Some("https://zeitung.example/politik/stadtrat-haushalt-2025")
        );
    }

    const SIDEBAR_HEADLINES: [&str; 3] =
        ["Central bank raises interest rates", "Floods force thousands", "Champions League quarter-final"];

    #[test]
    fn feedfarm_layout_gives_the_body_without_sidebar_byline_or_comments() {
        let found = article(&fixture("loopback-gazette.html"), None, None).expect("article");
        assert!(found.text.starts_with("Russian Foreign Minister Sergei Lavrov"), "{}", found.text);
        assert!(found.text.contains("without it."));
        assert_eq!(found.text.split("\n\n").count(), 3, "{}", found.text);
        for unwanted in SIDEBAR_HEADLINES.iter().chain(&[
            "Most read",
            "Staff Reporter",
            "Leave a Reply",
            "email address",
            "overdue step",
            "Home",
        ]) {
            assert!(!found.text.contains(unwanted), "{unwanted:?} leaked into {}", found.text);
        }
        assert_eq!(found.title.as_deref(), Some("Lavrov and Rubio agree to restore embassies"));
        assert_eq!(found.authors, ["Staff Reporter"]);
        assert_eq!(found.published.map(|d| d.to_rfc3339()).as_deref(), Some("2025-02-18T14:05:00+00:00"));
        assert_eq!(found.lang.as_deref(), Some("en"));
        assert_eq!(found.method, "article");
    }

    #[test]
    fn one_line_brief_still_comes_from_the_article_not_the_sidebar() {
        let page = fixture_text("loopback-gazette.html");
        let start = page.find("<p>Russian").unwrap();
        let end = page.find("</article>").unwrap();
        let brief = format!("{}<p>Talks ended.</p>{}", &page[..start], &page[end..]);
        let found = article(brief.as_bytes(), None, None).expect("article");
        assert_eq!(found.text, "Talks ended.");
    }

    /// Extracts a fixture page and checks what is kept and what is left out.
    fn check_kept_and_dropped(page: &str, kept: &[&str], dropped: &[&str]) -> Article {
        let found = article(&fixture(page), None, None).expect("the page has an article");
        for phrase in kept {
            assert!(found.text.contains(phrase), "{page}: {phrase:?} is missing from\n{}", found.text);
        }
        for phrase in dropped {
            assert!(!found.text.contains(phrase), "{page}: {phrase:?} leaked into\n{}", found.text);
        }
        found
    }

    #[test]
    fn issue_14_story_ends_before_a_ticker_and_a_teaser_stream() {
        check_kept_and_dropped(
            "teaser-stream.html",
            &["ending months of argument", "until the work is finished."],
            &[
                // The live ticker: far more link-dense than the story.
                "Ferry timetable",
                "two fewer crossings",
                "Lifeboat crew",
                // The stream of opinion teasers: cards of one kind, each with its link.
                "moved inland",
                "Our columnist argues",
                "made very different ones",
                "About us",
            ],
        );
    }

    #[test]
    fn issue_14_gallery_inside_the_story_is_left_out_and_does_not_sink_it() {
        // The slides hold more text than the story itself.
        check_kept_and_dropped(
            "gallery-after-article.html",
            &["reopened its doors on Saturday", "researchers early next year.", "within its budget."],
            &["1/12", "Scaffolding covered", "mosaic floor", "In pictures", "doors opened at ten"],
        );
    }

    #[test]
    fn issue_14_photo_post_with_short_captions_beats_its_longer_comment_thread() {
        let found = check_kept_and_dropped(
            "captions-and-comments.html",
            &["Morning mist over the lake", "The trail down to the falls", "Sunset from the lookout"],
            &["Margaret", "What a beautiful set of photos", "proper boots", "Answer", "thoughts on"],
        );
        assert_eq!(found.text.split("\n\n").count(), 8, "{}", found.text);
    }

    #[test]
    fn issue_14_table_bodied_page_gives_its_table() {
        let found = check_kept_and_dropped(
            "standings-table.html",
            &["Riverside Rovers", "Westgate Wanderers", "St Anne's", "Pts"],
            &["Comments are moderated", "County Sport", "Privacy"],
        );
        // Every team's row is there, in order, with its points.
        let rovers = found.text.find("Riverside Rovers").unwrap();
        let anne = found.text.find("St Anne's").unwrap();
        assert!(rovers < anne);
        assert!(found.text[rovers..].starts_with("Riverside Rovers\n\n12\n\n9\n\n2\n\n1\n\n27\n\n9\n\n29"));
    }

    #[test]
    fn issue_14_documentation_page_keeps_every_section() {
        check_kept_and_dropped(
            "docs-sections.html",
            &[
                "Install the tool",
                "tidewatch --version",
                "thresholds that raise an alarm",
                "Start the daemon",
                "Configuration reference",
                "never stops the polling.",
            ],
            &["On this page", "Overview of the tool", "Release notes", "Previous: Overview"],
        );
    }

    #[test]
    fn issue_14_utf8_page_declaring_a_legacy_charset_is_read_as_utf8() {
        let found = check_kept_and_dropped(
            "wrong-charset-utf8.html",
            &[
                "a adopté mardi soir le budget de l’année prochaine",
                "« Nous avons fait des choix difficiles »",
            ],
            &["Ã©", "\u{FFFD}", "Accueil"],
        );
        assert_eq!(found.title.as_deref(), Some("Le conseil municipal adopte le budget"));
        // An HTTP header naming the legacy charset is overruled the same way.
        let found = article(&fixture("wrong-charset-utf8.html"), None, Some("iso-8859-1")).expect("article");
        assert!(found.text.contains("débat animé"), "{}", found.text);
    }

    #[test]
    fn issue_14_blog_post_structures_keep_the_story_and_drop_its_lists() {
        check_kept_and_dropped(
            "post-structures.html",
            &[
                // A standfirst in a <header> inside the marked article body.
                "Twelve weeks in, the harbour tools project doubles its staff",
                // A section whose class is its heading as a slug ("sharing-...").
                "Splitting the work was not a simple decision.",
                "both team leads sign",
                // The prose item of a list whose other items are only links.
                "The console no longer freezes when a gauge stops reporting",
                // An embedded post inside a widget.
                "declared it faster than the kettle",
                // A paragraph whose hover card of links outweighs its words.
                "The harbour master, Jane Roe",
                "said on Friday that the console would stay",
                "before the autumn gales.",
            ],
            &[
                // A "More ... Stories" label that is not a heading element, and its list.
                "More Great Harbour Stories",
                "calibrated in the spring",
                "was finally retired",
                // The hover card's links.
                "Storm season preparations",
                "after a trial run",
                // The rel=tag list and its label.
                "Tags",
                "tide model,",
                "engineering team",
                "Written by",
            ],
        );
    }

    #[test]
    fn links_with_boilerplate_classes_inside_a_sentence_stay_in_it() {
        let page = format!(
            "<html><body><nav><a href=/>Home</a></nav><article><p>{} the government plans to reverse \
             its position on <a class=meta-loc href=/sudan>Sudan</a> and lift trade sanctions<span \
             class=sr-only> (opens in a new window)</span>, officials said late on Thursday.</p></article>\
             </body></html>",
            "After nearly twenty years of hostile relations, "
        );
        let found = article(page.as_bytes(), None, None).expect("article");
        assert!(found.text.contains("position on Sudan and lift"), "{}", found.text);
        assert!(!found.text.contains("new window"), "{}", found.text);
    }

    #[test]
    fn page_without_text_is_empty_not_an_error_of_the_guard() {
        assert!(matches!(
            article(b"<html><body><nav><a href=/>Home</a></nav></body></html>", None, None),
            Err(ExtractError::Empty)
        ));
        assert!(matches!(article(b"", None, None), Err(ExtractError::Empty)));
    }

    #[test]
    fn deeply_nested_page_is_refused_and_a_hostile_tail_is_cut_off() {
        let hostile = "<div>".repeat(16_000);
        match article(hostile.as_bytes(), None, None) {
            Err(ExtractError::Refused(reason)) => {
                assert!(reason.contains("deeper than 512"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let page = format!(
            "<html><body><article><p>{}</p></article>{}",
            "The council approved the budget after a long debate. ".repeat(5),
            "<div>".repeat(16_000)
        );
        let found = article(page.as_bytes(), None, None).expect("the prefix has the article");
        assert!(found.text.starts_with("The council approved"));
        assert!(found.truncated.is_some());
    }

    /// Depth of the deepest element of a parsed document.
    fn parsed_depth(html: &scraper::Html) -> usize {
        let (mut depth, mut deepest) = (0usize, 0usize);
        for edge in html.tree.root().traverse() {
            match edge {
                ego_tree::iter::Edge::Open(node) if node.value().is_element() => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ego_tree::iter::Edge::Close(node) if node.value().is_element() => depth -= 1,
                _ => {}
            }
        }
        deepest
    }

    /// Random markup from the pieces that stress html5ever: formatting elements with distinct
    /// attributes, mis-nesting, tables, foreign content, raw-text elements, comments, broken tags.
    fn random_markup(rng: &mut fastrand::Rng, pieces: usize) -> String {
        const TAGS: &[&str] = &[
            "div",
            "p",
            "b",
            "i",
            "a",
            "font",
            "span",
            "li",
            "ul",
            "table",
            "tr",
            "td",
            "th",
            "tbody",
            "svg",
            "math",
            "path",
            "foreignObject",
            "style",
            "script",
            "title",
            "textarea",
            "select",
            "option",
            "button",
            "h1",
            "h2",
            "form",
            "template",
            "br",
            "img",
            "nobr",
            "em",
            "strong",
            "dd",
            "dt",
            "dl",
            "caption",
            "object",
            "marquee",
            "mi",
            "desc",
            "noscript",
            "iframe",
            "section",
            "x-custom",
        ];
        let mut out = String::new();
        for _ in 0..pieces {
            let tag = TAGS[rng.usize(..TAGS.len())];
            match rng.u8(..12) {
                0..=4 => {
                    out.push('<');
                    out.push_str(tag);
                    for _ in 0..rng.usize(..3) {
                        out.push_str(&format!(" c{}=\"{}\"", rng.u8(..4), rng.u16(..)));
                    }
                    out.push_str(if rng.bool() && rng.bool() { "/>" } else { ">" });
                }
                5..=7 => out.push_str(&format!("</{tag}>")),
                8 | 9 => out.push_str(["x", " ", "text ", "&amp;", "é"][rng.usize(..5)]),
                10 => out.push_str(
                    ["<!-- c -->", "<!--", "-->", "<!doctype html>", "<", "\"", "'"][rng.usize(..7)],
                ),
                _ => out
                    .push_str(["<p><b class=q>", "</p>", "<b><div>", "</b>", "<table><td>"][rng.usize(..5)]),
            }
        }
        out
    }

    const DEPTH_SLACK: usize = 16;

    #[test]
    fn guard_depth_bounds_the_real_parse_on_random_markup() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for round in 0..300 {
            let page = random_markup(&mut rng, 400);
            let verdict = guard::check(&page);
            let parsed = scraper::Html::parse_document(&page[..verdict.safe_len]);
            // html, head/body are implied elements the simulation does not count.
            let real = parsed_depth(&parsed);
            // The simulation is exact or deeper except in rare template/foster-parenting corners,
            // where it was measured at most 8 levels shallow over 20,000+ random pages; the
            // slack also covers the implied html/head/body it does not count.
            assert!(
                real <= verdict.max_depth + DEPTH_SLACK,
                "round {round}: parser depth {real} > guard depth {} + {DEPTH_SLACK} for {page:?}",
                verdict.max_depth
            );
            // The whole pipeline never panics on it.
            let _ = article(page.as_bytes(), None, None);
        }
    }

    #[test]
    fn random_bytes_and_hostile_shapes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..rng.usize(..2000)).map(|_| rng.u8(..)).collect();
            let _ = article(&bytes, None, Some(["utf-8", "koi8-r", "bogus", "utf-16le"][rng.usize(..4)]));
        }
        let attributes: String = (0..5000).map(|index| format!(" a{index}=x")).collect();
        for hostile in [
            format!("<div{attributes}>x"),
            "<b><i><a><font>".repeat(20_000),
            (0..3000).map(|index| format!("<p><b class=c{index}>x</p>")).collect(),
            "<table><tr><td>".repeat(20_000),
            format!("<svg><style>{}", "<div>".repeat(5000)),
        ] {
            let verdict = guard::check(&hostile);
            assert!(verdict.cut_reason.is_some(), "not cut: {}", &hostile[..60]);
            assert!(verdict.max_depth <= guard::MAX_DEPTH + 64 && verdict.work <= guard::MAX_WORK + 100_000);
        }
    }
}
