//! The alert record: one JSON line per alert, a public contract (see the README), and its
//! stable id. Nothing here does I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of the alert line format.
pub const ALERT_SCHEMA: u32 = 1;
/// Feed-derived strings are cut to these lengths in alerts.
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_SNIPPET_CHARS: usize = 320;
pub const MAX_REASON_CHARS: usize = 200;

/// One alert line. Field names and meanings are a public contract (see the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema: u32,
    /// Stable: the same item and topic always give the same id.
    pub id: String,
    pub topic: String,
    pub score: f64,
    pub title: String,
    pub url: Option<String>,
    pub feed: String,
    /// RFC 3339, or null when the feed gave no date.
    pub published: Option<String>,
    /// RFC 3339.
    pub detected_at: String,
    /// Why it fired: the matched clauses, strongest first.
    pub matched: Vec<String>,
    /// Up to ~300 characters around the strongest evidence.
    pub snippet: String,
    /// "page" (the article text) or "feed" (the feed's title and summary).
    pub text_source: String,
    /// Why the page was not used, when `text_source` is "feed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// `"new_story"`: the first alert of its story for this topic; `"update"`: later items of
    /// the story (see `newcomers`). Absent on lines written before stories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The story's stable id (the same in every alert of the story, whatever the topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
    /// Items of the story so far (every recorded item, matching or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_items: Option<u32>,
    /// Distinct outlets (link hosts) of the story so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_outlets: Option<u32>,
    /// An update's matching items since the story's previous alert for this topic, oldest first
    /// (the alert's own title, url and feed are those of the newest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub newcomers: Vec<Newcomer>,
}

/// The value of [`Alert::kind`] for a story's first alert.
pub const KIND_NEW_STORY: &str = "new_story";
/// The value of [`Alert::kind`] for an update.
pub const KIND_UPDATE: &str = "update";

/// One item an update alert reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Newcomer {
    pub title: String,
    pub feed: String,
    pub url: Option<String>,
    /// RFC 3339, or null when the feed gave no date.
    pub published: Option<String>,
}

/// Serialises an alert as one JSON line. serde_json already escapes C0 controls;
/// `text::escape_json` (the one escaping rule) also escapes DEL, the C1 controls, what some
/// readers take for a line break (U+0085, U+2028, U+2029) and the bidi controls, so the raw file
/// stays one alert per line for every tool and cannot reorder text on a terminal. The JSON
/// value is the same.
pub fn to_json_line(alert: &Alert) -> serde_json::Result<String> {
    let json = serde_json::to_string(alert)?;
    Ok(crate::text::escape_json(&json).into_owned())
}

/// The stable alert id: a hash of the item key and the topic.
pub fn alert_id(item_key: &str, topic: &str) -> String {
    let digest = Sha256::digest(format!("{item_key}\n{topic}").as_bytes());
    hex::encode(&digest[..12])
}

/// A story's stable id: a hash of its first item's key.
pub fn story_id(first_item_key: &str) -> String {
    let digest = Sha256::digest(format!("story\n{first_item_key}").as_bytes());
    hex::encode(&digest[..8])
}

/// The id of the `sequence`-th update of a story for a topic (1 for the first): the same
/// update always gets the same id, so the outbox keeps it exactly-once across a crash.
pub fn update_alert_id(story: &str, topic: &str, sequence: i64) -> String {
    let digest = Sha256::digest(format!("{story}\n{topic}\n{sequence}").as_bytes());
    hex::encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_escape_line_separators_and_bidi_controls() {
        let alert = Alert {
            schema: ALERT_SCHEMA,
            id: "x".into(),
            topic: "t".into(),
            score: 1.0,
            title: "a\nb\u{1b}[31m\u{85}\u{2028}\u{202e}{\"id\":\"fake\"}".into(),
            url: None,
            feed: "f".into(),
            published: None,
            detected_at: "2026-01-01T00:00:00Z".into(),
            matched: vec![],
            snippet: String::new(),
            text_source: "feed".into(),
            fallback_reason: None,
            kind: Some(KIND_UPDATE.into()),
            story: Some(story_id("k")),
            story_items: Some(3),
            story_outlets: Some(2),
            newcomers: vec![Newcomer {
                title: "c\u{2028}d".into(),
                feed: "f".into(),
                url: None,
                published: None,
            }],
        };
        let line = to_json_line(&alert).unwrap();
        assert!(!line.chars().any(crate::text::is_unsafe), "{line}");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'));
        assert_eq!(line.lines().count(), 1);
        let back: Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back, alert, "the escaped line decodes to the same alert");
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        assert_eq!(alert_id("k", "t"), alert_id("k", "t"));
        assert_ne!(alert_id("k", "t"), alert_id("k", "u"));
        assert_eq!(alert_id("k", "t").len(), 24);
        assert_eq!(update_alert_id("s", "t", 1), update_alert_id("s", "t", 1));
        assert_ne!(update_alert_id("s", "t", 1), update_alert_id("s", "t", 2));
        assert_ne!(story_id("a"), story_id("b"));
    }

    #[test]
    fn lines_written_before_stories_still_read() {
        let line = r#"{"schema":1,"id":"x","topic":"t","score":1.0,"title":"a","url":null,"feed":"f","published":null,"detected_at":"2026-01-01T00:00:00Z","matched":[],"snippet":"","text_source":"feed"}"#;
        let alert: Alert = serde_json::from_str(line).unwrap();
        assert_eq!((alert.kind, alert.story, alert.newcomers.len()), (None, None, 0));
    }
}
