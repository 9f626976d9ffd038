//! Runs `newswatch cluster` with other rewrite thresholds, for choosing them: prints the same
//! lines as `newswatch cluster`.
//!
//! `cargo run --example story_sweep -- FILE.jsonl REWRITE PER_DAY COSINE [ONE_KIND]`

use newswatch::story::{StoryParams, cluster_jsonl};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 4, "usage: FILE.jsonl REWRITE PER_DAY COSINE [ONE_KIND]");
    let defaults = StoryParams::default();
    let params = StoryParams {
        rewrite: args[1].parse()?,
        rewrite_per_day: args[2].parse()?,
        rewrite_cosine: args[3].parse()?,
        rewrite_one_kind: args.get(4).map_or(Ok(defaults.rewrite_one_kind), |value| value.parse())?,
        ..defaults
    };
    // Event-rewrite knobs from the environment, for sweeping them too.
    let knob = |name: &str, default: f64| -> anyhow::Result<f64> {
        std::env::var(name).map_or(Ok(default), |value| Ok(value.parse()?))
    };
    let params = StoryParams {
        event_hours: knob("EVENT_HOURS", params.event_hours)?,
        event_rare: knob("EVENT_RARE", params.event_rare)?,
        event_shared: knob("EVENT_SHARED", params.event_shared)?,
        event_overlap: knob("EVENT_OVERLAP", params.event_overlap)?,
        event_headline: knob("EVENT_HEADLINE", params.event_headline)?,
        event_headline_terms: knob("EVENT_HEADLINE_TERMS", params.event_headline_terms)?,
        ..params
    };
    let file = std::io::BufReader::new(std::fs::File::open(&args[0])?);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    cluster_jsonl(file, &args[0], params, &mut out, &mut std::io::stderr().lock())?;
    Ok(())
}
