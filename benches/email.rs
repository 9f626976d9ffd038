//! Cost of the e-mail sink: composing a digest of `DIGEST_MAX_ALERTS` (500) alerts (plain + HTML,
//! encoded), and sending messages one per alert to a loopback SMTP server that accepts
//! everything (one connection per message, as the sink does). Prints the figures. One core.
//!
//! `cargo bench --bench email [-- MESSAGES]` (default 200 messages sent).

use newswatch::alert::{ALERT_SCHEMA, Alert, to_json_line};
use newswatch::config::EmailConfig;
use newswatch::sink::digest::DIGEST_MAX_ALERTS;
use newswatch::sink::email::compose;
use newswatch::sink::{EmailSink, Sink};
use newswatch::store::Pending;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn rows(n: usize) -> Vec<Pending> {
    (0..n)
        .map(|i| {
            let alert = Alert {
                schema: ALERT_SCHEMA,
                id: format!("{i:016x}"),
                topic: if i % 3 == 0 { "energy".into() } else { "us-russia-talks".into() },
                score: 0.5 + (i % 50) as f64 / 100.0,
                title: format!("Lavrov & Rubio hold talks in Riyadh on <Ukraine>, round {i}"),
                url: Some(format!("https://news.example.org/world/2026/11/30/talks-{i}?src=rss&x=1")),
                feed: "wire".into(),
                published: Some("2026-11-30T08:00:00Z".into()),
                detected_at: "2026-11-30T08:01:00Z".into(),
                matched: vec!["lavrov".into(), "rubio".into(), "talks".into()],
                snippet: "Lynne M. Tracy, the ambassador, spoke with Sergei A. Ryabkov about the \"next round\" of talks, officials said.".into(),
                text_source: "page".into(),
                fallback_reason: None,
                kind: Some("new_story".into()),
                story: Some(format!("{:016x}", i / 4)),
                story_items: Some(1),
                story_outlets: Some(1),
                newcomers: Vec::new(),
            };
            Pending { seq: i as i64, alert_id: alert.id.clone(), body: to_json_line(&alert).unwrap() }
        })
        .collect()
}

fn config(smtp: &str, digest: Option<Duration>) -> EmailConfig {
    EmailConfig {
        smtp: smtp.parse().unwrap(),
        username: None,
        password: None,
        from: "newswatch@example.org".parse().unwrap(),
        to: vec!["ann@example.org".parse().unwrap()],
        digest,
        timeout: Duration::from_secs(10),
    }
}

/// Accepts every message; answers just enough SMTP for lettre.
async fn accept_all(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            let _ = write.write_all(b"220 bench\r\n").await;
            let mut line = String::new();
            let mut in_data = false;
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let _ = write.write_all(b"250 queued\r\n").await;
                    }
                    continue;
                }
                let answer: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                    Some("EHLO") => b"250-bench\r\n250 8BITMIME\r\n",
                    Some("DATA") => {
                        in_data = true;
                        b"354 go\r\n"
                    }
                    Some("QUIT") => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"250 ok\r\n",
                };
                let _ = write.write_all(answer).await;
            }
        });
    }
}

fn main() {
    let messages: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let digest_rows = rows(DIGEST_MAX_ALERTS);
    let digest_config = config("smtp://127.0.0.1:25", Some(Duration::from_secs(3600)));
    let rounds = 20;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes = compose("bench", &digest_config, &digest_rows).unwrap().formatted().len();
    }
    let per_digest = started.elapsed() / rounds;
    println!(
        "compose a {DIGEST_MAX_ALERTS}-alert digest: {:.1} ms, {:.0} KiB formatted ({:.0} bytes per alert)",
        per_digest.as_secs_f64() * 1000.0,
        bytes as f64 / 1024.0,
        bytes as f64 / DIGEST_MAX_ALERTS as f64
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        tokio::spawn(accept_all(listener));
        let sink = EmailSink::new("bench".into(), config(&url, None));
        let all = rows(messages);
        let started = Instant::now();
        for row in &all {
            sink.deliver(std::slice::from_ref(row)).await.expect("the loopback server accepts");
        }
        let elapsed = started.elapsed();
        println!(
            "send {messages} one-alert messages over loopback SMTP: {:.2} s, {:.0} messages/s, {:.2} ms each",
            elapsed.as_secs_f64(),
            messages as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / messages as f64
        );
    });
}
