//! Extraction speed on the benchmark pages, and the cost of hostile pages through the guard.
//!
//! `cargo bench --bench extract [-- DIR]`, DIR defaulting to `../shared/datasets/extraction/html`
//! (`*.html.gz` or `*.html` files). Prints pages/s on one core for the whole `article()` call and
//! for its parse alone, then the time `article()` takes on generated hostile pages. On Linux it
//! also prints pages per CPU-second of the benchmark thread, which other processes sharing the
//! core do not skew.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use newswatch::extract;

const ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .map_or_else(|| PathBuf::from("../shared/datasets/extraction/html"), PathBuf::from);
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".html") || path.to_string_lossy().ends_with(".html.gz") {
            pages.push(newswatch::cli::tools::read_page(&path)?);
        }
    }
    anyhow::ensure!(!pages.is_empty(), "no pages in {}", dir.display());
    let total_bytes: usize = pages.iter().map(Vec::len).sum();
    println!("{} pages, {:.1} MB, from {}", pages.len(), total_bytes as f64 / 1e6, dir.display());

    // Warm up caches and the allocator.
    for page in &pages {
        let _ = extract::article(page, None, None);
    }
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    for _ in 0..ROUNDS {
        for page in &pages {
            let one = Instant::now();
            let _ = std::hint::black_box(extract::article(page, None, None));
            worst = worst.max(one.elapsed());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_time().zip(cpu_started).map(|(end, start)| (end - start).as_secs_f64());
    let runs = (ROUNDS * pages.len()) as f64;
    println!(
        "article():        {:7.1} pages/s  {:6.1} MB/s  mean {:.2} ms  worst {:.2} ms",
        runs / elapsed,
        (ROUNDS * total_bytes) as f64 / elapsed / 1e6,
        elapsed / runs * 1e3,
        worst.as_secs_f64() * 1e3
    );
    if let Some(cpu) = cpu {
        // On a shared machine the wall clock also counts time other processes held the core.
        println!("article():        {:7.1} pages per CPU-second of this thread", runs / cpu);
    }

    let cut = pages
        .iter()
        .filter(|page| extract::article(page, None, None).is_ok_and(|article| article.truncated.is_some()))
        .count();
    let (mut max_depth, mut max_work) = (0, 0);
    for page in &pages {
        let (_, _, depth, work) = extract::guard_check(&extract::decode_html(page, None).0);
        max_depth = max_depth.max(depth);
        max_work = max_work.max(work);
    }
    println!(
        "pages cut by the structural guard: {cut}; deepest simulated nesting {max_depth}, most work {max_work}"
    );

    let texts: Vec<String> = pages.iter().map(|page| extract::decode_html(page, None).0).collect();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        for text in &texts {
            std::hint::black_box(scraper::Html::parse_document(text));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("html5ever parse:  {:7.1} pages/s (whole pages, no guard)", runs / elapsed);

    println!("hostile pages through article() (guard + parse of the safe prefix):");
    for (name, page) in hostile_pages() {
        let guard_started = Instant::now();
        let (safe_len, ..) = extract::guard_check(&page);
        let guard_ms = guard_started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let result = extract::article(page.as_bytes(), None, None);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(article) => format!("ok, truncated: {}", article.truncated.as_deref().unwrap_or("no")),
            Err(err) => err.to_string(),
        };
        println!(
            "  {name:42} {:>9} bytes {:8.2} ms (guard {guard_ms:6.2} ms, {safe_len:>8} bytes parsed)  {outcome}",
            page.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// Time this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), if available.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// The hostile shapes of `RELIABILITY.md` §1.6 plus variations aimed at the guard's simulation.
fn hostile_pages() -> Vec<(&'static str, String)> {
    let article = "<p>The council approved the budget after a long debate about schools and roads.</p>";
    let attributes: String = (0..80_000).map(|index| format!(" a{index}=x")).collect();
    vec![
        ("16k nested div", "<div>".repeat(16_000)),
        ("1M nested div (5 MB)", "<div>".repeat(1_000_000)),
        ("article then 16k nested div", format!("{}{}", article.repeat(20), "<div>".repeat(16_000))),
        ("one tag, 80k attributes", format!("<div{attributes}>x</div>")),
        ("200k <b><i><a><font> then <p>", format!("{}<p>x", "<b><i><a><font>".repeat(200_000))),
        ("100k nested table/tr/td", "<table><tr><td>".repeat(100_000)),
        ("50k <p><b class=N>x</p>", (0..50_000).map(|index| format!("<p><b class=c{index}>x</p>")).collect()),
        ("50k <b><div>x</b>", "<b><div>x</b>".repeat(50_000)),
        ("50k <span><div>x</span>", "<span><div>x</span>".repeat(50_000)),
        (
            "500 deep x 10k tags (depth-limited width)",
            format!("{}{}", "<div>".repeat(500), "<span>x</span>".repeat(10_000)),
        ),
        ("500 deep x 200k tags", format!("{}{}", "<div>".repeat(500), "<i></i>".repeat(200_000))),
        ("svg then 100k nested div", format!("<svg><style>{}", "<div>".repeat(100_000))),
        (
            "1000 attrs x 3000 tags",
            format!("<i{}>x</i>", (0..1000).map(|i| format!(" a{i}=x")).collect::<String>()).repeat(3000),
        ),
        ("4 MB of paragraphs", article.repeat((4 << 20) / article.len())),
        // Shapes aimed at the content step's section, teaser and sentence rules.
        (
            "article then 60k teaser cards",
            format!(
                "{}{}",
                article.repeat(20),
                "<div class=c><a href=/x>Teaser</a><p>Summary text.</p></div>".repeat(60_000)
            ),
        ),
        (
            "30k 'Related' headings and paragraphs",
            "<h3>Related stories</h3><p>The council approved the budget after a long debate.</p>"
                .repeat(30_000),
        ),
        (
            "paragraphs of 400 nested classed spans",
            format!("<p>{}{}</p>", "<span class=meta>word ".repeat(400), "x").repeat(300),
        ),
    ]
}
