//! Accuracy and speed of `newswatch::feed::parse` on the shared feed corpora.
//!
//! `cargo bench --bench feed [-- DIR]` where DIR holds `real/` and `feedparser-suite/` (default
//! `../shared/datasets/feeds`, or `$FEED_CORPUS_DIR`). Prints, for each corpus, how many documents
//! gave a usable feed, how many entry counts equal feedparser's (for JSON Feed: the document's
//! own item count), panics, and the mismatches; then throughput on the real corpus, one core.
//! `FEED_BENCH_VERBOSE=1` lists every mismatch.

use newswatch::feed;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;
use url::Url;

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .or_else(|| std::env::var("FEED_CORPUS_DIR").ok())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/feeds"));
    let verbose = std::env::var("FEED_BENCH_VERBOSE").is_ok();
    suite(&dir.join("feedparser-suite"), verbose);
    real(&dir.join("real"), verbose);
}

fn read_manifest(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("bad manifest {}: {err}", path.display()))
}

/// The charset from a `Header: Content-type: …; charset=…` line in a suite file's comment.
fn suite_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).to_ascii_lowercase();
    let line = head
        .lines()
        .find(|line| line.trim_start().starts_with("header:") && line.contains("content-type"))?;
    let charset = line.split("charset").nth(1)?;
    let value = charset.trim_start().strip_prefix('=')?.trim();
    let value = value.split([';', ' ', '"', '\'']).find(|s| !s.is_empty())?;
    Some(value.to_string())
}

fn suite(dir: &Path, verbose: bool) {
    let manifest = read_manifest(&dir.join("manifest.json"));
    let records = manifest.as_array().expect("suite manifest is an array");
    let base = Url::parse("http://127.0.0.1/feed.xml").expect("static URL");
    let (mut usable, mut equal, mut panics, mut reference_usable) = (0, 0, 0, 0);
    let mut mismatches = Vec::new();
    for record in records {
        let file = record["file"].as_str().expect("file");
        let expected = record["feedparser"]["entries"].as_u64().expect("entries") as usize;
        let bytes = std::fs::read(dir.join(file)).expect("suite file");
        let charset = suite_charset(&bytes);
        if !record["feedparser"]["version"].as_str().unwrap_or("").is_empty() || expected > 0 {
            reference_usable += 1;
        }
        match feed::parse(&bytes, &base, charset.as_deref()) {
            Ok(parsed) => {
                usable += 1;
                if parsed.entries.len() == expected {
                    equal += 1;
                } else {
                    mismatches.push(format!(
                        "{file}: {} entries, feedparser {expected} ({})",
                        parsed.entries.len(),
                        parsed.format
                    ));
                }
            }
            Err(err) => {
                if err.reason.contains("panicked") {
                    panics += 1;
                }
                mismatches.push(format!("{file}: error {err} (feedparser {expected})"));
            }
        }
    }
    println!("feedparser suite: {} documents", records.len());
    println!(
        "  usable: {usable} / {} (feedparser: 2,098; with a version or entries: {reference_usable})",
        records.len()
    );
    println!(
        "  entry count equal to feedparser's: {equal} / {} ({:.2} %)",
        records.len(),
        100.0 * equal as f64 / records.len() as f64
    );
    println!("  panics: {panics}");
    print_mismatches(&mismatches, verbose);
}

fn real(dir: &Path, verbose: bool) {
    let manifest = read_manifest(&dir.join("manifest.json"));
    let records = manifest["files"].as_array().expect("real manifest has files");
    let base = Url::parse("https://news.example/feed").expect("static URL");
    let (mut usable, mut equal, mut panics) = (0, 0, 0);
    let mut mismatches = Vec::new();
    let mut documents = Vec::new();
    for record in records {
        let file = record["file"].as_str().expect("file");
        let bytes = std::fs::read(dir.join(file)).expect("corpus file");
        let expected = if record["format"].as_str() == Some("json-feed") {
            json_item_count(&bytes)
        } else {
            record["items"].as_u64().expect("items") as usize
        };
        match feed::parse(&bytes, &base, None) {
            Ok(parsed) => {
                usable += 1;
                if parsed.entries.len() == expected {
                    equal += 1;
                } else {
                    mismatches.push(format!("{file}: {} entries, expected {expected}", parsed.entries.len()));
                }
                if verbose && !parsed.repairs.is_empty() {
                    println!("  {file}: {} {} repairs {:?}", parsed.format, parsed.encoding, parsed.repairs);
                }
            }
            Err(err) => {
                if err.reason.contains("panicked") {
                    panics += 1;
                }
                mismatches.push(format!("{file}: error {err} (expected {expected})"));
            }
        }
        documents.push(bytes);
    }
    println!("real corpus: {} documents", records.len());
    println!("  usable: {usable} / {}", records.len());
    println!("  item count equal to feedparser's (JSON Feed: the document's): {equal} / {}", records.len());
    println!("  panics: {panics}");
    print_mismatches(&mismatches, true);

    // Throughput: every document parsed in turn, several rounds, one thread.
    let total_bytes: usize = documents.iter().map(Vec::len).sum();
    let rounds = 20;
    let mut entries = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        for bytes in &documents {
            entries += feed::parse(bytes, &base, None).map(|p| p.entries.len()).unwrap_or(0);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let megabytes = (total_bytes * rounds) as f64 / 1e6;
    println!(
        "throughput: {:.1} MB/s ({rounds} rounds of {:.2} MB in {seconds:.2} s, {} entries per round)",
        megabytes / seconds,
        total_bytes as f64 / 1e6,
        entries / rounds
    );

    // feed-rs alone on the same bytes, for comparison.
    let started = Instant::now();
    for _ in 0..rounds {
        for bytes in &documents {
            let _ = feed_rs::parser::parse(bytes.as_slice());
        }
    }
    println!("feed-rs alone: {:.1} MB/s", megabytes / started.elapsed().as_secs_f64());
}

fn json_item_count(bytes: &[u8]) -> usize {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|doc| {
            // JSON Feed's `items`, or RSS-in-JSON's `rss.channel.item`.
            doc["items"].as_array().or_else(|| doc["rss"]["channel"]["item"].as_array()).map(Vec::len)
        })
        .unwrap_or(0)
}

fn print_mismatches(mismatches: &[String], verbose: bool) {
    let shown = if verbose { mismatches.len() } else { mismatches.len().min(40) };
    for line in &mismatches[..shown] {
        println!("    {line}");
    }
    if shown < mismatches.len() {
        println!("    … {} more (FEED_BENCH_VERBOSE=1 lists all)", mismatches.len() - shown);
    }
}
