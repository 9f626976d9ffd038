//! Prints, for every labelled item of the given JSON Lines files, the rules of a topic that
//! matched it: `file<TAB>id<TAB>label<TAB>score<TAB>rule|rule|…` (rule names, strongest first).
//! For studying which rules carry which items, and as the features of a learned weighting.
//!
//! `cargo run --example topic_features -- config/topics/us-russia-talks.toml dev.jsonl …`

use newswatch::classify::{Document, Topic, TopicSpec};
use std::io::Write;
use std::path::{Path, PathBuf};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let topic_file =
        PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: TOPIC.toml FILE.jsonl…"))?);
    let spec = TopicSpec { id: "topic".into(), file: Some(topic_file.clone()), ..TopicSpec::default() };
    let topic = Topic::load_all(&[spec], Path::new(".")).map_err(|errors| {
        anyhow::anyhow!(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })?;
    let topic = &topic[0];
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for path in args {
        let name =
            Path::new(&path).file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
        for line in std::fs::read_to_string(&path)?.lines().filter(|line| !line.trim().is_empty()) {
            let item: serde_json::Value = serde_json::from_str(line)?;
            let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            let verdict = topic.classify(&Document { title: &field("title"), body: &field("text") });
            let rules: Vec<&str> = verdict.clauses.iter().map(|clause| &*clause.name).collect();
            writeln!(
                out,
                "{name}\t{}\t{}\t{:.4}\t{}",
                field("id"),
                item["label"].as_bool().unwrap_or_default(),
                verdict.score,
                rules.join("|")
            )?;
        }
    }
    Ok(())
}
