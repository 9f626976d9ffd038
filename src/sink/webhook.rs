//! `kind = "webhook"`: each alert is POSTed to the user's URL, with `Idempotency-Key: <alert
//! id>` so a receiver can drop the repeat of a POST whose answer was lost. A 2xx answer marks
//! the alert delivered; anything else (another status, a timeout, a refused connection) leaves
//! it pending, to be retried with backoff for as long as it takes, across restarts.
//!
//! The URL is the user's own choice, like a configured feed: it may be private, and it is not
//! guarded. Redirects are not followed (a redirect is a failure the user should see), no proxy
//! from the environment is used, and the answer's body is never read beyond a little text for
//! the log.

use super::{BoxFuture, DeliveryError, Sink};
use crate::alert::Alert;
use crate::config::{WebhookConfig, WebhookFormat};
use crate::store::Pending;
use serde_json::json;

/// POSTs alerts to one URL.
#[derive(Debug)]
pub struct WebhookSink {
    name: String,
    config: WebhookConfig,
    client: reqwest::Client,
}

impl WebhookSink {
    pub fn new(name: String, config: WebhookConfig) -> WebhookSink {
        // rustls needs a process-wide crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(crate::config::DEFAULT_USER_AGENT)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            // Only a broken TLS set-up makes the builder fail; fall back to the defaults then.
            .unwrap_or_default();
        WebhookSink { name, config, client }
    }

    async fn post(&self, row: &Pending) -> Result<(), DeliveryError> {
        let body = body_for(self.config.format, &row.body)?;
        let mut request = self
            .client
            .post(self.config.url.clone())
            .header("content-type", "application/json")
            .header("idempotency-key", &row.alert_id)
            .body(body);
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        let host = self.config.url.host_str().unwrap_or("-").to_string();
        let response = request.send().await.map_err(|err| {
            DeliveryError::Rejected(format!("POST to {host} failed: {}", crate::error::chain(&err)))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(DeliveryError::Rejected(format!("POST to {host} answered HTTP {}", status.as_u16())))
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            for row in batch {
                self.post(row).await?;
            }
            Ok(())
        })
    }

    fn batch_limit(&self) -> usize {
        1
    }
}

/// The request body for an alert line in `format`.
pub fn body_for(format: WebhookFormat, line: &str) -> Result<String, DeliveryError> {
    if format == WebhookFormat::Json {
        return Ok(line.to_string());
    }
    let alert: Alert = serde_json::from_str(line)
        .map_err(|err| DeliveryError::Rejected(format!("a stored alert is not valid JSON: {err}")))?;
    let value = match format {
        WebhookFormat::Json => unreachable!("handled above"),
        WebhookFormat::Slack => slack(&alert),
        WebhookFormat::Discord => discord(&alert),
    };
    Ok(value.to_string())
}

