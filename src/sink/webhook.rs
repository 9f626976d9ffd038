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

fn slack(alert: &Alert) -> serde_json::Value {
    let title = slack_text(&alert.title);
    let headline = match &alert.url {
        Some(url) => format!("<{}|{title}>", url.replace('|', "%7C").replace('>', "%3E")),
        None => title,
    };
    let context =
        format!("{} · {} · score {:.2}", slack_text(&alert.topic), slack_text(&alert.feed), alert.score);
    let snippet = slack_text(&alert.snippet);
    json!({
        "text": format!("{headline}\n{context}\n> {snippet}"),
        "unfurl_links": false,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*\n{context}")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": snippet}]}
        ]
    })
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
    // No mention in feed text (@everyone, a role) may ping anyone.
    json!({"embeds": [embed], "allowed_mentions": {"parse": []}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> String {
        let alert = Alert {
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
        };
        crate::alert::to_json_line(&alert).unwrap()
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
}
