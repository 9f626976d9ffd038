//! Classification benchmark: evaluates the shipped `us-russia-talks` topic on the shared dev
//! sets and measures throughput in MB/s of text on one core.
//!
//! It also times the worst pages we could construct (issue 11): long texts repeating a short
//! sentence full of matching terms, as one sentence or many, English and Russian. The
//! classifier reads at most `MAX_CLASSIFIED_BYTES` of a body and `MAX_OCCURRENCES_PER_TERM`
//! occurrences of a term, so these take about as long as a 64 KiB page however long they are.
//!
//! `cargo bench --bench classify [-- DATASET_DIR]`; the directory defaults to
//! `../shared/datasets/relevance` (or `$NEWSWATCH_RELEVANCE_DIR`). `CLASSIFY_ERRORS=1` lists the
//! misclassified items; `CLASSIFY_TOPIC=id` picks another shipped topic; `CLASSIFY_DUMP=PATH`
//! writes every item's id, label, score and matched rules (tab-separated) to PATH, for studying
//! which rules carry which items; `CLASSIFY_PASSES=n` times exactly n passes;
//! `CLASSIFY_TOPIC_FILE=path` measures that topic file instead of the shipped one;
//! `CLASSIFY_SPEED_ONLY=1` skips the evaluation and the worst pages (for instruction counts of
//! the throughput passes alone under a profiler); `CLASSIFY_JUDGE_ONLY=1` times only the daemon
//! path on dev + dev-ru (the figure the target is set on).

use newswatch::classify::{Document, Topic, TopicSpec};
use newswatch::cli::tools::eval_jsonl;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; the first other argument is the dataset directory.
    let dir = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .or_else(|| std::env::var("NEWSWATCH_RELEVANCE_DIR").ok())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/datasets/relevance"));
    let topic_id = std::env::var("CLASSIFY_TOPIC").unwrap_or_else(|_| "us-russia-talks".into());
    let show_errors = std::env::var_os("CLASSIFY_ERRORS").is_some();
    let speed_only = std::env::var_os("CLASSIFY_SPEED_ONLY").is_some();
    let judge_only = std::env::var_os("CLASSIFY_JUDGE_ONLY").is_some();
    let mut dump = match std::env::var_os("CLASSIFY_DUMP") {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    // `CLASSIFY_TOPIC_FILE=path` measures a topic file instead (to compare drafts).
    let topic = match std::env::var_os("CLASSIFY_TOPIC_FILE") {
        Some(file) => {
            let spec = TopicSpec { id: topic_id.clone(), file: Some(file.into()), ..TopicSpec::default() };
            Topic::load_all(&[spec], std::path::Path::new(".")).map(|mut topics| topics.remove(0))
        }
        None => Topic::builtin(&topic_id),
    }
    .map_err(|errors| {
        anyhow::anyhow!(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })?;

    let mut documents: Vec<(String, String)> = Vec::new();
    for name in ["dev.jsonl", "dev-ru.jsonl"] {
        let path = dir.join(name);
        if !speed_only {
            eval_jsonl(&topic, &path, show_errors, &mut std::io::stdout())?;
            println!();
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let item: serde_json::Value = serde_json::from_str(line)?;
            let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            if let Some(out) = dump.as_mut() {
                use std::io::Write;
                let verdict = topic.classify(&Document { title: &field("title"), body: &field("text") });
                let rules: Vec<String> = verdict
                    .clauses
                    .iter()
                    .map(|clause| format!("{:+.2} {}", clause.weight, clause.name))
                    .collect();
                writeln!(
                    out,
                    "{name}\t{}\t{}\t{:.3}\t{}",
                    field("id"),
                    item["label"].as_bool().unwrap_or_default(),
                    verdict.score,
                    rules.join(" | ")
                )?;
            }
            documents.push((field("title"), field("text")));
        }
    }

    if !speed_only {
        worst_pages(&topic);
    }

    // The daemon's path (`judge`: every score, the explanation of matches only) is the
    // figure; `classify` also explains every item that does not match (`explain`, `eval`).
    throughput("daemon path (judge)", &documents, |doc| topic.judge(doc).matched);
    if !judge_only {
        throughput("explaining every item (classify)", &documents, |doc| topic.classify(doc).matched);
    }
    // Realistic traffic: dev2 is drawn like a feed's items (about one in seventeen matches).
    if let Ok(text) = std::fs::read_to_string(dir.join("dev2.jsonl"))
        && !judge_only
    {
        let mut traffic = Vec::new();
        for line in text.lines() {
            let item: serde_json::Value = serde_json::from_str(line)?;
            let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            traffic.push((field("title"), field("text")));
        }
        throughput("dev2.jsonl, daemon path (judge)", &traffic, |doc| topic.judge(doc).matched);
    }
    Ok(())
}

/// Classifies `documents` over and over for about three seconds (or `CLASSIFY_PASSES` passes)
/// and prints MB/s of text and the mean time per item.
fn throughput(label: &str, documents: &[(String, String)], classify: impl Fn(&Document<'_>) -> bool) {
    let bytes_per_pass: usize = documents.iter().map(|(title, body)| title.len() + body.len()).sum();
    let mut passes = 0usize;
    let mut matched = 0usize;
    let started = Instant::now();
    // `CLASSIFY_PASSES=n` runs exactly n passes (for instruction counts under a profiler).
    let fixed_passes: Option<usize> = std::env::var("CLASSIFY_PASSES").ok().and_then(|n| n.parse().ok());
    let more = |passes: usize| match fixed_passes {
        Some(wanted) => passes < wanted,
        None => started.elapsed() < Duration::from_secs(3) || passes < 3,
    };
    while more(passes) {
        for (title, body) in documents {
            matched += usize::from(classify(&Document { title, body }));
        }
        passes += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let megabytes = (bytes_per_pass * passes) as f64 / 1e6;
    println!(
        "throughput, {label}: {:.1} MB/s on one core, {:.3} ms per item ({} documents x {passes} passes, {:.2} MB in {seconds:.2} s, {matched} matches)",
        megabytes / seconds,
        seconds * 1e3 / (documents.len() * passes) as f64,
        documents.len(),
        megabytes,
    );
}

/// Times the classification of adversarial pages built here (nothing stored): each of 1 MB and
/// 3 MB, repeating a short sentence that matches many rules.
fn worst_pages(topic: &Topic) {
    let sentences = [
        ("many sentences", "Lavrov and Blinken held talks with Russia and the US on a prisoner swap. "),
        (
            "one endless sentence",
            "Lavrov and Blinken held talks with Russia and the US on a prisoner swap and ",
        ),
        ("no sentence breaks, names only", "Putin Trump Putin Trump talks talks with Russia US "),
        ("Russian", "Лавров и Блинкен провели переговоры с Россией и США об обмене заключенными. "),
    ];
    let mut worst = Duration::ZERO;
    for (label, sentence) in sentences {
        for megabytes in [1usize, 3] {
            let body = sentence.repeat(megabytes * 1_000_000 / sentence.len());
            let started = Instant::now();
            let verdict = topic.classify(&Document { title: sentence, body: &body });
            let elapsed = started.elapsed();
            worst = worst.max(elapsed);
            println!(
                "worst page: {label}, {:.1} MB: classified in {:.1} ms (score {:.3}, {} rules matched)",
                body.len() as f64 / 1e6,
                elapsed.as_secs_f64() * 1e3,
                verdict.score,
                verdict.clauses.len()
            );
        }
    }
    println!("worst page: the slowest took {:.1} ms", worst.as_secs_f64() * 1e3);
}
