//! `kind = "nats"`: the keys of a NATS JetStream sink, validated before anything starts. The
//! subject template is checked against every topic the sink takes, so a topic id that would
//! make an invalid subject (a space, a wildcard, an empty token) is a configuration error
//! naming the topic, never a publish that fails at 3 a.m.

use super::raw::RawSink;
use super::{DurationRange, format_duration, parse_duration_in};
use std::time::Duration;
use url::Url;

/// The placeholder a subject template may hold, as a whole token.
pub const SUBJECT_TOPIC_PLACEHOLDER: &str = "<topic>";
pub const DEFAULT_NATS_SUBJECT: &str = "newswatch.alerts.<topic>";
pub const DEFAULT_NATS_STREAM: &str = "NEWSWATCH_ALERTS";
/// How long the stream keeps an alert; one week, so a reader that was off over a weekend
/// still finds everything.
pub const DEFAULT_NATS_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
/// How long the server remembers a `Nats-Msg-Id`. It must outlast the longest gap between a
/// publish whose ack was lost and its retry (the sink's backoff tops out at the daemon's
/// `max_backoff`, 15 minutes by default), or a retry becomes a second copy: an hour leaves room.
pub const DEFAULT_NATS_DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// `max_age`: one minute to ten years.
pub const NATS_MAX_AGE_RANGE: DurationRange = (Duration::from_secs(60), Duration::from_secs(3650 * 86_400));
/// `duplicate_window`: one second to one week (and never longer than `max_age`).
pub const NATS_DUPLICATE_WINDOW_RANGE: DurationRange =
    (Duration::from_secs(1), Duration::from_secs(7 * 86_400));
/// `timeout` (connecting, and waiting for one JetStream ack): 100 ms to 10 minutes.
pub const NATS_TIMEOUT_RANGE: DurationRange = (Duration::from_millis(100), Duration::from_secs(600));
pub const DEFAULT_NATS_TIMEOUT: Duration = Duration::from_secs(10);

/// `kind = "nats"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:port` or `tls://host:port`, without credentials.
    pub url: Url,
    /// The subject of each alert, `<topic>` standing for the alert's topic.
    pub subject: String,
    /// The JetStream stream that stores the alerts; created if missing.
    pub stream: String,
    /// How long the stream keeps an alert.
    pub max_age: Duration,
    /// How long the server remembers an alert id, dropping a second message carrying it.
    pub duplicate_window: Duration,
    /// How long connecting, a JetStream request, or waiting for one ack may take.
    pub timeout: Duration,
}

impl NatsConfig {
    /// The subject an alert of `topic` is published on.
    pub fn subject_for(&self, topic: &str) -> String {
        self.subject.replace(SUBJECT_TOPIC_PLACEHOLDER, topic)
    }

    /// The stream's subject filter: the template with `<topic>` as the `*` wildcard.
    pub fn stream_subject(&self) -> String {
        self.subject.replace(SUBJECT_TOPIC_PLACEHOLDER, "*")
    }
}

