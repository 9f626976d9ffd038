//! newswatch watches news feeds and writes an alert line for every *new* story about a topic.
//!
//! The pipeline: a task per feed ([`poll`]) fetches its feed through the one HTTP client
//! ([`fetch`]), parses it ([`feed`]) and sends every item downstream; [`scrape`] drops items the
//! store has already seen, fetches the article page and extracts its text ([`extract`]);
//! [`classify`] scores the text against every topic; the recorder ([`alert`]) marks the item seen
//! and stores any alert in the outbox in one transaction ([`store`]), then appends it to the JSON
//! Lines log and marks it delivered. [`pipeline`] wires the stages with bounded channels and a
//! cancellation token; [`config`] loads and validates everything before anything starts.

pub mod alert;
pub mod classify;
pub mod cli;
pub mod config;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod model;
pub mod pipeline;
pub mod poll;
pub mod scrape;
pub mod store;
pub mod story;
pub mod text;
