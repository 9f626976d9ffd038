//! The story window in the store (issues 12 and 15): a store holding `ITEMS` clustered items
//! (default 100,000) published within the window, each with its stored fingerprint and lookup
//! keys, as the recorder writes them. Then, timed separately:
//! - start-up: reading the newest `MAX_RESTORED_ITEMS` back (`Store::story_window`) and
//!   rebuilding the book from their stored fingerprints (`StoryBook::restore`);
//! - clustering `MEASURED` new items (default 2,000) in the recorder's batches of 64 with that
//!   restored book: per batch the look-up of older items through the store's key table
//!   (`record::offer_stored_candidates`: two indexed reads) and the join decisions, against the
//!   same items clustered by a book holding the whole window in memory.
//!
//! `cargo bench --bench story_restore [-- ITEMS MEASURED]`
//!
//! Items are the labelled story fixtures (`tests/fixtures/stories/items.jsonl`) with about a
//! third of their words replaced from a 50,000-word Zipf vocabulary, as `benches/story.rs` makes
//! them: distinct items that share the vocabulary of one topic.

use newswatch::config::StoriesConfig;
use newswatch::model::{Article, Classified, Entry, Item, PollBatch, TextSource};
use newswatch::record::offer_stored_candidates;
use newswatch::record::stories::{MAX_RESTORED_ITEMS, StoryBook};
use newswatch::store::{ItemRecord, Store, StoryOp};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

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

