//! JSON Feed 1.0/1.1, read leniently from a `serde_json::Value` (ids may be numbers, fields may
//! have the wrong type, 1.0's `author` and 1.1's `authors` both count). feed-rs's typed reader
//! rejects a whole feed over one odd field; this one skips the field. No I/O.

use super::dates::parse_date;
use super::normalise::{RawEntry, RawLink};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON document read as a feed: its format name and raw entries. Read in one streaming pass
/// that keeps at most `max_entries` item objects and skips the rest unread (serde's
/// `IgnoredAny`), so a million items cost a scan, not a million `Value`s.
/// The third value says whether items beyond the cap were skipped.
pub(crate) fn extract(text: &str, max_entries: usize) -> Result<(String, Vec<RawEntry>, bool), String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let document = TopLevel { max: max_entries }
        .deserialize(&mut deserializer)
        .and_then(|document| deserializer.end().map(|()| document))
        .map_err(|err| format!("invalid JSON: {err}"))?;
    let Some(document) = document else {
        return Err("JSON document is not an object".into());
    };
    // Dave Winer's "RSS in JSON" (`{"rss": {"channel": {"item": [...]}}}`) is RSS 2.0 spelled
    // in JSON; its items carry RSS field names.
    let skipped = document.skipped;
    if let Some(items) = document.rss_items {
        return Ok(("rss-in-json".to_string(), items.iter().map(rss_entry).collect(), skipped));
    }
    let version = document.version.as_deref().unwrap_or("");
    if !version.contains("jsonfeed.org") && document.items.is_none() {
        return Err("JSON document is not a JSON Feed (no version, no items)".into());
    }
    let format = if version.ends_with("/1.1") { "json1.1" } else { "json1.0" };
    let entries = document.items.map(|items| items.iter().map(entry).collect()).unwrap_or_default();
    Ok((format.to_string(), entries, skipped))
}

type Object = serde_json::Map<String, Value>;

/// The parts of a JSON document that make it a feed. Items are the first `max` objects of the
/// array; everything else is skipped without being built.
#[derive(Default)]
struct Document {
    version: Option<String>,
    /// `items`, when it is an array.
    items: Option<Vec<Object>>,
    /// `rss.channel.item`, when `rss` is an object with a `channel`.
    rss_items: Option<Vec<Object>>,
    /// Whether item objects beyond the cap were skipped.
    skipped: bool,
}

/// Values of the wrong shape are skipped, as the reader skips a field of the wrong type: each
/// visitor below says which shape it reads and turns every other one into its default.
macro_rules! skip_other_shapes {
    ($default:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
}

/// Drains a sequence or map that is not of the shape wanted.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The top level: `None` when it is not an object.
struct TopLevel {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Option<Document>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Option<Document>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    skip_other_shapes!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = Document::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => document.version = map.next_value::<Value>()?.as_str().map(str::to_string),
                "items" => {
                    let capped = map.next_value_seed(Items { max: self.max })?;
                    document.skipped |= capped.as_ref().is_some_and(|capped| capped.skipped);
                    document.items = capped.map(|capped| capped.items);
                }
                "rss" => {
                    let capped = map.next_value_seed(Rss { max: self.max })?;
                    document.skipped |= capped.as_ref().is_some_and(|capped| capped.skipped);
                    document.rss_items = capped.map(|capped| capped.items);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(document))
    }
}

/// The first item objects of an array, and whether more were skipped.
#[derive(Default)]
struct Capped {
    items: Vec<Object>,
    skipped: bool,
}

/// An array of items: its first `max` objects (other values are not items and not counted).
/// `None` when the value is not an array.
struct Items {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Option<Capped>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Option<Capped>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of items")
    }
    skip_other_shapes!(None);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while items.len() < self.max {
            match seq.next_element_seed(ItemObject)? {
                Some(Some(item)) => items.push(item),
                Some(None) => {}
                None => return Ok(Some(Capped { items, skipped: false })),
            }
        }
        let mut skipped = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            skipped = true;
        }
        Ok(Some(Capped { items, skipped }))
    }
}

/// The fields of an item this reader uses (JSON Feed's and RSS-in-JSON's); every other field
/// is skipped unread.
const ITEM_FIELDS: &[&str] = &[
    "id",
    "url",
    "external_url",
    "title",
    "summary",
    "content_html",
    "content_text",
    "date_published",
    "date_modified",
    "author",
    "authors",
    "guid",
    "link",
    "description",
    "pubDate",
];
/// A kept field holds at most this many array elements or object members, two levels deep
/// (`authors: [{name}]`, `guid: {value}`): an item costs its strings, not its structure.
const MAX_FIELD_MEMBERS: usize = 16;

/// One item: `Some` with its known fields when it is an object, else `None`.
struct ItemObject;

