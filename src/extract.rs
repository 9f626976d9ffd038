//! HTML page -> article. OWNED BY THE EXTRACT HELPER: this is the interface stub. No I/O.

use chrono::{DateTime, Utc};
use url::Url;

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
    /// Which method produced the text (e.g. "json-ld", "article", "density").
    pub method: String,
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

/// Decodes `html` (BOM, `http_charset`, meta, detection) and extracts the article.
pub fn article(html: &[u8], url: Option<&Url>, http_charset: Option<&str>) -> Result<Article, ExtractError> {
    let _ = (url, http_charset);
    let text = crate::text::html_to_text(&String::from_utf8_lossy(html));
    if text.is_empty() {
        return Err(ExtractError::Empty);
    }
    Ok(Article { text, method: "whole-page".into(), ..Article::default() })
}
