//! Code shared by the benchmarks that include it (`mod common;`).

pub mod material;