impl<'de> DeserializeSeed<'de> for ItemObject {
    type Value = Option<Object>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemObject {
    type Value = Option<Object>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an item object")
    }
    skip_other_shapes!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut item = Object::new();
        while let Some(key) = map.next_key::<String>()? {
            if ITEM_FIELDS.contains(&key.as_str()) {
                let value = map.next_value_seed(Shallow { depth: 0 })?;
                item.insert(key, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(item))
    }
}

/// A value kept shallow: scalars as they are, arrays and objects two levels deep with at most
/// [`MAX_FIELD_MEMBERS`] members each; deeper or further members are skipped (null).
struct Shallow {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Shallow {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shallow {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }
    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= 2 {
            return skip_seq(seq).map(|()| Value::Null);
        }
        let mut values = Vec::new();
        while values.len() < MAX_FIELD_MEMBERS {
            match seq.next_element_seed(Shallow { depth: self.depth + 1 })? {
                Some(value) => values.push(value),
                None => return Ok(Value::Array(values)),
            }
        }
        skip_seq(seq).map(|()| Value::Array(values))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= 2 {
            return skip_map(map).map(|()| Value::Null);
        }
        let mut object = Object::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.len() < MAX_FIELD_MEMBERS {
                let value = map.next_value_seed(Shallow { depth: self.depth + 1 })?;
                object.insert(key, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(object))
    }
}

/// `rss`: `Some` (the channel's items) when it is an object with a `channel` key.
struct Rss {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for Rss {
    type Value = Option<Capped>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Rss {
    type Value = Option<Capped>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RSS object")
    }
    skip_other_shapes!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "channel" {
                items = Some(map.next_value_seed(Channel { max: self.max })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

/// `rss.channel`: the items of its `item` (an array, or one object); none for other shapes.
struct Channel {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for Channel {
    type Value = Capped;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Channel {
    type Value = Capped;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RSS channel")
    }
    skip_other_shapes!(Capped::default());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| Capped::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = Capped::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "item" {
                items = map.next_value_seed(ChannelItem { max: self.max })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

/// `rss.channel.item`: an array of item objects (the first `max`) or a single object.
struct ChannelItem {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for ChannelItem {
    type Value = Capped;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChannelItem {
    type Value = Capped;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RSS items")
    }
    skip_other_shapes!(Capped::default());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Items { max: self.max }.visit_seq(seq).map(Option::unwrap_or_default)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let item = ItemObject.visit_map(map)?.unwrap_or_default();
        Ok(if self.max == 0 {
            Capped { items: Vec::new(), skipped: true }
        } else {
            Capped { items: vec![item], skipped: false }
        })
    }
}

fn entry(item: &Object) -> RawEntry {
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
fn rss_entry(item: &Object) -> RawEntry {
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
        let (format, entries, _) = extract(doc, 10).expect("a JSON Feed");
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

    #[test]
    fn items_beyond_the_cap_are_skipped_unread() {
        let mut doc = String::from(r#"{"version":"https://jsonfeed.org/version/1","items":["#);
        doc.push_str(r#""x",{"id":"a"},"#);
        doc.push_str(&"{},".repeat(200_000));
        doc.push_str(r#"{"id":"last"}],"title":"after the items"}"#);
        let (format, entries, skipped) = extract(&doc, 3).expect("a JSON Feed");
        assert_eq!(format, "json1.0");
        assert_eq!(entries.len(), 3);
        assert!(skipped);
        assert_eq!(entries[0].id.as_deref(), Some("a"));

        let rss =
            r#"{"rss":{"version":"2.0","channel":{"title":"t","item":[{"title":"one"},{"title":"two"}]}}}"#;
        let (format, entries, skipped) = extract(rss, 1).expect("RSS in JSON");
        assert!(skipped);
        assert_eq!(format, "rss-in-json");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].title.as_deref(), Some("one"));
        let single = r#"{"rss":{"channel":{"item":{"title":"only"}}}}"#;
        assert_eq!(extract(single, 5).expect("RSS in JSON").1.len(), 1);
        assert!(!extract(single, 5).expect("RSS in JSON").2);
        let odd = r#"{"rss":{"channel":"text"}}"#;
        assert_eq!(extract(odd, 5).expect("RSS in JSON").1.len(), 0);
        // Still strict about what is not JSON or not an object.
        assert!(extract("[1,2]", 5).is_err());
        assert!(extract(r#"{"items":[] trailing"#, 5).is_err());
    }

    #[test]
    fn an_item_keeps_only_the_fields_read_and_those_shallow() {
        let authors: Vec<String> =
            (0..100).map(|n| format!("{{\"name\":\"A{n}\",\"x\":{{\"deep\":[1]}}}}")).collect();
        let doc = format!(
            r#"{{"version":"https://jsonfeed.org/version/1.1","items":[{{"tags":[{}1],"id":"x","title":"T",
            "authors":[{}],"guid":{{"value":"g"}},"_ext":{{"a":{{"b":[1,2]}}}}}}]}}"#,
            "1,".repeat(100_000),
            authors.join(",")
        );
        let (_, entries, _) = extract(&doc, 5).expect("a JSON Feed");
        assert_eq!(entries[0].id.as_deref(), Some("x"));
        assert_eq!(entries[0].title.as_deref(), Some("T"));
        assert_eq!(entries[0].authors.len(), MAX_FIELD_MEMBERS, "authors past the cap are skipped");
        assert_eq!(entries[0].authors[0], "A0");
    }
}
