//! Story clustering cost per item with a full window: fills the clusterer with `WINDOW` items
//! (default 100,000, all published within the 72-hour window), then times `MEASURED` more
//! (default 10,000): the fingerprint (tokenising, stemming, MinHash) and the join decision
//! (candidate look-up, comparisons, filing) separately. One core.
//!
//! `cargo bench --bench story [-- WINDOW MEASURED]`
//!
//! Items are made from the labelled story fixtures (`tests/fixtures/stories/items.jsonl`, real
//! headlines and summaries plus reprints): each generated item takes a fixture item and replaces
//! about a third of its words with words drawn from a 50,000-word Zipf vocabulary, and adds two
//! generated names, so that items differ while sharing the vocabulary of news about one topic
//! (the hard case for an inverted index: many items share "Russia", "Putin", "talks").

use newswatch::story::{Clusterer, StoryParams, fingerprint};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A Zipf-like draw in `0..n`: rank r with probability ∝ 1/(r+1).
    fn zipf(&mut self, n: u64) -> u64 {
        let uniform = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64 + 1.0).powf(uniform) - 1.0) as u64
    }
}

fn synthetic_word(rank: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mir", "ta", "ven", "so", "ri", "dan", "pe", "gul", "an", "tor", "bi", "ne", "sha", "vo",
    ];
    let mut word = String::new();
    let mut rest = rank + 16;
    while rest > 0 {
        word.push_str(SYLLABLES[(rest % 16) as usize]);
        rest /= 16;
    }
    word
}

struct Template {
    title: String,
    text: String,
}

fn load_templates() -> anyhow::Result<Vec<Template>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stories/items.jsonl");
    let mut templates = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let item: serde_json::Value = serde_json::from_str(line)?;
        let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
        templates.push(Template { title: field("title"), text: field("text") });
    }
    Ok(templates)
}

fn generate(templates: &[Template], rng: &mut Rng) -> (String, String) {
    let template = &templates[(rng.next() % templates.len() as u64) as usize];
    let mut mutate = |source: &str| {
        source
            .split_whitespace()
            .map(|word| {
                if rng.next().is_multiple_of(3) { synthetic_word(rng.zipf(50_000)) } else { word.to_string() }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = mutate(&template.title);
    let mut text = mutate(&template.text);
    for _ in 0..2 {
        let mut name = synthetic_word(rng.zipf(20_000));
        name[..1].make_ascii_uppercase();
        text.push_str(&format!(" Officials met {name} again."));
    }
    (title, text)
}

/// CPU time this process has used (user + system), from /proc: on a machine shared with other
/// builds, wall time per item says more about the neighbours than about the code.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    Some(Duration::from_millis(ticks * 10))
}

fn main() -> anyhow::Result<()> {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let window_items = numbers.first().copied().unwrap_or(100_000);
    let measured_items = numbers.get(1).copied().unwrap_or(10_000);
    let templates = load_templates()?;
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let params = StoryParams::default();
    // Spread the window's items over 70 hours, so that none expires while measuring.
    let step_secs = (70 * 3600 / (window_items + measured_items).max(1)).max(1) as i64;
    let mut clusterer = Clusterer::new(params);
    let mut published: i64 = 1_700_000_000;

    let fill_started = Instant::now();
    for _ in 0..window_items {
        let (title, text) = generate(&templates, &mut rng);
        clusterer.add(published, fingerprint(&title, &text, None));
        published += step_secs;
    }
    let fill = fill_started.elapsed();

    let inputs: Vec<(String, String)> = (0..measured_items).map(|_| generate(&templates, &mut rng)).collect();
    let (mut fingerprinting, mut clustering) = (Duration::ZERO, Duration::ZERO);
    let cpu_before = cpu_time();
    let mut joined = 0usize;
    for (title, text) in &inputs {
        let started = Instant::now();
        let print = fingerprint(title, text, None);
        let fingerprinted = Instant::now();
        let decision = clusterer.add(published, print);
        clustering += fingerprinted.elapsed();
        fingerprinting += fingerprinted - started;
        joined += usize::from(decision.why.is_some());
        published += step_secs;
    }
    let cpu_used = cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let per_item = |total: Duration| total.as_secs_f64() * 1e3 / measured_items.max(1) as f64;
    println!(
        "story clustering, {} items in the window ({} stories)",
        clusterer.window_items(),
        clusterer.window_stories()
    );
    println!(
        "  filling the window: {:.1} s ({:.3} ms/item)",
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1e3 / window_items.max(1) as f64
    );
    println!("  fingerprint:        {:.3} ms/item", per_item(fingerprinting));
    println!("  join decision:      {:.3} ms/item (look-up, comparisons, filing)", per_item(clustering));
    println!(
        "  total:              {:.3} ms/item over {measured_items} items ({joined} joined a story)",
        per_item(fingerprinting + clustering)
    );
    if let Some(cpu) = cpu_used {
        println!("  CPU time:           {:.3} ms/item (fingerprint and join, user + system)", per_item(cpu));
    }
    if let Some(peak) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with("VmHWM:")).map(str::to_string))
    {
        println!("  peak memory:        {}", peak.trim_start_matches("VmHWM:").trim());
    }
    Ok(())
}
