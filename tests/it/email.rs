//! The e-mail sink against a loopback SMTP server ([`crate::smtp`]): one message per alert and
//! digests, their content (subject and count, From/To, both parts, every alert's title and
//! link, escaping), the login from `password_env`, and a server that refuses, then answers
//! 4xx/5xx, then accepts: every alert arrives, none twice; a kill -9 while a digest is being
//! sent: the restarted daemon sends the same digest again, with the same Message-ID.

use crate::smtp::{Fault, Received, SmtpServer};
use crate::support::{FixtureServer, TestDir};
use mail_parser::{MessageParser, PartType};
use newswatch::alert::Alert;
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A feed of `n` matching items about the talks (their pages are missing: the summaries are
/// the text); item 0's title carries characters HTML must escape and a CR/LF with a header
/// after it.
fn talks_feed(n: usize) -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>wire</title>");
    for i in 0..n {
        let title = if i == 0 {
            "Lavrov &amp; Rubio hold &quot;talks&quot; in Riyadh&#13;&#10;Bcc: victim@evil.example"
                .to_string()
        } else {
            format!("Lavrov and Rubio hold talks, part {i}")
        };
        xml.push_str(&format!(
            "<item><title>{title}</title><link>{{{{BASE}}}}/articles/{i}</link><guid>talks-{i}</guid><pubDate>{{{{NOW}}}}</pubDate><description>US Secretary of State Marco Rubio held talks with Russian Foreign Minister Sergei Lavrov in Riyadh, part {i}.</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// A received message, parsed.
#[derive(Debug)]
struct Mail {
    subject: String,
    from: String,
    to: Vec<String>,
    message_id: String,
    plain: String,
    html: String,
    envelope_from: String,
    envelope_to: Vec<String>,
    login: Option<String>,
    has_bcc: bool,
}

fn parse(received: &Received) -> Mail {
    let message = MessageParser::default().parse(&received.data).expect("a parseable message");
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        list.map(|list| list.clone().into_list())
            .unwrap_or_default()
            .iter()
            .filter_map(|addr| addr.address().map(str::to_string))
            .collect()
    };
    let mut plain = String::new();
    let mut html = String::new();
    for part in &message.parts {
        match &part.body {
            PartType::Text(text) => plain.push_str(text),
            PartType::Html(text) => html.push_str(text),
            _ => {}
        }
    }
    Mail {
        subject: message.subject().unwrap_or_default().to_string(),
        from: addresses(message.from()).join(","),
        to: addresses(message.to()),
        message_id: message.message_id().unwrap_or_default().to_string(),
        plain,
        html,
        envelope_from: received.mail_from.clone(),
        envelope_to: received.rcpt_to.clone(),
        login: received.login.clone(),
        has_bcc: message.header_raw("Bcc").is_some(),
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Checks that `mail` lists each of `alerts` in both parts (title and link), and nothing else.
fn assert_lists(mail: &Mail, alerts: &[&Alert]) {
    for alert in alerts {
        let url = alert.url.as_deref().unwrap();
        assert!(
            mail.plain.contains(&alert.title),
            "{:?} missing in the text part:\n{}",
            alert.title,
            mail.plain
        );
        assert!(mail.plain.contains(url), "{url} missing in the text part:\n{}", mail.plain);
        assert!(
            mail.html.contains(&format!(
                "<a href=\"{}\"><strong>{}</strong></a>",
                escape_html(url),
                escape_html(&alert.title)
            )),
            "{:?} not linked in the HTML part:\n{}",
            alert.title,
            mail.html
        );
        assert!(mail.plain.contains(&format!("feed wire · score {:.2}", alert.score)), "{}", mail.plain);
    }
    let listed = mail.plain.lines().filter(|line| line.trim_start().starts_with("http")).count();
    assert_eq!(listed, alerts.len(), "{}", mail.plain);
}

/// A config with the test's feed and the JSON Lines log, plus `sinks` (TOML).
fn write_config(dir: &TestDir, site: &FixtureServer, sinks: &str) {
    dir.write_config(&[("wire", site.url("/talks.xml"))], "max_backoff = \"2s\"");
    let mut text = std::fs::read_to_string(dir.config_path()).unwrap();
    text.push_str(sinks);
    std::fs::write(dir.config_path(), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_sends_a_message_per_alert_and_one_digest_with_their_content() {
    let site = FixtureServer::start().await;
    site.ok("/talks.xml", talks_feed(3), "application/rss+xml");
    let smtp = SmtpServer::start(&[]).await;
    let dir = TestDir::new();
    write_config(
        &dir,
        &site,
        &format!(
            "\n[[sinks]]\nkind = \"email\"\nname = \"each\"\nsmtp = \"{url}\"\nusername = \"ann\"\npassword_env = \"NEWSWATCH_TEST_SMTP_PASSWORD\"\nfrom = \"Newswatch <each@example.org>\"\nto = [\"ann@example.org\", \"Bob <bob@example.net>\"]\ndigest = \"off\"\n\n[[sinks]]\nkind = \"email\"\nname = \"daily\"\nsmtp = \"{url}\"\nfrom = \"digest@example.org\"\nto = [\"ann@example.org\"]\ndigest = \"24h\"\n",
            url = smtp.url()
        ),
    );
    let config = dir.config_path().display().to_string();
    let output = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .current_dir(dir.path())
            .env("NEWSWATCH_TEST_SMTP_PASSWORD", "s3cret pass")
            .stdout(Stdio::null())
            .output()
            .unwrap()
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let alerts = dir.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:?}");

    let mails: Vec<Mail> = smtp.received().iter().map(parse).collect();
    let (each, digests): (Vec<&Mail>, Vec<&Mail>) =
        mails.iter().partition(|mail| mail.from == "each@example.org");
    assert_eq!(each.len(), 3, "one message per alert: {each:#?}");
    for alert in &alerts {
        let mine: Vec<&&Mail> =
            each.iter().filter(|mail| mail.plain.contains(alert.url.as_deref().unwrap())).collect();
        assert_eq!(mine.len(), 1, "{} in exactly one message", alert.id);
        let mail = mine[0];
        assert_eq!(mail.subject, format!("newswatch: 1 new alert - us-russia-talks: {}", alert.title));
        assert_eq!(mail.to, ["ann@example.org", "bob@example.net"]);
        assert_eq!(mail.envelope_to, ["ann@example.org", "bob@example.net"], "no recipient from feed text");
        assert_eq!(mail.envelope_from, "each@example.org");
        assert!(!mail.has_bcc, "no header from feed text");
        assert_eq!(mail.login.as_deref(), Some("\0ann\0s3cret pass"), "the password came from password_env");
        assert_lists(mail, &[alert]);
    }
    let hostile = alerts.iter().find(|alert| alert.title.contains("Bcc")).expect("the CR/LF title alerted");
    assert!(!hostile.title.contains('\n'), "{:?}", hostile.title);
    let ids: HashSet<&str> = each.iter().map(|mail| mail.message_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "Message-IDs are distinct");

    assert_eq!(digests.len(), 1, "run --once sends one digest at its end: {digests:#?}");
    let digest = digests[0];
    assert_eq!(digest.subject, "newswatch: 3 new alerts - us-russia-talks");
    assert_eq!(digest.from, "digest@example.org");
    assert_eq!(digest.to, ["ann@example.org"]);
    assert_eq!(digest.login, None, "no username, no login");
    assert!(digest.plain.starts_with("3 new alerts on us-russia-talks"), "{}", digest.plain);
    assert!(digest.html.contains("Lavrov &amp; Rubio hold &quot;talks&quot;"), "{}", digest.html);
    assert!(digest.plain.contains("Lavrov & Rubio hold \"talks\""), "{}", digest.plain);
    assert_lists(digest, &alerts.iter().collect::<Vec<_>>());

    // Nothing is pending: a second run sends nothing more.
    let status = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_newswatch"))
            .args(["run", "--once", "--config", &config])
            .current_dir(dir.path())
            .env("NEWSWATCH_TEST_SMTP_PASSWORD", "s3cret pass")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    assert!(status.success());
    assert_eq!(smtp.received().len(), 4, "every alert was delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_then_fails_then_accepts_gets_every_alert_and_digest_once() {
    let site = FixtureServer::start().await;
    site.ok("/talks.xml", talks_feed(4), "application/rss+xml");
    // A port nobody listens on yet: the first sends are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = TestDir::new();
    write_config(
        &dir,
        &site,
        &format!(
            "\n[[sinks]]\nkind = \"email\"\nname = \"each\"\nsmtp = \"smtp://{addr}\"\nfrom = \"each@example.org\"\nto = [\"ann@example.org\"]\ntimeout = \"5s\"\n\n[[sinks]]\nkind = \"email\"\nname = \"often\"\nsmtp = \"smtp://{addr}\"\nfrom = \"digest@example.org\"\nto = [\"ann@example.org\"]\ndigest = \"2s\"\n"
        ),
    );
    let mut daemon = dir.spawn_daemon(false);
    dir.wait_for_alerts(4).await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // refused sends, a digest due

    let faults = [Fault::Busy421, Fault::Mail451, Fault::Data554, Fault::Mail451, Fault::Data554];
    let smtp = SmtpServer::start_at(addr, &faults).await;
    let alerts = dir.alerts();
    let urls: Vec<&str> = alerts.iter().map(|alert| alert.url.as_deref().unwrap()).collect();
    let started = Instant::now();
    let (each, digests) = loop {
        let mails: Vec<Mail> = smtp.received().iter().map(parse).collect();
        let (each, digests): (Vec<Mail>, Vec<Mail>) =
            mails.into_iter().partition(|mail| mail.from == "each@example.org");
        let covered =
            |mails: &[Mail]| urls.iter().all(|url| mails.iter().any(|mail| mail.plain.contains(url)));
        if covered(&each) && covered(&digests) {
            break (each, digests);
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "not every alert arrived: {each:#?} {digests:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(2500)).await; // a digest period: nothing more comes
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    assert!(tokio::task::block_in_place(|| daemon.wait()).unwrap().success());
    assert_eq!(smtp.faults_served(), faults, "every scripted failure was met and retried");

    let final_count: usize = smtp.received().len();
    assert_eq!(final_count, each.len() + digests.len(), "nothing arrived after all were in");
    // One message per alert, exactly once each.
    let mut per_url: HashMap<&str, usize> = HashMap::new();
    for mail in &each {
        for url in &urls {
            if mail.plain.contains(url) {
                *per_url.entry(url).or_default() += 1;
            }
        }
    }
    assert!(urls.iter().all(|url| per_url.get(url) == Some(&1)), "{per_url:?}");
    assert_eq!(each.len(), alerts.len());
    // Every alert in exactly one digest; each digest's subject counts what it lists.
    let mut in_digests: HashMap<&str, usize> = HashMap::new();
    for digest in &digests {
        let listed: Vec<&Alert> =
            alerts.iter().filter(|alert| digest.plain.contains(alert.url.as_deref().unwrap())).collect();
        let expected_subject = match listed.len() {
            1 => format!("newswatch: 1 new alert - us-russia-talks: {}", listed[0].title),
            n => format!("newswatch: {n} new alerts - us-russia-talks"),
        };
        assert_eq!(digest.subject, expected_subject);
        assert_lists(digest, &listed);
        for alert in listed {
            *in_digests.entry(alert.url.as_deref().unwrap()).or_default() += 1;
        }
    }
    assert!(urls.iter().all(|url| in_digests.get(url) == Some(&1)), "{in_digests:?} {digests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_digest_is_sent_resends_the_same_digest_with_the_same_message_id() {
    let site = FixtureServer::start().await;
    site.ok("/talks.xml", talks_feed(3), "application/rss+xml");
    let smtp = SmtpServer::start(&[Fault::HoldAfterData]).await;
    let dir = TestDir::new();
    write_config(
        &dir,
        &site,
        &format!(
            "\n[[sinks]]\nkind = \"email\"\nname = \"often\"\nsmtp = \"{}\"\nfrom = \"digest@example.org\"\nto = [\"ann@example.org\"]\ndigest = \"1s\"\ntimeout = \"60s\"\n",
            smtp.url()
        ),
    );
    let mut first = dir.spawn_daemon(false);
    dir.wait_for_alerts(3).await;
    let started = Instant::now();
    while smtp.held().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no digest was sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL while the server has the message but has not answered
    tokio::task::block_in_place(|| first.wait()).unwrap();
    let held = parse(&smtp.held()[0]);

    let mut second = dir.spawn_daemon(false);
    let alerts = dir.alerts();
    let urls: Vec<&str> = alerts.iter().map(|alert| alert.url.as_deref().unwrap()).collect();
    let started = Instant::now();
    let mails = loop {
        let mails: Vec<Mail> = smtp.received().iter().map(parse).collect();
        if urls.iter().all(|url| mails.iter().any(|mail| mail.plain.contains(url))) {
            break mails;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not every alert arrived: {mails:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await; // a period: nothing more comes
    let _ = Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    assert!(tokio::task::block_in_place(|| second.wait()).unwrap().success());
    assert_eq!(smtp.received().len(), mails.len(), "nothing arrived after all were in");

    let resent: Vec<&Mail> = mails.iter().filter(|mail| mail.message_id == held.message_id).collect();
    assert_eq!(resent.len(), 1, "the held digest was sent again once, same Message-ID: {mails:#?}");
    assert_eq!(resent[0].plain, held.plain, "with the same alerts");
    assert_eq!(resent[0].subject, held.subject);
    for url in &urls {
        let carrying = mails.iter().filter(|mail| mail.plain.contains(url)).count();
        assert_eq!(carrying, 1, "{url} in exactly one accepted message: {mails:#?}");
    }
}
