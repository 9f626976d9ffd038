//! HTML page -> article: title, main text, authors, publication time, language, canonical URL.
//!
//! The steps, all synchronous and without I/O:
//! 1. [`decode_html`]: bytes to text (BOM, HTTP charset, `<meta>`, then detection).
//! 2. The structural guard (`guard`): a linear pre-scan that simulates html5ever's stack of open
//!    elements and cuts the page before any tag that would make the parse expensive (nesting
//!    deeper than 512, a tag with over 1,000 attributes, too much stack walking overall); a page
//!    cut so early that no article is left is refused with [`ExtractError::Refused`].
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

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use url::Url;

pub use charset::decode_html;

/// What was extracted from a page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Article {
    pub title: Option<String>,
    /// Paragraphs separated by blank lines.
    pub text: String,
    pub authors: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub lang: Option<String>,
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
    let (text, _encoding) = decode_html(html, http_charset);
    article_from_str(&text, url)
}

/// Runs only the structural guard: `(bytes safe to parse, why the page was cut, deepest
/// simulated nesting, work units)`. For benchmarks and diagnostics.
#[doc(hidden)]
pub fn guard_check(page: &str) -> (usize, Option<String>, usize, u64) {
    let verdict = guard::check(page);
    (verdict.safe_len, verdict.cut_reason, verdict.max_depth, verdict.work)
}

/// [`article`] for a page that is already text.
pub fn article_from_str(page: &str, url: Option<&Url>) -> Result<Article, ExtractError> {
    let verdict = guard::check(page);
    let parsed = scraper::Html::parse_document(&page[..verdict.safe_len]);
    let dom = dom::flatten(&parsed);
    let title_hint = dom
        .meta
        .metas
        .iter()
        .find(|(key, _)| key == "og:title")
        .map(|(_, title)| title.as_str())
        .or(dom.meta.title.as_deref());
    let extracted = content::extract(&dom, title_hint);
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

/// One line of `newswatch extract` output.
#[derive(Debug, serde::Serialize)]
struct ExtractLine<'a> {
    path: &'a str,
    title: Option<&'a str>,
    text: &'a str,
    authors: &'a [String],
    published: Option<DateTime<Utc>>,
    lang: Option<&'a str>,
    canonical_url: Option<&'a str>,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `newswatch extract`: extracts each file (`.html`, `.html.gz`, or `-` for stdin) and writes one
/// JSON object per line to `out`. Returns `Ok(false)` when a file could not be read (the others
/// are still processed), `Ok(true)` otherwise; an extraction error is reported in the line's
/// `error` field, not as a failure.
pub fn extract_files(
    files: &[PathBuf],
    url: Option<&Url>,
    charset: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<bool> {
    let mut all_read = true;
    for path in files {
        let shown = path.display().to_string();
        let bytes = match read_page(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("error: {err:#}");
                all_read = false;
                continue;
            }
        };
        let result = article(&bytes, url, charset);
        let line = match &result {
            Ok(found) => ExtractLine {
                path: &shown,
                title: found.title.as_deref(),
                text: &found.text,
                authors: &found.authors,
                published: found.published,
                lang: found.lang.as_deref(),
                canonical_url: found.canonical_url.as_deref(),
                method: &found.method,
                error: None,
            },
            Err(err) => ExtractLine {
                path: &shown,
                title: None,
                text: "",
                authors: &[],
                published: None,
                lang: None,
                canonical_url: None,
                method: "",
                error: Some(err.to_string()),
            },
        };
        serde_json::to_writer(&mut *out, &line).context("cannot write output")?;
        out.write_all(b"\n").context("cannot write output")?;
    }
    out.flush().context("cannot write output")?;
    Ok(all_read)
}

/// Reads a page file, gunzipping `.gz` files; `-` is stdin.
pub fn read_page(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).context("cannot read stdin")?;
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        if path.extension().is_some_and(|ext| ext == "gz") {
            flate2::read::GzDecoder::new(file)
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot gunzip {}", path.display()))?;
        } else {
            std::io::BufReader::new(file)
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
    }
    Ok(bytes)
}
