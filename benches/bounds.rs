//! Issue 11's memory bound on feed parsing: peak memory for a feed at the item cap and for
//! documents far beyond it, with the time each parse takes.
//!
//! `cargo bench --bench bounds`. Every document is generated here (nothing is read from disk).
//! Each case runs in a fresh child process (this binary with `--case N`), which builds its
//! document, resets its peak-RSS mark (`/proc/self/clear_refs`), parses it with
//! `feed::parse_capped` at the daemon's default cap and prints the growth of its peak resident
//! memory over the first parse (`VmHWM` − `VmRSS` before it) and the best time of three parses. The last line runs feed-rs on
//! the whole million-item document, as the parser did before the cap moved in front of it.

use newswatch::feed;
use std::time::Instant;
use url::Url;

/// The daemon's default `max_items_per_poll`.
const CAP: usize = newswatch::config::DEFAULT_MAX_ITEMS_PER_POLL;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak-RSS mark to the current RSS; false when the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak RSS growth in MiB while running `work`, its result and its time.
fn measure<T>(work: impl FnOnce() -> T) -> (f64, T, std::time::Duration) {
    let reset = reset_peak();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let started = Instant::now();
    let result = work();
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    if !reset {
        eprintln!("warning: cannot reset VmHWM; figures are process peaks");
    }
    (peak.saturating_sub(before) as f64 / 1024.0, result, elapsed)
}

fn rss_items(count: usize, item: impl Fn(usize) -> String) -> String {
    let mut doc = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for n in 0..count {
        doc.push_str(&item(n));
    }
    doc.push_str("</channel></rss>");
    doc
}

fn real_item(n: usize) -> String {
    format!(
        "<item><title>Lavrov and Rubio hold talks in Riyadh, part {n}</title>\
         <link>https://news.example/world/2025/02/18/story-{n}.html?utm_source=rss</link>\
         <guid isPermaLink=\"false\">story-{n}</guid><pubDate>Tue, 18 Feb 2025 10:00:00 GMT</pubDate>\
         <description>&lt;p&gt;US Secretary of State Marco Rubio and Russian Foreign Minister Sergei \
         Lavrov held four hours of talks in Riyadh on Tuesday, the first meeting of the two sides in \
         years, agreeing to restore embassies and to start work on ending the war.&lt;/p&gt;</description>\
         <category>World</category><author>desk@news.example (News Desk)</author></item>"
    )
}

/// The documents, by name; built only in the child that measures one.
fn case(index: usize) -> Option<(&'static str, String)> {
    Some(match index {
        0 => ("RSS at the cap (500 real-looking items)", rss_items(CAP, real_item)),
        1 => ("RSS, 1,000 real-looking items", rss_items(feed::MAX_ENTRIES, real_item)),
        2 => ("RSS, 20,000 real-looking items", rss_items(20_000, real_item)),
        3 | 6 => ("RSS, 1,000,000 empty <item/>", rss_items(1_000_000, |_| "<item/>".to_string())),
        4 => ("Atom, 200,000 entries with id and title", {
            let mut doc = String::from("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>");
            for n in 0..200_000 {
                doc.push_str(&format!("<entry><id>urn:x:{n}</id><title>t{n}</title></entry>"));
            }
            doc.push_str("</feed>");
            doc
        }),
        5 => ("JSON Feed, 1,000,000 empty items", {
            let mut doc = String::from("{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[");
            doc.push_str(&"{},".repeat(1_000_000));
            doc.push_str("{}]}");
            doc
        }),
        7 => (
            "RSS, one item, 5,000,000 bare '&'",
            rss_items(1, |_| format!("<item><title>{}</title></item>", "& ".repeat(5_000_000))),
        ),
        8 => (
            "RSS, one item, 500,000 <category/>",
            rss_items(1, |_| format!("<item><title>t</title>{}</item>", "<category/>".repeat(500_000))),
        ),
        9 => ("Atom, one entry, 200,000 <link/>", {
            let links = "<link href=\"https://x.example/a\"/>".repeat(200_000);
            format!("<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>urn:x</id>{links}</entry></feed>")
        }),
        10 => ("JSON Feed, one item with 4,000,000 numbers", {
            format!(
                "{{\"version\":\"https://jsonfeed.org/version/1\",\"items\":[{{\"id\":\"x\",\"tags\":[{}1]}}]}}",
                "1,".repeat(4_000_000)
            )
        }),
        _ => return None,
    })
}

fn run_case(index: usize) {
    let Some((name, doc)) = case(index) else { return };
    let url = Url::parse("https://news.example/feed").expect("static URL");
    let parse = || {
        if index == 6 {
            // The old path: every entry built by feed-rs, then cut.
            feed_rs::parser::parse(doc.as_bytes()).map(|f| f.entries.len()).unwrap_or(0)
        } else {
            feed::parse_capped(doc.as_bytes(), &url, None, CAP).map(|p| p.entries.len()).unwrap_or(0)
        }
    };
    // The peak from the first parse; the time is the best of three.
    let (peak, entries, mut elapsed) = measure(parse);
    for _ in 0..2 {
        let started = Instant::now();
        parse();
        elapsed = elapsed.min(started.elapsed());
    }
    let name = if index == 6 { "  before the cap: feed-rs on that whole document" } else { name };
    println!(
        "{name:<50} {:>9.1} {entries:>8} {peak:>11.1} {:>10.1}",
        doc.len() as f64 / (1 << 20) as f64,
        elapsed.as_secs_f64() * 1000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--case") {
        run_case(args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX));
        return;
    }
    println!(
        "feed parsing under the item cap ({CAP}, the default max_items_per_poll), one process per document"
    );
    println!("{:<50} {:>9} {:>8} {:>11} {:>10}", "document", "size MiB", "entries", "peak +MiB", "parse ms");
    let exe = std::env::current_exe().expect("own path");
    for index in 0..=10 {
        let status = std::process::Command::new(&exe).args(["--case", &index.to_string()]).status();
        if !status.as_ref().is_ok_and(|status| status.success()) {
            println!("case {index} failed: {status:?}");
        }
    }
}