/// Validates the keys of a NATS sink; every problem goes to `problems` as (field, reason).
/// `topic_ids` are the topics this sink takes (all configured ones when it has no filter).
pub(super) fn validate(
    raw: &RawSink,
    topic_ids: &[&str],
    problems: &mut Vec<(String, String)>,
) -> Option<NatsConfig> {
    let mut problem = |field: &str, reason: String| problems.push((field.to_string(), reason));
    let url = match raw.url.as_deref() {
        None => {
            problem("url", "a nats sink needs a url, like \"nats://127.0.0.1:4222\"".into());
            None
        }
        Some(text) => check_url(text).map_err(|reason| problem("url", reason)).ok(),
    };
    let subject = raw.subject.clone().unwrap_or_else(|| DEFAULT_NATS_SUBJECT.to_string());
    let subject_ok = match check_template(&subject) {
        Err(reason) => {
            problem("subject", reason);
            false
        }
        Ok(()) => {
            let mut ok = true;
            for topic in topic_ids {
                let concrete = subject.replace(SUBJECT_TOPIC_PLACEHOLDER, topic);
                if let Err(reason) = check_subject(&concrete) {
                    problem(
                        "subject",
                        format!("topic {topic:?} makes the subject {concrete:?}, which {reason}"),
                    );
                    ok = false;
                }
            }
            ok
        }
    };
    let stream = raw.stream.clone().unwrap_or_else(|| DEFAULT_NATS_STREAM.to_string());
    let stream_ok = valid_stream_name(&stream);
    if !stream_ok {
        problem("stream", format!("{stream:?} must be 1-64 characters of letters, digits, '-' or '_'"));
    }
    let mut duration =
        |field: &str, value: Option<&String>, default: Duration, range: DurationRange| match value
            .map(|text| parse_duration_in(text, range))
        {
            None => default,
            Some(Ok(duration)) => duration,
            Some(Err(reason)) => {
                problem(field, reason);
                default
            }
        };
    let max_age = duration("max_age", raw.max_age.as_ref(), DEFAULT_NATS_MAX_AGE, NATS_MAX_AGE_RANGE);
    let duplicate_window = duration(
        "duplicate_window",
        raw.duplicate_window.as_ref(),
        DEFAULT_NATS_DUPLICATE_WINDOW.min(max_age),
        NATS_DUPLICATE_WINDOW_RANGE,
    );
    let timeout = duration("timeout", raw.timeout.as_ref(), DEFAULT_NATS_TIMEOUT, NATS_TIMEOUT_RANGE);
    if duplicate_window > max_age {
        problem(
            "duplicate_window",
            format!(
                "{} is longer than max_age {}: the server cannot remember an id longer than it keeps the alert",
                format_duration(duplicate_window),
                format_duration(max_age)
            ),
        );
    }
    if !subject_ok || !stream_ok {
        return None;
    }
    Some(NatsConfig { url: url?, subject, stream, max_age, duplicate_window, timeout })
}

/// `nats://host[:port]` or `tls://host[:port]`, nothing else.
fn check_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("{text:?} is not a valid URL ({err})"))?;
    if !matches!(url.scheme(), "nats" | "tls") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} must be nats://host:port or tls://host:port"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(
            "put no user or password in the URL: newswatch connects to NATS without credentials".into()
        );
    }
    if url.path().len() > 1 || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must be nats://host:port or tls://host:port, with no path"));
    }
    Ok(url)
}

/// The template itself: `<topic>` only as a whole token, no other placeholder, no wildcard.
fn check_template(template: &str) -> Result<(), String> {
    for token in template.split('.') {
        if token.contains(SUBJECT_TOPIC_PLACEHOLDER) && token != SUBJECT_TOPIC_PLACEHOLDER {
            return Err(format!(
                "{template:?}: {SUBJECT_TOPIC_PLACEHOLDER} must be a whole token (between dots), so the stream can take every topic with `*`"
            ));
        }
    }
    let rest = template.replace(SUBJECT_TOPIC_PLACEHOLDER, "topic");
    if rest.contains('<') {
        return Err(format!("{template:?}: the only placeholder is {SUBJECT_TOPIC_PLACEHOLDER}"));
    }
    check_subject(&rest).map_err(|reason| format!("{template:?} {reason}"))
}

/// A subject one message is published on: dot-separated tokens, none empty, no whitespace,
/// control characters or wildcards.
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("is empty".into());
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("holds a space or control character".into());
    }
    if subject.contains(['*', '>']) {
        return Err("holds a wildcard ('*' or '>'): alerts need a concrete subject".into());
    }
    if subject.split('.').any(str::is_empty) {
        return Err("has an empty token (a leading, trailing or doubled '.')".into());
    }
    Ok(())
}

