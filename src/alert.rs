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
    }
}
