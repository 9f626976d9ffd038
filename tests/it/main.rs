//! newswatch's integration tests: one binary, a module per area. Every test starts its own
//! servers on loopback; nothing here reaches the internet or reads `../shared`.

mod bounds;
mod cli;
mod crash;
mod durability;
mod email;
mod feeds;
mod hostile;
mod layering;
mod metrics;
mod nats;
mod pg;
mod pg_stories;
mod pipeline;
mod safety;
mod schedule;
mod sink_crash;
mod sinks;
mod smtp;
mod story;
mod story_alerts;
mod supervision;
mod support;
