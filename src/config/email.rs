//! `kind = "email"`: the keys of an e-mail sink, validated. The SMTP password never lives in the
//! file: `password_env` names an environment variable, read here, before anything starts, so a
//! missing variable is a configuration error like any other. A `password` key is refused.

use super::raw::RawSink;
use super::{DurationRange, parse_duration_in};
use lettre::message::Mailbox;
use std::fmt;
use std::time::Duration;
use url::Url;

/// `digest`: the shortest and longest period a digest may cover (tests use seconds; people use
/// `"1h"` or `"24h"`).
pub const DIGEST_RANGE: DurationRange = (Duration::from_secs(1), Duration::from_secs(7 * 86_400));
/// `timeout` of an e-mail sink (each SMTP command): 1 second to 10 minutes.
pub const EMAIL_TIMEOUT_RANGE: DurationRange = (Duration::from_secs(1), Duration::from_secs(600));
pub const DEFAULT_EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// `kind = "email"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// `smtp://host:port` (plain, or STARTTLS with `?tls=required`) or `smtps://host:port`
    /// (TLS from the first byte), without user or password.
    pub smtp: Url,
    /// The SMTP login; with it, the password read from `password_env`.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// None: one message per alert. Some(period): one message per period listing its alerts.
    pub digest: Option<Duration>,
    /// How long one SMTP command may take.
    pub timeout: Duration,
}

/// A secret read from the environment: never shown by `Debug`, so never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Validates the keys of an e-mail sink; every problem goes to `problems` as (field, reason).
/// `env` looks up an environment variable (the process environment; a map in unit tests).
pub(super) fn validate(
    raw: &RawSink,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<(String, String)>,
) -> Option<EmailConfig> {
    let mut problem = |field: &str, reason: String| problems.push((field.to_string(), reason));
    if raw.password.is_some() {
        problem(
            "password",
            "a password is never read from the config file: put it in an environment variable and name that variable with `password_env`".into(),
        );
    }
    let smtp = match raw.smtp.as_deref().map(Url::parse) {
        None => {
            problem(
                "smtp",
                "an email sink needs an SMTP server, like \"smtps://smtp.example.org:465\"".into(),
            );
            None
        }
        Some(Err(err)) => {
            problem("smtp", format!("not a valid URL ({err})"));
            None
        }
        Some(Ok(url)) => check_smtp_url(url, raw.smtp.as_deref().unwrap_or_default())
            .map_err(|reason| problem("smtp", reason))
            .ok(),
    };
    let password = match (&raw.username, &raw.password_env) {
        (None, None) => None,
        (Some(_), None) => {
            problem(
                "password_env",
                "`username` needs `password_env`, the name of the environment variable holding the password"
                    .into(),
            );
            None
        }
        (None, Some(_)) => {
            problem("username", "`password_env` needs a `username` to log in with".into());
            None
        }
        (Some(_), Some(name)) if name.is_empty() || name.contains(['=', '\0']) => {
            problem("password_env", format!("{name:?} is not an environment variable name"));
            None
        }
        (Some(_), Some(name)) => match env(name) {
            Some(password) if !password.is_empty() => Some(Secret(password)),
            Some(_) => {
                problem("password_env", format!("the environment variable {name} is empty"));
                None
            }
            None => {
                problem("password_env", format!("the environment variable {name} is not set"));
                None
            }
        },
    };
    if let Some(username) = &raw.username
        && (username.is_empty() || username.chars().any(char::is_control))
    {
        problem("username", "must be non-empty printable text".into());
    }
    let from = match raw.from.as_deref() {
        None => {
            problem("from", "an email sink needs a `from` address".into());
            None
        }
        Some(text) => parse_mailbox(text).map_err(|reason| problem("from", reason)).ok(),
    };
    let mut to = Vec::new();
    match raw.to.as_deref() {
        None | Some([]) => problem("to", "an email sink needs at least one `to` address".into()),
        Some(addresses) => {
            for (index, text) in addresses.iter().enumerate() {
                match parse_mailbox(text) {
                    Ok(mailbox) => to.push(mailbox),
                    Err(reason) => problem(&format!("to[{index}]"), reason),
                }
            }
        }
    }
    let digest = match raw.digest.as_deref().map(str::trim) {
        None | Some("off") => None,
        Some(text) => match parse_duration_in(text, DIGEST_RANGE) {
            Ok(period) if period.subsec_nanos() == 0 => Some(period),
            Ok(_) => {
                problem("digest", format!("{text:?} must be a whole number of seconds"));
                None
            }
            Err(reason) => {
                problem(
                    "digest",
                    format!("{reason}; use \"off\" (one message per alert), \"1h\" or \"24h\""),
                );
                None
            }
        },
    };
    let timeout = match raw.timeout.as_deref().map(|text| parse_duration_in(text, EMAIL_TIMEOUT_RANGE)) {
        None => DEFAULT_EMAIL_TIMEOUT,
        Some(Ok(timeout)) => timeout,
        Some(Err(reason)) => {
            problem("timeout", reason);
            DEFAULT_EMAIL_TIMEOUT
        }
    };
    Some(EmailConfig {
        smtp: smtp?,
        username: raw.username.clone(),
        password,
        from: from?,
        to,
        digest,
        timeout,
    })
    .filter(|config| !config.to.is_empty())
}

