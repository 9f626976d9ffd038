//! OPML import and export (`feeds import`, `feeds export`) with the `opml` crate. Nested
//! outlines are flattened: the texts of the outlines around a feed (and its `category`
//! attribute) become its `tags`. Export writes OPML 2.0, one outline per feed, grouped under its
//! first tag, so exporting what was imported gives the same feed URLs and names.

use super::FeedConfig;
use super::edit::{NewFeed, slug, unique_name};
use opml::{OPML, Outline};

/// The feeds of an OPML document, with names made unique against `taken` (and each other).
pub fn import(text: &str, taken: &[String]) -> Result<Vec<NewFeed>, String> {
    let document = OPML::from_str(text).map_err(|err| err.to_string())?;
    let mut found = Vec::new();
    collect(&document.body.outlines, &mut Vec::new(), &mut found);
    let mut names: Vec<String> = taken.to_vec();
    let mut feeds = Vec::with_capacity(found.len());
    for (outline, tags) in found {
        let Some(url) = outline.xml_url.clone() else { continue };
        let label =
            outline.title.as_deref().filter(|title| !title.trim().is_empty()).unwrap_or(&outline.text);
        let base = if label.trim().is_empty() {
            url::Url::parse(&url).ok().and_then(|url| url.host_str().map(slug)).unwrap_or_else(|| slug(&url))
        } else {
            slug(label)
        };
        let name = unique_name(&base, &names);
        names.push(name.clone());
        feeds.push(NewFeed { name, url, interval: None, scrape: None, tags });
    }
    Ok(feeds)
}

fn collect<'a>(outlines: &'a [Outline], path: &mut Vec<String>, out: &mut Vec<(&'a Outline, Vec<String>)>) {
    for outline in outlines {
        if outline.xml_url.is_some() {
            let mut tags = path.clone();
            for category in outline.category.iter().flat_map(|categories| categories.split(',')) {
                let category = category.trim().trim_start_matches('/');
                if !category.is_empty() && !tags.iter().any(|tag| tag == category) {
                    tags.push(category.to_string());
                }
            }
            out.push((outline, tags));
        }
        if !outline.outlines.is_empty() {
            let label = outline.title.clone().unwrap_or_else(|| outline.text.clone());
            let pushed = !label.trim().is_empty();
            if pushed {
                path.push(label.trim().to_string());
            }
            collect(&outline.outlines, path, out);
            if pushed {
                path.pop();
            }
        }
    }
}

/// OPML 2.0 for `feeds`: untagged feeds at the top level, the others under their first tag.
pub fn export(feeds: &[FeedConfig], title: &str) -> Result<String, String> {
    let mut document = OPML {
        head: Some(opml::Head { title: Some(title.to_string()), ..opml::Head::default() }),
        ..OPML::default()
    };
    let outline_of = |feed: &FeedConfig| Outline {
        text: feed.name.clone(),
        title: Some(feed.name.clone()),
        r#type: Some("rss".to_string()),
        xml_url: Some(feed.url.to_string()),
        category: (!feed.tags.is_empty())
            .then(|| feed.tags.iter().map(|tag| format!("/{tag}")).collect::<Vec<_>>().join(",")),
        ..Outline::default()
    };
    let mut groups: Vec<Outline> = Vec::new();
    for feed in feeds {
        match feed.tags.first() {
            None => document.body.outlines.push(outline_of(feed)),
            Some(tag) => match groups.iter_mut().find(|group| &group.text == tag) {
                Some(group) => group.outlines.push(outline_of(feed)),
                None => groups.push(Outline {
                    text: tag.clone(),
                    title: Some(tag.clone()),
                    outlines: vec![outline_of(feed)],
                    ..Outline::default()
                }),
            },
        }
    }
    document.body.outlines.extend(groups);
    let xml = document.to_string().map_err(|err| err.to_string())?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="World" title="World">
      <outline text="BBC World" type="rss" xmlUrl="https://feeds.example.org/world.xml" htmlUrl="https://example.org/"/>
      <outline text="Wires">
        <outline text="Wire One" type="rss" xmlUrl="https://wire.example.com/rss"/>
      </outline>
    </outline>
    <outline text="" type="rss" xmlUrl="https://untitled.example.net/feed" category="/Tech,/News"/>
    <outline text="BBC World" type="rss" xmlUrl="https://feeds.example.org/other.xml"/>
    <outline text="a folder without feeds"/>
  </body>
</opml>"#;

    #[test]
    fn nested_outlines_are_flattened_into_tagged_feeds() {
        let feeds = import(SAMPLE, &["wire-one".to_string()]).unwrap();
        let summary: Vec<(&str, &str, Vec<&str>)> = feeds
            .iter()
            .map(|feed| {
                (feed.name.as_str(), feed.url.as_str(), feed.tags.iter().map(String::as_str).collect())
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("bbc-world", "https://feeds.example.org/world.xml", vec!["World"]),
                ("wire-one-2", "https://wire.example.com/rss", vec!["World", "Wires"]),
                ("untitled-example-net", "https://untitled.example.net/feed", vec!["Tech", "News"]),
                ("bbc-world-2", "https://feeds.example.org/other.xml", vec![]),
            ]
        );
    }

    #[test]
    fn export_then_import_gives_the_same_names_and_urls() {
        let feed = |name: &str, url: &str, tags: &[&str]| FeedConfig {
            name: name.into(),
            url: url::Url::parse(url).unwrap(),
            interval: Duration::from_secs(600),
            min_interval: Duration::from_secs(150),
            max_interval: Duration::from_secs(3600),
            scrape: true,
            backfill: Duration::from_secs(86_400),
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
        };
        let feeds = [
            feed("wire", "https://example.org/rss", &[]),
            feed("bbc-world", "https://example.com/world.xml", &["world"]),
            feed("tass-en", "https://example.net/en/rss", &["world", "russia"]),
        ];
        let xml = export(&feeds, "newswatch").unwrap();
        assert!(xml.contains("<opml version=\"2.0\">"), "{xml}");
        let back = import(&xml, &[]).unwrap();
        let pairs: Vec<(&str, &str)> =
            back.iter().map(|feed| (feed.name.as_str(), feed.url.as_str())).collect();
        let expected: Vec<(&str, String)> =
            feeds.iter().map(|feed| (feed.name.as_str(), feed.url.to_string())).collect();
        let expected: Vec<(&str, &str)> = expected.iter().map(|(name, url)| (*name, url.as_str())).collect();
        assert_eq!(pairs, expected);
        assert_eq!(back[2].tags, ["world", "russia"]);
    }

    #[test]
    fn a_broken_document_is_an_error() {
        assert!(import("<opml version=\"2.0\"><body><outline", &[]).is_err());
        assert!(import("<opml version=\"9\"><head/><body/></opml>", &[]).is_err());
    }
}
