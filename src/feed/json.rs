//! JSON Feed 1.0/1.1, read leniently from a `serde_json::Value` (ids may be numbers, fields may
//! have the wrong type, 1.0's `author` and 1.1's `authors` both count). feed-rs's typed reader
//! rejects a whole feed over one odd field; this one skips the field. No I/O.

use super::dates::parse_date;
use super::normalise::{RawEntry, RawLink};
use serde_json::Value;

/// A JSON document read as a feed: its format name and raw entries.
pub(crate) fn extract(text: &str, max_entries: usize) -> Result<(String, Vec<RawEntry>), String> {
    let document: Value = serde_json::from_str(text).map_err(|err| format!("invalid JSON: {err}"))?;
    let Some(object) = document.as_object() else {
        return Err("JSON document is not an object".into());
    };
    // Dave Winer's "RSS in JSON" (`{"rss": {"channel": {"item": [...]}}}`) is RSS 2.0 spelled
    // in JSON; its items carry RSS field names.
    if let Some(channel) = object.get("rss").and_then(|rss| rss.get("channel")) {
        let items = match channel.get("item") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => Vec::new(),
        };
        let entries =
            items.into_iter().filter_map(Value::as_object).take(max_entries).map(rss_entry).collect();
        return Ok(("rss-in-json".to_string(), entries));
    }
    let version = object.get("version").and_then(Value::as_str).unwrap_or("");
    let items = object.get("items").and_then(Value::as_array);
    if !version.contains("jsonfeed.org") && items.is_none() {
        return Err("JSON document is not a JSON Feed (no version, no items)".into());
    }
    let format = if version.ends_with("/1.1") { "json1.1" } else { "json1.0" };
    let entries = items
        .map(|items| items.iter().filter_map(Value::as_object).take(max_entries).map(entry).collect())
        .unwrap_or_default();
    Ok((format.to_string(), entries))
}

fn entry(item: &serde_json::Map<String, Value>) -> RawEntry {
    let string = |name: &str| -> Option<String> {
        match item.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    };
    let mut links = Vec::new();
    for (name, rel) in [("url", None), ("external_url", Some("related"))] {
        if let Some(href) = string(name) {
            links.push(RawLink { href, rel: rel.map(str::to_string), media_type: None, base: None });
        }
    }
    let mut authors = Vec::new();
    let mut push_author = |value: &Value| {
        if let Some(name) = value.get("name").and_then(Value::as_str) {
            authors.push(name.to_string());
        }
    };
    if let Some(author) = item.get("author") {
        push_author(author);
    }
    if let Some(list) = item.get("authors").and_then(Value::as_array) {
        list.iter().for_each(&mut push_author);
    }
    RawEntry {
        id: string("id"),
        links,
        about: None,
        title: string("title"),
        summary: string("summary"),
        content: string("content_html").or_else(|| string("content_text")),
        published: string("date_published").as_deref().and_then(parse_date),
        updated: string("date_modified").as_deref().and_then(parse_date),
        authors,
    }
}

/// An item of RSS-in-JSON: RSS 2.0 element names as keys.
fn rss_entry(item: &serde_json::Map<String, Value>) -> RawEntry {
    let string = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string);
    let guid = match item.get("guid") {
        Some(Value::Object(guid)) => {
            guid.get("value").or_else(|| guid.get("#value")).and_then(Value::as_str).map(str::to_string)
        }
        Some(Value::String(guid)) => Some(guid.clone()),
        _ => None,
    };
    RawEntry {
        id: guid,
        links: string("link")
            .map(|href| RawLink { href, rel: None, media_type: None, base: None })
            .into_iter()
            .collect(),
        about: None,
        title: string("title"),
        summary: string("description"),
        content: None,
        published: string("pubDate").as_deref().and_then(parse_date),
        updated: None,
        authors: string("author").into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_feed_items_are_read_leniently() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","items":[
            {"id":1,"url":"https://x.example/1","title":"One","content_text":"Body","date_published":"2025-02-18T10:00:00Z","authors":[{"name":"A"}]},
            {"id":"2","title":{"bad":"type"},"content_html":"<p>x</p>"},
            "not an object"]}"#;
        let (format, entries) = extract(doc, 10).expect("a JSON Feed");
        assert_eq!(format, "json1.1");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id.as_deref(), Some("1"));
        assert_eq!(entries[0].authors, ["A"]);
        assert!(entries[0].published.is_some());
        assert_eq!(entries[1].title, None);
    }

    #[test]
    fn other_json_is_rejected() {
        assert!(extract("{\"a\":1}", 10).is_err());
        assert!(extract("{", 10).is_err());
    }
}
