//! Prints the measures of the join decision for every pair of items of a JSON Lines file
//! published at most `HOURS` apart (default 96), for studying where the thresholds fall:
//! `left<TAB>right<TAB>hours<TAB>containment<TAB>overlap<TAB>cosine<TAB>common_actors<TAB>conflict<TAB>decision<TAB>headline_overlap<TAB>headline_actors`.
//! Term weights use the document frequencies of the whole file.
//!
//! `cargo run --example story_pairs -- tests/fixtures/stories/items.jsonl [HOURS]`

use newswatch::story::{Clusterer, StoryParams, fingerprint};
use std::io::Write;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| anyhow::anyhow!("usage: FILE.jsonl [HOURS]"))?;
    let hours: i64 = args.next().map_or(Ok(96), |hours| hours.parse())?;
    let mut items = Vec::new();
    for line in std::fs::read_to_string(&path)?.lines().filter(|line| !line.trim().is_empty()) {
        let item: serde_json::Value = serde_json::from_str(line)?;
        let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
        let published = chrono::DateTime::parse_from_rfc3339(&field("published"))?.timestamp();
        let url = field("url");
        let print = fingerprint(&field("title"), &field("text"), (!url.is_empty()).then_some(url.as_str()));
        let title_terms = fingerprint(&field("title"), "", None).terms;
        items.push((published, field("id"), print, title_terms));
    }
    items.sort_by_key(|(published, _, _, _)| *published);
    // A window longer than the file: every item counts in the document frequencies.
    let mut clusterer = Clusterer::new(StoryParams { window_secs: i64::MAX / 4, ..StoryParams::default() });
    for (published, _, print, _) in &items {
        clusterer.add(*published, print.clone());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if std::env::var_os("STORY_PAIRS_TERMS").is_some() {
        // The raw terms and actors of each item instead, one JSON line per item.
        for (published, id, print, title_terms) in &items {
            let line = serde_json::json!({"id": id, "published": published, "terms": print.terms,
                "title_terms": title_terms,
                "actors": print.actors, "lang": format!("{:?}", print.lang)});
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    for (index, (published, id, print, _)) in items.iter().enumerate() {
        for (other_published, other_id, other, _) in &items[..index] {
            let apart = published - other_published;
            if apart > hours * 3600 {
                continue;
            }
            let comparison = clusterer.compare(print, other, None);
            writeln!(
                out,
                "{other_id}\t{id}\t{:.1}\t{:.3}\t{:.3}\t{:.3}\t{}\t{}\t{}\t{:.3}\t{}\t{:.2}\t{:?}\t{:?}",
                apart as f64 / 3600.0,
                comparison.containment,
                comparison.overlap,
                comparison.cosine,
                comparison.common_actors,
                comparison.conflict.unwrap_or("-"),
                comparison.decision.map_or("-", |(why, _)| why.as_str()),
                comparison.headline_overlap,
                comparison.headline_actors,
                comparison.headline_rarest,
                print.predicate,
                other.predicate,
            )?;
        }
    }
    Ok(())
}
