//! Editing a configuration file in place (`feeds add`, `feeds remove`, `feeds import`) with
//! `toml_edit`, so the user's comments, order and layout survive. Text in, text out: the CLI
//! validates the result with [`Config::from_toml`](super::Config::from_toml) and writes it.

use std::fmt;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

/// A feed to add, as the user or an OPML file gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewFeed {
    pub name: String,
    pub url: String,
    /// As written in the file ("5m"); None inherits `[defaults]`.
    pub interval: Option<String>,
    /// Some(false) for `--no-scrape`; None inherits `[defaults]`.
    pub scrape: Option<bool>,
    pub tags: Vec<String>,
}

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The file is not TOML (the message has the line).
    Syntax(String),
    /// `feeds` exists but is not an array of tables.
    FeedsNotTables,
    NameTaken(String),
    UrlTaken {
        url: String,
        name: String,
    },
    UnknownName {
        name: String,
        known: Vec<String>,
    },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Syntax(message) => write!(f, "not valid TOML: {message}"),
            EditError::FeedsNotTables => write!(f, "`feeds` is not a list of [[feeds]] tables"),
            EditError::NameTaken(name) => write!(f, "a feed named {name:?} already exists"),
            EditError::UrlTaken { url, name } => write!(f, "{url} is already watched as {name:?}"),
            EditError::UnknownName { name, known } => {
                write!(f, "no feed named {name:?} (known: {})", known.join(", "))
            }
        }
    }
}

impl std::error::Error for EditError {}

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|err| EditError::Syntax(err.to_string().trim().to_string()))
}

/// The `[[feeds]]` array, created when the file has none.
fn feeds_mut(document: &mut DocumentMut) -> Result<&mut ArrayOfTables, EditError> {
    let item = document.entry("feeds").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut().ok_or(EditError::FeedsNotTables)
}

/// `(name, url)` of every feed in the file, in order.
pub fn feed_names_and_urls(text: &str) -> Result<Vec<(String, String)>, EditError> {
    let document = parse(text)?;
    let Some(item) = document.get("feeds") else { return Ok(Vec::new()) };
    let feeds = item.as_array_of_tables().ok_or(EditError::FeedsNotTables)?;
    Ok(feeds
        .iter()
        .map(|table| {
            let field = |key: &str| table.get(key).and_then(Item::as_str).unwrap_or_default().to_string();
            (field("name"), field("url"))
        })
        .collect())
}

/// `text` with `feeds` appended as `[[feeds]]` tables, after the last existing feed.
pub fn add_feeds(text: &str, feeds: &[NewFeed]) -> Result<String, EditError> {
    let mut document = parse(text)?;
    let existing = feed_names_and_urls(text)?;
    let array = feeds_mut(&mut document)?;
    let mut seen = existing;
    for feed in feeds {
        if seen.iter().any(|(name, _)| *name == feed.name) {
            return Err(EditError::NameTaken(feed.name.clone()));
        }
        if let Some((name, _)) = seen.iter().find(|(_, url)| *url == feed.url) {
            return Err(EditError::UrlTaken { url: feed.url.clone(), name: name.clone() });
        }
        let mut table = Table::new();
        table.insert("name", value(&feed.name));
        table.insert("url", value(&feed.url));
        if let Some(interval) = &feed.interval {
            table.insert("interval", value(interval));
        }
        if let Some(scrape) = feed.scrape {
            table.insert("scrape", value(scrape));
        }
        if !feed.tags.is_empty() {
            let tags: toml_edit::Array = feed.tags.iter().map(String::as_str).collect();
            table.insert("tags", value(tags));
        }
        array.push(table);
        seen.push((feed.name.clone(), feed.url.clone()));
    }
    Ok(document.to_string())
}

/// `text` without the `[[feeds]]` table named `name`; every other line is kept.
pub fn remove_feed(text: &str, name: &str) -> Result<String, EditError> {
    let mut document = parse(text)?;
    let known: Vec<String> = feed_names_and_urls(text)?.into_iter().map(|(name, _)| name).collect();
    let Some(index) = known.iter().position(|known| known == name) else {
        return Err(EditError::UnknownName { name: name.to_string(), known });
    };
    feeds_mut(&mut document)?.remove(index);
    Ok(document.to_string())
}

/// A feed name made from free text (a title, a host): lower-case letters, digits and '-', at
/// most 40 characters, never empty.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() { "feed".to_string() } else { trimmed.to_string() }
}

/// `base`, or `base-2`, `base-3`, … whichever is not in `taken`.
pub fn unique_name(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|name| name == base) {
        return base.to_string();
    }
    (2..).map(|n| format!("{base}-{n}")).find(|name| !taken.contains(name)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# my newswatch
[daemon]
state_dir = "data"   # where state lives

# wires
[[feeds]]
name = "wire"        # the main one
url = "https://example.org/rss"

[[feeds]]
name = "other"
url = "https://example.net/atom"

[[topics]]
id = "us-russia-talks"
"#;

    #[test]
    fn adding_keeps_comments_and_layout() {
        let feed = NewFeed {
            name: "third".into(),
            url: "https://example.com/feed".into(),
            interval: Some("5m".into()),
            scrape: Some(false),
            tags: vec!["news".into()],
        };
        let edited = add_feeds(FILE, &[feed]).unwrap();
        assert!(edited.starts_with(
            "# my newswatch\n[daemon]\nstate_dir = \"data\"   # where state lives\n\n# wires\n[[feeds]]\nname = \"wire\"        # the main one"
        ), "{edited}");
        assert!(edited.contains(
            "[[feeds]]\nname = \"third\"\nurl = \"https://example.com/feed\"\ninterval = \"5m\"\nscrape = false\ntags = [\"news\"]\n"
        ), "{edited}");
        let names: Vec<String> =
            feed_names_and_urls(&edited).unwrap().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["wire", "other", "third"]);
    }

    #[test]
    fn duplicates_are_refused() {
        let same_name = NewFeed { name: "wire".into(), url: "https://x.org/".into(), ..NewFeed::default() };
        assert_eq!(add_feeds(FILE, &[same_name]), Err(EditError::NameTaken("wire".into())));
        let same_url =
            NewFeed { name: "x".into(), url: "https://example.org/rss".into(), ..NewFeed::default() };
        assert!(matches!(add_feeds(FILE, &[same_url]), Err(EditError::UrlTaken { .. })));
    }

    #[test]
    fn removing_keeps_everything_else() {
        let edited = remove_feed(FILE, "other").unwrap();
        assert!(!edited.contains("example.net"), "{edited}");
        assert!(edited.contains("name = \"wire\"        # the main one"), "{edited}");
        assert!(edited.contains("state_dir = \"data\"   # where state lives"), "{edited}");
        assert!(edited.contains("[[topics]]\nid = \"us-russia-talks\""), "{edited}");
        let err = remove_feed(FILE, "nope").unwrap_err();
        assert_eq!(err.to_string(), "no feed named \"nope\" (known: wire, other)");
    }

    #[test]
    fn names_are_slugs_and_unique() {
        assert_eq!(slug("BBC News – World!"), "bbc-news-world");
        assert_eq!(slug("Новости"), "feed");
        assert_eq!(unique_name("wire", &["wire".into(), "wire-2".into()]), "wire-3");
    }
}
