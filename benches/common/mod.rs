//! Code shared by the benchmarks that include it (`mod common;`).

pub mod material;

/// CPU seconds (user + system) in a `/proc/…/stat` line (Linux, clock ticks of 10 ms).
pub fn stat_cpu_seconds(stat: &str) -> f64 {
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / 100.0
}
