//! Saturating time arithmetic. Every sum or difference of a wall-clock time and a configured or
//! server-sent duration goes through here, so no input can make a poller panic on overflow or
//! wrap a far-future time into the past.

use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// Whole seconds of `span` as an `i64`, saturating at `i64::MAX`.
pub fn secs_i64(span: Duration) -> i64 {
    i64::try_from(span.as_secs()).unwrap_or(i64::MAX)
}

/// Unix seconds `span` after `now`, saturating instead of wrapping.
pub fn unix_after(now: i64, span: Duration) -> i64 {
    now.saturating_add(secs_i64(span))
}

/// The time `span` before `now`, or the earliest representable time when that is further back
/// than chrono can state.
pub fn before(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|delta| now.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `base` scaled by `factor` (a jitter factor near 1), or `base` itself if the product cannot be
/// represented.
pub fn scaled(base: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        assert_eq!(unix_after(1_700_000_000, Duration::MAX), i64::MAX);
        assert_eq!(unix_after(i64::MAX - 1, Duration::from_secs(10)), i64::MAX);
        assert_eq!(unix_after(100, Duration::from_secs(10)), 110);
        assert_eq!(secs_i64(Duration::from_secs(u64::MAX)), i64::MAX);
    }

    #[test]
    fn differences_clamp_to_the_earliest_time() {
        let now = Utc::now();
        assert_eq!(before(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
        // 300,000 years: representable as a Duration, not as a chrono date difference.
        let huge = Duration::from_secs(300_000 * 365 * 86_400);
        assert_eq!(before(now, huge), DateTime::<Utc>::MIN_UTC);
        assert_eq!(before(now, Duration::from_secs(60)), now - TimeDelta::seconds(60));
    }

    #[test]
    fn scaling_never_panics() {
        assert_eq!(scaled(Duration::MAX, 1.1), Duration::MAX);
        assert_eq!(scaled(Duration::from_secs(10), 0.5), Duration::from_secs(5));
    }
}