/// `smtp://host[:port][?tls=required|opportunistic]` or `smtps://host[:port]`, nothing else.
fn check_smtp_url(url: Url, text: &str) -> Result<Url, String> {
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} must be smtp://host:port or smtps://host:port"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err("put no user or password in the URL: use `username` and `password_env`".into());
    }
    if url.path().len() > 1 || url.fragment().is_some() {
        return Err("must be smtp://host:port or smtps://host:port, with no path".into());
    }
    for (key, value) in url.query_pairs() {
        let known =
            key == "tls" && url.scheme() == "smtp" && matches!(value.as_ref(), "required" | "opportunistic");
        if !known {
            return Err(format!(
                "unknown parameter `{key}={value}` (smtp:// takes only tls=required or tls=opportunistic)"
            ));
        }
    }
    Ok(url)
}

/// An address such as `alerts@example.org` or `Newswatch <alerts@example.org>`.
fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} is not an e-mail address (it holds a control character)"));
    }
    text.parse::<Mailbox>().map_err(|err| format!("{text:?} is not an e-mail address ({err})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SinkKind};
    use std::path::Path;

    const FEED_AND_TOPIC: &str = "[[feeds]]\nname = \"one\"\nurl = \"http://127.0.0.1:8080/feed.xml\"\n[[topics]]\nid = \"us-russia-talks\"\n";

    /// The problems of a config with one email sink made of `keys`, as "key: reason" lines.
    fn problems(keys: &str) -> Vec<String> {
        let text = format!("{FEED_AND_TOPIC}[[sinks]]\nkind = \"email\"\n{keys}");
        let err = Config::from_toml(&text, "mail.toml", Path::new("config")).unwrap_err();
        assert_eq!(err.source, "mail.toml");
        err.problems.iter().map(|p| format!("{}: {}", p.key, p.reason)).collect()
    }

    const GOOD: &str =
        "smtp = \"smtp://127.0.0.1:2525\"\nfrom = \"newswatch@example.org\"\nto = [\"ann@example.org\"]\n";

    #[test]
    fn a_password_in_the_file_is_refused_naming_file_key_and_reason() {
        let found = problems(&format!("{GOOD}username = \"ann\"\npassword = \"hunter2\"\n"));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("sinks[0].password: a password is never read from the config file")),
            "{found:?}"
        );
        let err = Config::from_toml(
            &format!("{FEED_AND_TOPIC}[[sinks]]\nkind = \"email\"\n{GOOD}password = \"x\"\n"),
            "mail.toml",
            Path::new("config"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("mail.toml"), "the file is named: {err}");
    }

    #[test]
    fn bad_addresses_and_urls_are_config_errors() {
        let found = problems(
            "smtp = \"http://mail.example.org\"\nfrom = \"not an address\"\nto = [\"ann@example.org\", \"bob@\", \"eve@example.org\\r\\nBcc: x@y.z\"]\n",
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("sinks[0].smtp: \"http://mail.example.org\" must be smtp://host:port"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("sinks[0].from: \"not an address\" is not an e-mail address"),
            "{found:?}"
        );
        assert!(found[2].starts_with("sinks[0].to[1]: \"bob@\" is not an e-mail address"), "{found:?}");
        assert!(found[3].starts_with("sinks[0].to[2]:"), "{found:?}");
        let found = problems("smtp = \"smtps://ann:secret@mail.example.org\"\nfrom = \"a@b.c\"\nto = []\n");
        assert_eq!(
            found,
            [
                "sinks[0].smtp: put no user or password in the URL: use `username` and `password_env`",
                "sinks[0].to: an email sink needs at least one `to` address",
            ]
        );
    }

    #[test]
    fn an_unknown_digest_is_a_config_error() {
        let found = problems(&format!("{GOOD}digest = \"daily\"\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("sinks[0].digest: \"daily\" is not a duration"), "{found:?}");
        assert!(found[0].ends_with("use \"off\" (one message per alert), \"1h\" or \"24h\""), "{found:?}");
        let found = problems(&format!("{GOOD}digest = \"30d\"\n"));
        assert!(found[0].contains("is out of range: from 1s to 7d"), "{found:?}");
    }

    #[test]
    fn a_missing_password_variable_is_a_config_error() {
        let found = problems(&format!(
            "{GOOD}username = \"ann\"\npassword_env = \"NEWSWATCH_TEST_SURELY_UNSET_7F3A\"\n"
        ));
        assert_eq!(
            found,
            ["sinks[0].password_env: the environment variable NEWSWATCH_TEST_SURELY_UNSET_7F3A is not set"]
        );
        let found = problems(&format!("{GOOD}username = \"ann\"\n"));
        assert!(found[0].starts_with("sinks[0].password_env: `username` needs `password_env`"), "{found:?}");
        let found = problems(&format!("{GOOD}url = \"http://x\"\n"));
        assert_eq!(found, ["sinks[0].url: `url` applies to webhook and nats sinks only"]);
    }

    #[test]
    fn a_good_email_sink_reads_its_password_from_the_environment() {
        let text = format!(
            "{GOOD}username = \"ann\"\npassword_env = \"MAIL_PASSWORD\"\ndigest = \"24h\"\nfrom = \"Newswatch <newswatch@example.org>\"\n"
        );
        // The keys as the TOML reader gives them, validated with a stand-in environment.
        let raw: toml::Table =
            toml::from_str(&text.replacen("from = \"newswatch@example.org\"\n", "", 1)).unwrap();
        let raw: RawSink = toml::Value::Table({
            let mut table = raw;
            table.insert("kind".into(), "email".into());
            table
        })
        .try_into()
        .unwrap();
        let mut found = Vec::new();
        let env = |name: &str| (name == "MAIL_PASSWORD").then(|| "hunter2".to_string());
        let config = validate(&raw, &env, &mut found).unwrap();
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(config.password, Some(Secret("hunter2".into())));
        assert_eq!(format!("{:?}", config.password), "Some(Secret(…))", "Debug never shows it");
        assert_eq!(config.digest, Some(Duration::from_secs(86_400)));
        assert_eq!(config.from.name.as_deref(), Some("Newswatch"));
        assert_eq!(config.smtp.port(), Some(2525));
        // Through the whole loader, with `digest = "off"` and no login.
        let loaded = Config::from_toml(
            &format!(
                "{FEED_AND_TOPIC}[[sinks]]\nkind = \"email\"\nname = \"mail\"\ndigest = \"off\"\n{GOOD}"
            ),
            "mail.toml",
            Path::new("config"),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        match &loaded.sinks[0].kind {
            SinkKind::Email(email) => assert_eq!(email.digest, None),
            other => panic!("{other:?}"),
        }
        assert!(loaded.sinks[0].derived_name().starts_with("email:127.0.0.1:"));
    }
}
