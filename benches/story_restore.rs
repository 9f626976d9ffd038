//! Start-up cost of the story window: a store holding `ITEMS` clustered items (default 50,000,
//! the restore cap `record::stories::MAX_RESTORED_ITEMS`) published within the window, then
//! the two steps of the recorder's start-up timed separately: reading the window back
//! (`Store::story_window`) and rebuilding the book (`StoryBook::restore`: one fingerprint and
//! one filing per item, on one core).
//!
//! `cargo bench --bench story_restore [-- ITEMS]`
//!
//! Items are the labelled story fixtures (`tests/fixtures/stories/items.jsonl`), cycled, each
//! copy with its own key, link and a numbered word so that copies are distinct items.

use newswatch::config::StoriesConfig;
use newswatch::record::stories::StoryBook;
use newswatch::store::{ItemRecord, Store, StoryItemRow, StoryOp};
use std::time::Instant;

fn main() {
    let items: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(50_000);
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stories/items.jsonl");
    let source: Vec<(String, String)> = std::fs::read_to_string(fixtures)
        .expect("fixtures")
        .lines()
        .map(|line| {
            let item: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                item["title"].as_str().unwrap_or_default().to_string(),
                item["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    runtime.block_on(async {
        let mut batch = Vec::new();
        for number in 0..items {
            let (title, text) = &source[number % source.len()];
            let key = format!("id:bench-{number}");
            let row = StoryItemRow {
                item_key: key.clone(),
                story: format!("story-{}", number / 3),
                published: now - 3600 + (number as i64 * 3600 / items as i64),
                feed: "bench".into(),
                outlet: format!("outlet-{}.example", number % 50),
                title: format!("{title} {number}"),
                url: Some(format!("https://outlet-{}.example/{number}", number % 50)),
                text: format!("{text} copy {number}"),
                ..StoryItemRow::default()
            };
            batch.push(ItemRecord {
                key,
                feed: "bench".into(),
                story_ops: vec![StoryOp::Item(row)],
                ..ItemRecord::default()
            });
            if batch.len() == 1000 {
                store.record_items(std::mem::take(&mut batch), now).await.unwrap();
            }
        }
        store.record_items(batch, now).await.unwrap();
    });
    println!(
        "story restore with {items} items in the window (filled in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let read_started = Instant::now();
    let window = runtime.block_on(store.story_window(now - 72 * 3600, items)).unwrap();
    let read = read_started.elapsed();
    assert_eq!(window.items.len(), items);
    let rebuild_started = Instant::now();
    let book = StoryBook::restore(StoriesConfig::default(), window);
    let rebuild = rebuild_started.elapsed();
    let (stories, in_window) = book.sizes();
    println!(
        "  read window:   {:.2} s ({:.3} ms/item)",
        read.as_secs_f64(),
        read.as_secs_f64() * 1000.0 / items as f64
    );
    println!(
        "  rebuild book:  {:.2} s ({:.3} ms/item; {stories} stories, {in_window} items)",
        rebuild.as_secs_f64(),
        rebuild.as_secs_f64() * 1000.0 / items as f64
    );
    println!("  start-up total: {:.2} s", (read + rebuild).as_secs_f64());
}
