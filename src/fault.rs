//! Fault injection for tests: named points where `NEWSWATCH_FAULT` makes the process panic or
//! stall. Compiled in only with the `fault-injection` cargo feature, which the test suite turns
//! on (a dev-dependency of the package on itself); in a normal build every point is an empty
//! inline function and the variable is never read.
//!
//! `NEWSWATCH_FAULT` is a comma-separated list of `panic:<point>` and `sleep:<point>=<ms>`. The
//! points: `poll` (a poller, before each fetch), `record` (the recorder, before it records a batch), `deliver-mid-write` and
//! `deliver-before-mark` (the JSON Lines sink: half the lines written; written but not yet
//! marked delivered), `classify` (inside one article's classification, on the CPU pool),
//! `story-update` (the recorder, after committing story updates, before the sinks are woken).

/// A named fault point. With the `fault-injection` feature and `NEWSWATCH_FAULT` naming it,
/// panics or sleeps (blocking the thread: use it where blocking is what is being simulated).
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    for (point, sleep) in faults() {
        if point == name {
            match sleep {
                None => panic!("fault injected at {name}"),
                Some(duration) => std::thread::sleep(*duration),
            }
        }
    }
}

/// Whether `NEWSWATCH_FAULT` names the point `name` (code that must take a slower path for a
/// point to be reachable, such as writing in two parts, asks first).
#[cfg(feature = "fault-injection")]
pub fn armed(name: &str) -> bool {
    faults().iter().any(|(point, _)| point == name)
}

#[cfg(feature = "fault-injection")]
fn faults() -> &'static [(String, Option<std::time::Duration>)] {
    use std::sync::OnceLock;
    use std::time::Duration;
    static FAULTS: OnceLock<Vec<(String, Option<Duration>)>> = OnceLock::new();
    FAULTS.get_or_init(|| {
        let spec = std::env::var("NEWSWATCH_FAULT").unwrap_or_default();
        spec.split(',')
            .filter_map(|fault| {
                let (action, target) = fault.trim().split_once(':')?;
                match action {
                    "panic" => Some((target.to_string(), None)),
                    "sleep" => {
                        let (point, millis) = target.split_once('=')?;
                        Some((point.to_string(), Some(Duration::from_millis(millis.parse().ok()?))))
                    }
                    _ => None,
                }
            })
            .collect()
    })
}

/// A named fault point; without the `fault-injection` feature it does nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Whether a fault point is armed; without the `fault-injection` feature, never.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn armed(_name: &str) -> bool {
    false
}
