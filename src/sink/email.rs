//! `kind = "email"`: alerts by SMTP (lettre, rustls with ring). With `digest = "off"` every alert
//! is a message of its own; with a period, one message lists the alerts of that period (the
//! Google Alerts habit), made by [`super::digest`] from rows the outbox has tied to one digest.
//!
//! Every message has a plain-text and an HTML part, and a Message-ID derived from what it
//! carries (the sink and the alert ids, which a digest fixes before it is sent), so a message
//! sent again after a failure or a crash is recognisably the same message. Feed text is never
//! trusted: it is escaped in the HTML part, control characters are removed from the subject, and
//! lettre encodes every header, so a title with CR/LF cannot add a header or a recipient.
//!
//! A message is delivered once the server accepted it (250 after DATA); a refused connection,
//! a 4xx or 5xx answer or a timeout leave its alerts pending, retried with backoff.

use super::{BoxFuture, DeliveryError, Sink};
use crate::alert::Alert;
use crate::config::EmailConfig;
use crate::store::Pending;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The longest title a subject carries (in characters); the body has it whole.
const SUBJECT_TITLE_CHARS: usize = 120;

/// Sends alerts by e-mail.
pub struct EmailSink {
    name: String,
    config: EmailConfig,
    /// The SMTP client, or why it could not be made (then every delivery fails with that).
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
}

impl std::fmt::Debug for EmailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSink").field("name", &self.name).field("config", &self.config).finish()
    }
}

impl EmailSink {
    pub fn new(name: String, config: EmailConfig) -> EmailSink {
        // rustls needs a process-wide crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp.as_str())
            .map(|builder| {
                let builder = builder.timeout(Some(config.timeout));
                match (&config.username, &config.password) {
                    (Some(username), Some(password)) => {
                        builder.credentials(Credentials::new(username.clone(), password.0.clone()))
                    }
                    _ => builder,
                }
                .build()
            })
            .map_err(|err| format!("cannot set up SMTP to {}: {}", host(&config), crate::error::chain(&err)));
        EmailSink { name, config, transport }
    }

    async fn send(&self, message: Message) -> Result<(), DeliveryError> {
        let transport = self.transport.as_ref().map_err(|reason| DeliveryError::Rejected(reason.clone()))?;
        transport.send(message).await.map(|_| ()).map_err(|err| {
            DeliveryError::Rejected(format!(
                "SMTP to {} failed: {}",
                host(&self.config),
                crate::error::chain(&err)
            ))
        })
    }
}

fn host(config: &EmailConfig) -> String {
    match config.smtp.port() {
        Some(port) => format!("{}:{port}", config.smtp.host_str().unwrap_or("-")),
        None => config.smtp.host_str().unwrap_or("-").to_string(),
    }
}

impl Sink for EmailSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Per alert: one message (the batch holds one alert). As a digest: the batch is one
    /// digest, sent as one message.
    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if self.config.digest.is_some() {
                return self.send(compose(&self.name, &self.config, batch)?).await;
            }
            for row in batch {
                self.send(compose(&self.name, &self.config, std::slice::from_ref(row))?).await?;
            }
            Ok(())
        })
    }

    fn batch_limit(&self) -> usize {
        1
    }

    fn digest_period(&self) -> Option<Duration> {
        self.config.digest
    }
}

/// The message for `rows` (one alert, or a digest): subject, both parts, a Message-ID derived
/// from the sink and the alert ids.
pub fn compose(sink: &str, config: &EmailConfig, rows: &[Pending]) -> Result<Message, DeliveryError> {
    let alerts: Vec<Alert> = rows
        .iter()
        .map(|row| {
            serde_json::from_str(&row.body)
                .map_err(|err| DeliveryError::Rejected(format!("a stored alert is not valid JSON: {err}")))
        })
        .collect::<Result<_, _>>()?;
    let mut builder = Message::builder()
        .from(config.from.clone())
        .subject(subject(&alerts))
        .message_id(Some(message_id(sink, &config.from, rows)))
        .user_agent(format!("newswatch/{}", env!("CARGO_PKG_VERSION")));
    for to in &config.to {
        builder = builder.to(to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(plain_text(&alerts), html(&alerts)))
        .map_err(|err| DeliveryError::Rejected(format!("cannot build the message: {err}")))
}

/// `<hash.newswatch@domain-of-from>`: the same alerts to the same sink give the same id.
fn message_id(sink: &str, from: &Mailbox, rows: &[Pending]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(sink.as_bytes());
    for row in rows {
        hasher.update(b"\n");
        hasher.update(row.alert_id.as_bytes());
    }
    let digest = hasher.finalize();
    format!("<{}.newswatch@{}>", hex::encode(&digest[..16]), from.email.domain())
}

/// Feed text for a header: controls (CR, LF, tabs, bidi) become spaces, runs of space one.
fn header_text(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if crate::text::is_unsafe(c) { ' ' } else { c }).collect();
    crate::text::collapse_whitespace(&cleaned)
}

