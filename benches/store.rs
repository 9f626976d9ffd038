//! Store at scale: builds a state database of N seen items through the store's own API (keys,
//! links, fingerprints and verdicts shaped like a news feed's), then prints the start-up time
//! (`Store::open`: lock, cheap check, migrations, threads) at several sizes, the database bytes
//! per seen item (indexes included), the time of the full `check-store` integrity check, and of
//! the `PRAGMA quick_check` start-up used to run, for comparison.
//!
//! `cargo bench --bench store [-- SEEN_ITEMS]` (default 1,000,000).

use newswatch::store::{DB_FILE, ItemRecord, Store};
use std::path::Path;
use std::time::Instant;

/// Items per write call while building the database.
const BUILD_BATCH: usize = 5_000;

fn record(n: usize) -> ItemRecord {
    let feed = n % 1_000;
    ItemRecord {
        key: format!(
            "https://www.news-{}.example.com/world/2026/11/{:02}/story-slug-{n:08}/",
            feed % 50,
            n % 28 + 1
        ),
        link: Some(format!(
            "https://www.news-{}.example.com/world/2026/11/{:02}/story-slug-{n:08}/",
            feed % 50,
            n % 28 + 1
        )),
        feed: format!("feed-{feed:04}"),
        verdicts: Some(format!(
            "[{{\"matched\":false,\"score\":0.{:04},\"topic\":\"us-russia-talks\"}}]",
            n % 9_999
        )),
        fingerprint: Some(format!(
            "{:032x}",
            (n as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
        )),
        ..ItemRecord::default()
    }
}

fn db_bytes(state_dir: &Path) -> u64 {
    ["newswatch.db", "newswatch.db-wal"]
        .iter()
        .filter_map(|file| std::fs::metadata(state_dir.join(file)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// The median of five opens (each a restart: the store is closed before the next).
fn open_time(state_dir: &Path) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let store = Store::open(state_dir).expect("the store opens");
            let seconds = started.elapsed().as_secs_f64();
            drop(store);
            seconds
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    let target: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    drop(Store::open(&state_dir).unwrap());
    println!("store start-up, empty database: {:.1} ms", open_time(&state_dir) * 1e3);
    let mut built = 0;
    let started = Instant::now();
    for checkpoint in [10_000, 100_000, target].into_iter().filter(|&size| size < target).chain([target]) {
        let store = Store::open(&state_dir).unwrap();
        runtime.block_on(async {
            while built < checkpoint {
                let end = (built + BUILD_BATCH).min(checkpoint);
                store.record_items((built..end).map(record).collect(), 1_764_000_000).await.unwrap();
                built = end;
            }
        });
        drop(store);
        // The WAL folded into the file, as a long-running daemon's checkpoints leave it.
        let conn = rusqlite::Connection::open(state_dir.join(DB_FILE)).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        drop(conn);
        println!(
            "store at {built} seen items (built in {:.0} s so far): start-up {:.1} ms, {:.0} database bytes per seen item",
            started.elapsed().as_secs_f64(),
            open_time(&state_dir) * 1e3,
            db_bytes(&state_dir) as f64 / built as f64
        );
    }
    let conn = rusqlite::Connection::open(state_dir.join(DB_FILE)).unwrap();
    let tables: Vec<(String, i64)> = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .and_then(|mut stmt| stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .unwrap_or_default();
    for (name, bytes) in tables {
        println!("store bytes per seen item in {name}: {:.0}", bytes as f64 / built as f64);
    }
    let started = Instant::now();
    let _: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).unwrap();
    println!(
        "store PRAGMA quick_check (the old start-up check) at {built} items: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(conn);
    let started = Instant::now();
    let problems = Store::check_integrity(&state_dir).unwrap().unwrap();
    println!(
        "store check-store (full integrity check) at {built} items: {:.0} ms, {} problems",
        started.elapsed().as_secs_f64() * 1e3,
        problems.len()
    );
}