/// Slack mrkdwn: `&`, `<` and `>` escaped, so feed text cannot form a link or `<!channel>`.
fn slack_text(text: &str) -> String {
    crate::text::printable(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// How many newcomers of an update a chat message lists (the counts say how many there were).
const MAX_NEWCOMERS_SHOWN: usize = 5;

/// The story part of a chat message: "new story" or "update", the counts so far and, on an
/// update, how many items came since the last alert. `None` for an alert without a story.
fn story_summary(alert: &Alert) -> Option<String> {
    let kind = alert.kind.as_deref()?;
    let mut summary =
        if kind == crate::alert::KIND_NEW_STORY { "new story".to_string() } else { kind.to_string() };
    if let (Some(items), Some(outlets)) = (alert.story_items, alert.story_outlets) {
        let plural = |count: u32, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
        summary.push_str(&format!(": {} from {}", plural(items, "item"), plural(outlets, "outlet")));
    }
    if !alert.newcomers.is_empty() {
        summary.push_str(&format!(", {} new since the last alert", alert.newcomers.len()));
    }
    Some(summary)
}

/// A link in Slack mrkdwn: `|` and `>` in the URL would end it early.
fn slack_link(url: &str, text: &str) -> String {
    format!("<{}|{text}>", url.replace('|', "%7C").replace('>', "%3E"))
}

fn slack(alert: &Alert) -> serde_json::Value {
    let title = slack_text(&alert.title);
    let headline = match &alert.url {
        Some(url) => slack_link(url, &title),
        None => title,
    };
    let mut context =
        format!("{} · {} · score {:.2}", slack_text(&alert.topic), slack_text(&alert.feed), alert.score);
    if let Some(summary) = story_summary(alert) {
        context = format!("{summary} · {context}");
    }
    let snippet = slack_text(&alert.snippet);
    let mut text = format!("{headline}\n{context}\n> {snippet}");
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*\n{context}")}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": snippet}]}),
    ];
    if !alert.newcomers.is_empty() {
        let lines: Vec<String> = newest_newcomers(alert)
            .map(|newcomer| {
                let title = slack_text(&newcomer.title);
                let title = newcomer.url.as_deref().map_or(title.clone(), |url| slack_link(url, &title));
                format!("• {title} ({})", slack_text(&newcomer.feed))
            })
            .collect();
        text.push_str(&format!("\n{}", lines.join("\n")));
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}));
    }
    json!({"text": text, "unfurl_links": false, "blocks": blocks})
}

/// The newest [`MAX_NEWCOMERS_SHOWN`] newcomers of an update, oldest first (as the alert lists
/// them).
fn newest_newcomers(alert: &Alert) -> impl Iterator<Item = &crate::alert::Newcomer> {
    alert.newcomers.iter().skip(alert.newcomers.len().saturating_sub(MAX_NEWCOMERS_SHOWN))
}

