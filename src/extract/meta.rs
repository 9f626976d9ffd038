//! Article metadata from structured data: JSON-LD (`NewsArticle`, `Article`, `BlogPosting`, ...),
//! OpenGraph and other `<meta>` tags, `<time>` elements and byline elements. No I/O.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use url::Url;

use super::dom::PageMeta;

/// What structured data says about the article.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    pub(crate) title: Option<String>,
    pub(crate) authors: Vec<String>,
    pub(crate) published: Option<DateTime<Utc>>,
    pub(crate) lang: Option<String>,
    pub(crate) canonical_url: Option<String>,
    /// JSON-LD `articleBody`, when present.
    pub(crate) json_ld_body: Option<String>,
}

/// JSON-LD facts about the first article-like object.
#[derive(Debug, Default)]
struct JsonLdArticle {
    headline: Option<String>,
    body: Option<String>,
    published: Option<String>,
    authors: Vec<String>,
    language: Option<String>,
    url: Option<String>,
}

/// Gathers metadata; `h1` is the first `<h1>` text of the page, used when nothing better exists.
pub(crate) fn collect(page: &PageMeta, url: Option<&Url>, h1: Option<&str>) -> Metadata {
    let json_ld = page.json_ld.iter().find_map(|text| parse_json_ld(text)).unwrap_or_default();
    let meta = |keys: &[&str]| -> Option<&str> {
        keys.iter().find_map(|key| {
            page.metas.iter().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim())
        })
    };

    let title = meta(&["og:title", "twitter:title"])
        .map(str::to_string)
        .or_else(|| json_ld.headline.clone())
        .or_else(|| h1.map(str::to_string))
        .or_else(|| page.title.clone())
        .map(|title| clean_title(&title))
        .filter(|title| !title.is_empty());

    let mut authors = json_ld.authors.clone();
    if authors.is_empty() {
        for key in [
            "author",
            "article:author",
            "byl",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "citation_author",
        ] {
            for (_, value) in page.metas.iter().filter(|(k, _)| k == key) {
                if !value.starts_with("http") {
                    authors.extend(split_authors(value));
                }
            }
        }
    }
    if authors.is_empty() {
        for byline in &page.bylines {
            authors.extend(split_authors(byline));
        }
    }
    dedupe(&mut authors);

    let published = json_ld
        .published
        .as_deref()
        .and_then(parse_date)
        .or_else(|| {
            meta(&[
                "article:published_time",
                "og:published_time",
                "datepublished",
                "pubdate",
                "publishdate",
                "publish-date",
                "date",
                "dc.date",
                "dc.date.issued",
                "dcterms.created",
                "parsely-pub-date",
                "sailthru.date",
                "article.published",
                "published_time",
                "cxenseparse:recs:publishtime",
            ])
            .and_then(parse_date)
        })
        .or_else(|| page.times.iter().find_map(|time| parse_date(time)))
        .or_else(|| page.bylines.iter().find_map(|byline| date_in_text(byline)));

    let lang = page
        .html_lang
        .clone()
        .or_else(|| meta(&["content-language", "og:locale", "language", "dc.language"]).map(str::to_string))
        .or(json_ld.language)
        .map(|lang| lang.trim().replace('_', "-"))
        .filter(|lang| !lang.is_empty() && lang.len() <= 35);

    let canonical_url = page
        .canonical
        .as_deref()
        .or_else(|| meta(&["og:url"]))
        .or(json_ld.url.as_deref())
        .and_then(|href| resolve(href, url));

    Metadata { title, authors, published, lang, canonical_url, json_ld_body: json_ld.body }
}

/// Titles are entity-decoded by the parser already, but some sites double-encode them; the cut
/// keeps `html_to_text` (a full parse) away from hostile multi-megabyte attributes.
fn clean_title(title: &str) -> String {
    let title = crate::text::truncate_chars(title.trim(), MAX_TITLE_CHARS);
    if title.contains(['<', '&']) {
        crate::text::html_to_text(&title)
    } else {
        crate::text::collapse_whitespace(&title)
    }
}

const MAX_TITLE_CHARS: usize = 500;

fn resolve(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    let resolved = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(resolved.scheme(), "http" | "https").then(|| resolved.to_string())
}

/// Parses a JSON-LD script and returns its first article-like object.
fn parse_json_ld(text: &str) -> Option<JsonLdArticle> {
    let text = text.trim().trim_start_matches("<!--").trim_end_matches("-->");
    let text = text.trim().trim_start_matches("//<![CDATA[").trim_end_matches("//]]>");
    let value: Value = serde_json::from_str(text).ok()?;
    let mut found = None;
    find_article(&value, &mut found, 0);
    found
}

