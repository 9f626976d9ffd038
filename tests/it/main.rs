//! newswatch's integration tests: one binary, a module per area. Every test starts its own
//! servers on loopback; nothing here reaches the internet or reads `../shared`.

mod cli;
mod crash;
mod durability;
mod hostile;
mod pipeline;
mod safety;
mod story;
mod support;