/// Topics by count, most first: "us-russia-talks" or "us-russia-talks (3), energy (1)".
fn topics_line(alerts: &[Alert]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for alert in alerts {
        *counts.entry(alert.topic.as_str()).or_default() += 1;
    }
    if counts.len() == 1 {
        return counts.keys().next().map(|topic| header_text(topic)).unwrap_or_default();
    }
    let mut sorted: Vec<(&str, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sorted.iter().map(|(topic, n)| format!("{} ({n})", header_text(topic))).collect::<Vec<_>>().join(", ")
}

/// `newswatch: 1 new alert - us-russia-talks: <title>` for one alert, `newswatch: 3 new alerts -
/// us-russia-talks` for several.
pub fn subject(alerts: &[Alert]) -> String {
    match alerts {
        [one] => format!(
            "newswatch: 1 new alert - {}: {}",
            header_text(&one.topic),
            crate::text::truncate_chars(&header_text(&one.title), SUBJECT_TITLE_CHARS)
        ),
        many => format!("newswatch: {} new alerts - {}", many.len(), topics_line(many)),
    }
}

fn count_line(alerts: &[Alert]) -> String {
    match alerts.len() {
        1 => format!("1 new alert on {}", topics_line(alerts)),
        n => format!("{n} new alerts on {}", topics_line(alerts)),
    }
}

/// The plain-text part: a numbered list, each alert's title, link, topic, feed, score, time and
/// snippet.
pub fn plain_text(alerts: &[Alert]) -> String {
    let mut out = format!("{}\n", count_line(alerts));
    for (n, alert) in alerts.iter().enumerate() {
        let _ = write!(out, "\n{}. {}\n", n + 1, header_text(&alert.title));
        if let Some(url) = &alert.url {
            let _ = writeln!(out, "   {}", header_text(url));
        }
        let _ = writeln!(out, "   {}", details(alert));
        if !alert.snippet.is_empty() {
            let _ = writeln!(out, "   {}", header_text(&alert.snippet));
        }
    }
    out.push_str("\n-- \nSent by newswatch. Every alert is also in the alert log (newswatch alerts).\n");
    out
}

/// "topic us-russia-talks · feed wire · score 0.88 · published 2026-11-30T08:00:00Z"
fn details(alert: &Alert) -> String {
    let mut line = format!(
        "topic {} · feed {} · score {:.2}",
        header_text(&alert.topic),
        header_text(&alert.feed),
        alert.score
    );
    if let Some(published) = &alert.published {
        let _ = write!(line, " · published {}", header_text(published));
    }
    line
}

/// Text for HTML element content or a double-quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in header_text(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part: the same list, each title linked to its story (http(s) links only).
pub fn html(alerts: &[Alert]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n",
    );
    let _ = writeln!(out, "<p>{}</p>\n<ol>", escape_html(&count_line(alerts)));
    for alert in alerts {
        let title = escape_html(&alert.title);
        let linkable =
            alert.url.as_deref().filter(|url| url.starts_with("https://") || url.starts_with("http://"));
        match linkable {
            Some(url) => {
                let _ =
                    write!(out, "<li><p><a href=\"{}\"><strong>{title}</strong></a><br>", escape_html(url));
            }
            None => {
                let _ = write!(out, "<li><p><strong>{title}</strong><br>");
            }
        }
        let _ = write!(out, "<small>{}</small>", escape_html(&details(alert)));
        if !alert.snippet.is_empty() {
            let _ = write!(out, "<br>{}", escape_html(&alert.snippet));
        }
        out.push_str("</p></li>\n");
    }
    out.push_str("</ol>\n<p><small>Sent by newswatch.</small></p>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn alert(id: &str, topic: &str, title: &str) -> Alert {
        Alert {
            schema: crate::alert::ALERT_SCHEMA,
            id: id.into(),
            topic: topic.into(),
            score: 0.876,
            title: title.into(),
            url: Some(format!("https://example.org/{id}?a=1&b=2")),
            feed: "wire".into(),
            published: Some("2026-11-30T08:00:00Z".into()),
            detected_at: "2026-11-30T08:01:00Z".into(),
            matched: vec![],
            snippet: "Lavrov <b>met</b> Rubio & said \"yes\"".into(),
            text_source: "page".into(),
            fallback_reason: None,
            kind: Some("new_story".into()),
            story: Some("0123456789abcdef".into()),
            story_items: Some(1),
            story_outlets: Some(1),
            newcomers: Vec::new(),
        }
    }

    fn rows(alerts: &[Alert]) -> Vec<Pending> {
        alerts
            .iter()
            .enumerate()
            .map(|(n, alert)| Pending {
                seq: n as i64 + 1,
                alert_id: alert.id.clone(),
                body: crate::alert::to_json_line(alert).unwrap(),
            })
            .collect()
    }

    fn config(digest: Option<Duration>) -> EmailConfig {
        EmailConfig {
            smtp: "smtp://127.0.0.1:2525".parse().unwrap(),
            username: Some("user".into()),
            password: Some(Secret("hunter2".into())),
            from: "Newswatch <alerts@example.org>".parse().unwrap(),
            to: vec!["ann@example.org".parse().unwrap(), "bob@example.net".parse().unwrap()],
            digest,
            timeout: Duration::from_secs(5),
        }
    }

    fn formatted(message: &Message) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn a_title_with_cr_lf_adds_no_header_or_recipient() {
        let hostile = alert("a1", "us-russia-talks", "Talks\r\nBcc: victim@evil.example\r\n\r\nbody");
        let message = compose("mail", &config(None), &rows(&[hostile])).unwrap();
        let text = formatted(&message);
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        assert!(!head.lines().any(|line| line.to_ascii_lowercase().starts_with("bcc:")), "{head}");
        let recipients: Vec<String> = message.envelope().to().iter().map(|to| to.to_string()).collect();
        assert_eq!(recipients, ["ann@example.org", "bob@example.net"]);
        let subject_lines: Vec<&str> = head.lines().filter(|line| line.starts_with("Subject:")).collect();
        assert_eq!(
            subject_lines,
            ["Subject: newswatch: 1 new alert - us-russia-talks: Talks Bcc:"],
            "{head}"
        );
    }

    #[test]
    fn html_escapes_feed_text_and_links_titles() {
        let page = html(&[alert("a1", "t", "<script>alert(1)</script>")]);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("<a href=\"https://example.org/a1?a=1&amp;b=2\">"), "{page}");
        assert!(page.contains("Lavrov &lt;b&gt;met&lt;/b&gt; Rubio &amp; said &quot;yes&quot;"), "{page}");
        let mut scripted = alert("a2", "t", "x");
        scripted.url = Some("javascript:alert(1)".into());
        assert!(!html(&[scripted]).contains("href"), "only http(s) links are linked");
    }

    #[test]
    fn subjects_name_topics_and_count() {
        let alerts = [
            alert("a", "us-russia-talks", "A"),
            alert("b", "energy", "B"),
            alert("c", "us-russia-talks", "C"),
        ];
        assert_eq!(subject(&alerts), "newswatch: 3 new alerts - us-russia-talks (2), energy (1)");
        assert_eq!(subject(&alerts[..1]), "newswatch: 1 new alert - us-russia-talks: A");
        let same = [alert("a", "us-russia-talks", "A"), alert("c", "us-russia-talks", "C")];
        assert_eq!(subject(&same), "newswatch: 2 new alerts - us-russia-talks");
    }

    #[test]
    fn the_message_id_follows_the_alerts() {
        let alerts = [alert("a", "t", "A"), alert("b", "t", "B")];
        let id = |rows: &[Pending]| message_id("mail", &config(None).from, rows);
        let all = rows(&alerts);
        assert_eq!(id(&all), id(&all.clone()), "a resend carries the same Message-ID");
        assert_ne!(id(&all), id(&all[..1]));
        assert!(id(&all).ends_with(".newswatch@example.org>"), "{}", id(&all));
        let message = compose("mail", &config(Some(Duration::from_secs(3600))), &all).unwrap();
        let text = formatted(&message);
        assert!(text.contains(&format!("Message-ID: {}", id(&all))), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
    }
}