/// Depth-first search for an object whose `@type` names an article kind.
fn find_article(value: &Value, found: &mut Option<JsonLdArticle>, depth: usize) {
    // serde_json already refuses nesting deeper than 128; this only keeps the walk short.
    if found.is_some() || depth > 16 {
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|item| find_article(item, found, depth + 1)),
        Value::Object(map) => {
            let is_article = match map.get("@type") {
                Some(Value::String(kind)) => is_article_type(kind),
                Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).any(is_article_type),
                _ => false,
            };
            if is_article {
                *found = Some(JsonLdArticle {
                    headline: string(map.get("headline")).or_else(|| string(map.get("name"))),
                    body: string(map.get("articleBody")).or_else(|| string(map.get("text"))),
                    published: string(map.get("datePublished")).or_else(|| string(map.get("dateCreated"))),
                    authors: names(map.get("author")),
                    language: string(map.get("inLanguage")),
                    url: string(map.get("url")).or_else(|| match map.get("mainEntityOfPage") {
                        Some(Value::Object(page)) => string(page.get("@id")),
                        other => string(other),
                    }),
                });
                return;
            }
            for key in ["@graph", "mainEntity", "mainEntityOfPage", "itemListElement"] {
                if let Some(inner) = map.get(key) {
                    find_article(inner, found, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn is_article_type(kind: &str) -> bool {
    kind.ends_with("Article")
        || matches!(kind, "BlogPosting" | "LiveBlogPosting" | "Report" | "Review" | "SocialMediaPosting")
}

fn string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Array(items) => items.first().and_then(|item| string(Some(item))),
        _ => None,
    }
}

fn names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(name)) => split_authors(name),
        Some(Value::Object(map)) => {
            string(map.get("name")).map(|name| split_authors(&name)).unwrap_or_default()
        }
        Some(Value::Array(items)) => items.iter().flat_map(|item| names(Some(item))).collect(),
        _ => Vec::new(),
    }
}

/// Splits "By Jane Roe and John Doe" / "Jane Roe, John Doe" into names.
fn split_authors(text: &str) -> Vec<String> {
    let text = crate::text::collapse_whitespace(text);
    // A byline often continues with a date or a role: "By Staff Reporter · Tue, 19 Nov 2019".
    let text = text.split(['·', '|', '\u{2022}', '\u{2014}']).next().unwrap_or("");
    let text = text.trim();
    let text = ["By ", "by ", "BY ", "Por ", "Von ", "Par "]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .unwrap_or(text);
    text.split(", ")
        .flat_map(|part| part.split(" and "))
        .map(|name| name.trim().trim_end_matches(',').trim().to_string())
        .filter(|name| {
            let words = name.split_whitespace().count();
            (1..=5).contains(&words)
                && name.len() <= 80
                && !name.starts_with("http")
                && !name.chars().any(|c| c.is_ascii_digit())
        })
        .collect()
}

fn dedupe(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.to_lowercase()));
}

/// Parses the date formats pages use; dates without a zone are taken as UTC.
pub(crate) fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(date.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(date) = DateTime::parse_from_str(text, format) {
            return Some(date.with_timezone(&Utc));
        }
    }
    for format in
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    {
        if let Ok(date) = NaiveDateTime::parse_from_str(text, format) {
            return Some(date.and_utc());
        }
    }
    if let Some(day) = text.get(..10)
        && let Ok(date) = NaiveDate::parse_from_str(day, "%Y-%m-%d")
    {
        return date.and_hms_opt(0, 0, 0).map(|date| date.and_utc());
    }
    DateTime::parse_from_rfc2822(text).ok().map(|date| date.with_timezone(&Utc))
}

/// Finds an RFC 2822 date after a separator in a byline ("By X · Tue, 19 Nov 2019 10:00:00 GMT").
fn date_in_text(text: &str) -> Option<DateTime<Utc>> {
    text.split(['·', '|', '\u{2022}']).skip(1).find_map(|part| parse_date(part.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ld_graph_article_gives_body_date_and_authors() {
        let page = PageMeta {
            json_ld: vec![
                "not json".into(),
                r#"{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},{"@type":["NewsArticle"],
                   "headline":"Talks end","articleBody":"Body text.","datePublished":"2025-02-18T10:00:00+03:00",
                   "author":[{"@type":"Person","name":"Jane Roe"},{"name":"John Doe"}]}]}"#
                    .into(),
            ],
            ..PageMeta::default()
        };
        let meta = collect(&page, None, None);
        assert_eq!(meta.title.as_deref(), Some("Talks end"));
        assert_eq!(meta.json_ld_body.as_deref(), Some("Body text."));
        assert_eq!(meta.authors, ["Jane Roe", "John Doe"]);
        assert_eq!(meta.published.map(|d| d.to_rfc3339()).as_deref(), Some("2025-02-18T07:00:00+00:00"));
    }

    #[test]
    fn meta_tags_and_bylines_fill_in() {
        let base = Url::parse("https://example.com/a/b.html").unwrap();
        let page = PageMeta {
            metas: vec![("og:title".into(), "OG &amp; title".into()), ("og:url".into(), "/canon".into())],
            bylines: vec!["By Staff Reporter · Tue, 18 Feb 2025 09:30:00 GMT".into()],
            html_lang: Some("en_GB".into()),
            ..PageMeta::default()
        };
        let meta = collect(&page, Some(&base), None);
        assert_eq!(meta.title.as_deref(), Some("OG & title"));
        assert_eq!(meta.authors, ["Staff Reporter"]);
        assert_eq!(meta.published.map(|d| d.to_rfc3339()).as_deref(), Some("2025-02-18T09:30:00+00:00"));
        assert_eq!(meta.lang.as_deref(), Some("en-GB"));
        assert_eq!(meta.canonical_url.as_deref(), Some("https://example.com/canon"));
    }

    #[test]
    fn dates_in_common_formats() {
        for text in [
            "2019-11-19",
            "2019-11-19T05:00:00Z",
            "2019-11-19T05:00:00.000+0000",
            "2019-11-19 05:00:00",
            "Tue, 19 Nov 2019 05:00:00 GMT",
        ] {
            assert!(parse_date(text).is_some(), "{text}");
        }
        assert!(parse_date("yesterday").is_none());
    }
}