fn generate(templates: &[(String, String)], rng: &mut Rng) -> (String, String) {
    let (title, text) = &templates[(rng.next() % templates.len() as u64) as usize];
    let mut mutate = |source: &str| {
        source
            .split_whitespace()
            .map(|word| {
                if rng.next().is_multiple_of(3) { synthetic_word(rng.zipf(50_000)) } else { word.to_string() }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (mutate(title), mutate(text))
}

fn message(number: usize, title: &str, text: &str, published: i64) -> Classified {
    let link = url::Url::parse(&format!("https://outlet-{}.example/{number}", number % 50)).unwrap();
    let entry = Entry {
        key: format!("id:bench-{number}"),
        link: Some(link.clone()),
        title: title.to_string(),
        summary: String::new(),
        published: chrono::DateTime::from_timestamp(published, 0),
        updated: None,
        authors: Vec::new(),
    };
    let item = Item {
        feed: Arc::from("bench"),
        feed_url: Arc::new(url::Url::parse("http://feeds.example/rss").unwrap()),
        entry,
        baseline_only: false,
        scrape: false,
        batch: Arc::new(PollBatch::new(1, newswatch::store::FeedCommit::default())),
    };
    let fingerprint = newswatch::story::fingerprint(title, text, Some(link.as_str()));
    let article =
        Article { item, title: title.to_string(), body: text.to_string(), source: TextSource::Page };
    Classified { article, verdicts: Vec::new(), fingerprint: Some(fingerprint) }
}

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let items = numbers.first().copied().unwrap_or(100_000);
    let measured = numbers.get(1).copied().unwrap_or(2_000);
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stories/items.jsonl");
    let templates: Vec<(String, String)> = std::fs::read_to_string(fixtures)
        .expect("fixtures")
        .lines()
        .map(|line| {
            let item: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let field = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            (field("title"), field("text"))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now().timestamp();
    // Spread over 60 hours ending an hour ago: nothing leaves the 72-hour window meanwhile.
    let start = now - 61 * 3600;
    let step = (60 * 3600 / (items + measured).max(1) as i64).max(1);
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let mut whole = StoryBook::new(StoriesConfig::default());
    let started = Instant::now();
    runtime.block_on(async {
        let mut batch = Vec::new();
        for number in 0..items {
            let (title, text) = generate(&templates, &mut rng);
            let message = message(number, &title, &text, start + number as i64 * step);
            let plan = whole.plan(&message, Vec::new(), now).expect("a fingerprint");
            batch.push(ItemRecord {
                key: message.article.item.entry.key.clone(),
                feed: "bench".into(),
                story_ops: plan.ops,
                ..ItemRecord::default()
            });
            if batch.len() == 1000 {
                store.record_items(std::mem::take(&mut batch), now).await.unwrap();
            }
        }
        store.record_items(batch, now).await.unwrap();
    });
    println!(
        "story window in the store: {items} items (clustered and recorded in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    drop(store);
    let db_bytes =
        std::fs::metadata(dir.path().join(newswatch::store::DB_FILE)).map(|meta| meta.len()).unwrap_or(0)
            + std::fs::metadata(dir.path().join("newswatch.db-wal")).map(|meta| meta.len()).unwrap_or(0);
    println!("  database: {:.0} bytes per window item (all tables)", db_bytes as f64 / items as f64);

    let open_started = Instant::now();
    let store = Store::open(dir.path()).unwrap();
    let opened = open_started.elapsed();
    let read_started = Instant::now();
    let window = runtime.block_on(store.story_window(now - 72 * 3600, MAX_RESTORED_ITEMS)).unwrap();
    let read = read_started.elapsed();
    let rebuild_started = Instant::now();
    let mut book = StoryBook::restore(StoriesConfig::default(), window);
    let rebuild = rebuild_started.elapsed();
    println!("start-up with {items} items in the window (restoring the newest {MAX_RESTORED_ITEMS}):");
    println!("  store open:    {:.1} ms", opened.as_secs_f64() * 1e3);
    println!("  read window:   {:.1} ms", read.as_secs_f64() * 1e3);
    println!("  rebuild book:  {:.1} ms ({} items held)", rebuild.as_secs_f64() * 1e3, book.sizes().1);
    println!("  total:         {:.1} ms", (opened + read + rebuild).as_secs_f64() * 1e3);

    let new_items: Vec<Classified> = (items..items + measured)
        .map(|number| {
            let (title, text) = generate(&templates, &mut rng);
            message(number, &title, &text, start + number as i64 * step)
        })
        .collect();
    let join = |row: &StoryOp| match row {
        StoryOp::Item(row) => (row.story.clone(), row.why.clone()),
        _ => (String::new(), None),
    };
    let (mut stored_time, mut memory_time) = (Duration::ZERO, Duration::ZERO);
    let (mut same, mut joined_stored, mut joined_memory) = (0usize, 0usize, 0usize);
    for chunk in new_items.chunks(64) {
        let started = Instant::now();
        let fresh = vec![true; chunk.len()];
        runtime.block_on(offer_stored_candidates(&store, &mut book, chunk, &fresh, now)).unwrap();
        let stored_plans: Vec<_> =
            chunk.iter().map(|message| book.plan(message, Vec::new(), now).unwrap()).collect();
        book.clear_stored();
        stored_time += started.elapsed();
        let started = Instant::now();
        let memory_plans: Vec<_> =
            chunk.iter().map(|message| whole.plan(message, Vec::new(), now).unwrap()).collect();
        memory_time += started.elapsed();
        for (stored, memory) in stored_plans.iter().zip(&memory_plans) {
            let (stored, memory) = (join(&stored.ops[0]), join(&memory.ops[0]));
            joined_stored += usize::from(stored.1.is_some());
            joined_memory += usize::from(memory.1.is_some());
            same += usize::from(stored == memory);
        }
    }
    let per_item = |total: Duration| total.as_secs_f64() * 1e3 / measured.max(1) as f64;
    println!("clustering {measured} new items, batches of 64:");
    println!(
        "  restored book + store look-ups: {:.3} ms/item ({joined_stored} joined; {} items held after)",
        per_item(stored_time),
        book.sizes().1
    );
    println!(
        "  whole window in memory:         {:.3} ms/item ({joined_memory} joined)",
        per_item(memory_time)
    );
    println!("  same story and reason in both:  {same} of {measured}");
}