/// JetStream stream names may not hold '.', '*', '>', path separators or whitespace; keep to a
/// plain set that is also a safe file name on the server.
fn valid_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Whether a stream subject filter (which may hold `*` and a final `>`) matches `subject`.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut wanted = filter.split('.');
    let mut tokens = subject.split('.');
    loop {
        match (wanted.next(), tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(want), Some(token)) if want == token => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(keys: &str) -> RawSink {
        toml::from_str(&format!("kind = \"nats\"\n{keys}")).unwrap()
    }

    fn check(keys: &str, topics: &[&str]) -> (Option<NatsConfig>, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let config = validate(&raw(keys), topics, &mut problems);
        (config, problems)
    }

    #[test]
    fn defaults_fill_everything_but_the_url() {
        let (config, problems) = check("url = \"nats://127.0.0.1:4222\"", &["us-russia-talks"]);
        assert_eq!(problems, vec![]);
        let config = config.unwrap();
        assert_eq!(config.subject_for("us-russia-talks"), "newswatch.alerts.us-russia-talks");
        assert_eq!(config.stream_subject(), "newswatch.alerts.*");
        assert_eq!(config.stream, DEFAULT_NATS_STREAM);
        assert_eq!(config.duplicate_window, DEFAULT_NATS_DUPLICATE_WINDOW);
    }

    #[test]
    fn bad_urls_are_named() {
        for (url, expected) in [
            ("http://127.0.0.1:4222", "must be nats://host:port"),
            ("nats://", "must be nats://host:port"),
            ("not a url", "is not a valid URL"),
            ("nats://me:secret@127.0.0.1:4222", "no user or password"),
            ("nats://127.0.0.1:4222/x", "with no path"),
        ] {
            let (config, problems) = check(&format!("url = {url:?}"), &["t"]);
            assert!(config.is_none(), "{url}");
            assert_eq!(problems.len(), 1, "{url}: {problems:?}");
            assert_eq!(problems[0].0, "url");
            assert!(problems[0].1.contains(expected), "{url}: {problems:?}");
        }
        let (_, problems) = check("", &["t"]);
        assert_eq!(problems[0].0, "url");
    }

    #[test]
    fn a_subject_is_checked_for_every_topic_it_takes() {
        let (config, problems) =
            check("url = \"nats://h:4222\"\nsubject = \"alerts.<topic>\"", &["fine", "has space", "a.*"]);
        assert!(config.is_none());
        let reasons: Vec<&str> = problems.iter().map(|(_, reason)| reason.as_str()).collect();
        assert_eq!(problems.iter().filter(|(field, _)| field == "subject").count(), 2, "{problems:?}");
        assert!(
            reasons[0].contains("topic \"has space\" makes the subject \"alerts.has space\""),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("wildcard"), "{reasons:?}");
    }

    #[test]
    fn bad_templates_are_refused() {
        for (subject, expected) in [
            ("alerts.t-<topic>", "whole token"),
            ("alerts.<feed>", "only placeholder"),
            ("alerts..<topic>", "empty token"),
            ("alerts.>", "wildcard"),
            ("", "is empty"),
        ] {
            let (_, problems) = check(&format!("url = \"nats://h:4222\"\nsubject = {subject:?}"), &[]);
            assert!(
                problems.iter().any(|(field, reason)| field == "subject" && reason.contains(expected)),
                "{subject}: {problems:?}"
            );
        }
    }

    #[test]
    fn stream_and_windows_are_checked() {
        let (_, problems) = check(
            "url = \"nats://h:4222\"\nstream = \"a.b\"\nmax_age = \"1h\"\nduplicate_window = \"2h\"\ntimeout = \"1ms\"",
            &[],
        );
        let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["stream", "timeout", "duplicate_window"], "{problems:?}");
    }

    #[test]
    fn filters_match_like_the_server() {
        assert!(subject_matches("newswatch.alerts.*", "newswatch.alerts.x"));
        assert!(subject_matches("newswatch.>", "newswatch.alerts.x"));
        assert!(!subject_matches("newswatch.alerts.*", "newswatch.alerts.x.y"));
        assert!(!subject_matches("other.*", "newswatch.x"));
        assert!(subject_matches("a.b", "a.b"));
    }
}
