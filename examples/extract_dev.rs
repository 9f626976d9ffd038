//! Runs the extractor over an extraction-benchmark folder (`html/<id>.html.gz` plus
//! `ground-truth.json`) and prints predictions in the scorer's format:
//!
//! ```text
//! cargo run --release --example extract_dev -- ../shared/datasets/extraction > /tmp/pred.json
//! python3 ../shared/tools/extraction_score.py ../shared/datasets/extraction/ground-truth.json /tmp/pred.json
//! ```
//!
//! The same works for `../shared/datasets/extraction-readability` (Mozilla Readability's test
//! pages). Pages whose ground truth has no `url` are extracted without one.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir =
        PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "../shared/datasets/extraction".into()));
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("ground-truth.json"))?)?;
    let truth = truth.as_object().ok_or_else(|| anyhow::anyhow!("ground truth is not an object"))?;
    let mut predictions = BTreeMap::new();
    for (id, entry) in truth {
        let url = entry.get("url").and_then(|u| u.as_str()).and_then(|u| url::Url::parse(u).ok());
        let bytes = newswatch::cli::tools::read_page(&dir.join("html").join(format!("{id}.html.gz")))?;
        let body = match newswatch::extract::article(&bytes, url.as_ref(), None) {
            Ok(article) => {
                eprintln!("{} {:8} {}", &id[..8], article.method, article.title.as_deref().unwrap_or(""));
                article.text
            }
            Err(err) => {
                eprintln!("{} error {err}", &id[..8]);
                String::new()
            }
        };
        predictions.insert(id.clone(), serde_json::json!({ "articleBody": body }));
    }
    println!("{}", serde_json::to_string_pretty(&predictions)?);
    Ok(())
}
