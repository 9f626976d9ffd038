//! newswatch watches news feeds and writes an alert line for every *new* story about a topic.
//!
//! The pipeline: a task per feed ([`poll`]) fetches its feed through the one HTTP client
//! ([`fetch`]), parses it ([`feed`]) and sends every unseen item downstream; [`scrape`] fetches
//! the article page and extracts its text ([`extract`]); [`judge`] scores the text against every
//! topic ([`classify`]); the recorder ([`record`]) marks the item seen and queues its alerts
//! ([`alert`]) in the outbox in one transaction ([`store`]), and wakes one delivery task per
//! [`sink`]. CPU work runs on a bounded pool ([`cpu`]). [`pipeline`] wires the stages with bounded
//! channels and supervises them; [`serve`] answers `/healthz` and `/metrics` for the daemon;
//! [`config`] loads and validates everything before anything starts; [`cli`] is everything a
//! person runs and reads.

pub mod alert;
pub mod classify;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod error;
pub mod extract;
pub mod fault;
pub mod feed;
pub mod fetch;
pub mod judge;
pub mod model;
pub mod pipeline;
pub mod poll;
pub mod record;
pub mod scrape;
pub mod serve;
pub mod sink;
pub mod store;
pub mod story;
pub mod text;
pub mod time;

/// The process allocator for the daemon and everything built on this library (its tests and
/// benchmarks measure what ships): jemalloc, configured at build time in `.cargo/config.toml`
/// to purge freed pages within a second from a background thread. glibc's allocator kept
/// freed memory in per-thread arenas: at 10,000 feeds a cold round's peak RSS was 229–246 MiB
/// against ~105 MiB of heap, 174 MiB with this one (README "Memory at 10,000 feeds").
/// The `system-allocator` feature leaves the system's in place, for heap profilers.
#[cfg(all(not(target_env = "msvc"), not(feature = "system-allocator")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