fn discord(alert: &Alert) -> serde_json::Value {
    let cut = |text: &str, max: usize| crate::text::truncate_chars(&crate::text::printable(text), max);
    let mut embed = json!({
        "title": cut(&alert.title, 250),
        "description": cut(&alert.snippet, 2000),
        "timestamp": alert.detected_at,
        "fields": [
            {"name": "topic", "value": cut(&alert.topic, 200), "inline": true},
            {"name": "feed", "value": cut(&alert.feed, 200), "inline": true},
            {"name": "score", "value": format!("{:.2}", alert.score), "inline": true}
        ]
    });
    if let Some(url) = &alert.url {
        embed["url"] = json!(url);
    }
    if let (Some(summary), Some(fields)) = (story_summary(alert), embed["fields"].as_array_mut()) {
        fields.push(json!({"name": "story", "value": cut(&summary, 200), "inline": false}));
        if !alert.newcomers.is_empty() {
            let lines: Vec<String> = newest_newcomers(alert)
                .map(|newcomer| {
                    let title = cut(&newcomer.title, 120);
                    match &newcomer.url {
                        Some(url) => {
                            format!("[{title}]({}) ({})", url.replace(')', "%29"), cut(&newcomer.feed, 60))
                        }
                        None => format!("{title} ({})", cut(&newcomer.feed, 60)),
                    }
                })
                .collect();
            // Discord refuses a field value over 1024 characters; each line is printable already.
            fields.push(json!({"name": "newcomers", "value": crate::text::truncate_chars(&lines.join("\n"), 1000), "inline": false}));
        }
    }
    // No mention in feed text (@everyone, a role) may ping anyone.
    json!({"embeds": [embed], "allowed_mentions": {"parse": []}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> String {
        crate::alert::to_json_line(&alert()).unwrap()
    }

    /// An update of a story with two newcomers, the second with markup in its title.
    fn update_line() -> String {
        let newcomer = |title: &str, feed: &str, url: &str| crate::alert::Newcomer {
            title: title.into(),
            feed: feed.into(),
            url: Some(url.into()),
            published: None,
        };
        let alert = Alert {
            kind: Some(crate::alert::KIND_UPDATE.into()),
            story: Some("9a4c1e0b7d2f3a61".into()),
            story_items: Some(4),
            story_outlets: Some(3),
            newcomers: vec![
                newcomer("Rubio, Lavrov meet in Riyadh", "wire2", "https://wire.example/r.html"),
                newcomer("Talks <!here> end", "gazette", "https://gazette.example/t|2"),
            ],
            ..alert()
        };
        crate::alert::to_json_line(&alert).unwrap()
    }

    fn alert() -> Alert {
        Alert {
            schema: crate::alert::ALERT_SCHEMA,
            id: "abc".into(),
            topic: "us-russia-talks".into(),
            score: 0.876,
            title: "Lavrov <!channel> & Rubio meet".into(),
            url: Some("https://example.org/a?x=1|2".into()),
            feed: "wire".into(),
            published: None,
            detected_at: "2026-11-30T08:00:00Z".into(),
            matched: vec![],
            snippet: "@everyone they met in Riyadh".into(),
            text_source: "page".into(),
            fallback_reason: None,
            kind: None,
            story: None,
            story_items: None,
            story_outlets: None,
            newcomers: Vec::new(),
        }
    }

    #[test]
    fn json_is_the_alert_line_itself() {
        assert_eq!(body_for(WebhookFormat::Json, &line()).unwrap(), line());
    }

    #[test]
    fn slack_escapes_markup_from_feeds() {
        let body: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Slack, &line()).unwrap()).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("<https://example.org/a?x=1%7C2|Lavrov &lt;!channel&gt; &amp; Rubio meet>"),
            "{text}"
        );
        assert!(text.contains("us-russia-talks · wire · score 0.88"), "{text}");
    }

    #[test]
    fn discord_pings_nobody() {
        let body: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Discord, &line()).unwrap()).unwrap();
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert_eq!(body["embeds"][0]["url"], "https://example.org/a?x=1|2");
        assert_eq!(body["embeds"][0]["fields"][2]["value"], "0.88");
    }

    #[test]
    fn chat_formats_show_the_story_kind_counts_and_newcomers() {
        let slack: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Slack, &update_line()).unwrap()).unwrap();
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("update: 4 items from 3 outlets, 2 new since the last alert · us-russia-talks"),
            "{text}"
        );
        assert!(
            text.contains("• <https://wire.example/r.html|Rubio, Lavrov meet in Riyadh> (wire2)"),
            "{text}"
        );
        assert!(
            text.contains("• <https://gazette.example/t%7C2|Talks &lt;!here&gt; end> (gazette)"),
            "{text}"
        );
        assert_eq!(slack["blocks"].as_array().unwrap().len(), 3);

        let discord: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Discord, &update_line()).unwrap()).unwrap();
        let fields = &discord["embeds"][0]["fields"];
        assert_eq!(fields[3]["name"], "story");
        assert_eq!(fields[3]["value"], "update: 4 items from 3 outlets, 2 new since the last alert");
        let newcomers = fields[4]["value"].as_str().unwrap();
        assert!(
            newcomers.starts_with("[Rubio, Lavrov meet in Riyadh](https://wire.example/r.html) (wire2)\n"),
            "{newcomers}"
        );

        // A new story has its kind and counts and no newcomers; an alert without a story neither.
        let first = Alert {
            kind: Some(crate::alert::KIND_NEW_STORY.into()),
            story: Some("9a4c1e0b7d2f3a61".into()),
            story_items: Some(1),
            story_outlets: Some(1),
            ..alert()
        };
        let first = crate::alert::to_json_line(&first).unwrap();
        let slack: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Slack, &first).unwrap()).unwrap();
        assert!(
            slack["text"].as_str().unwrap().contains("new story: 1 item from 1 outlet · us-russia-talks")
        );
        assert_eq!(slack["blocks"].as_array().unwrap().len(), 2);
        let plain: serde_json::Value =
            serde_json::from_str(&body_for(WebhookFormat::Discord, &line()).unwrap()).unwrap();
        assert_eq!(plain["embeds"][0]["fields"].as_array().unwrap().len(), 3);
    }
}
