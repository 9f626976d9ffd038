//! The poll schedule's rules, as pure functions of what a poll observed (no I/O, no clock): the
//! adaptive interval, server hints, the per-feed phase and jitter. `poll.rs` applies them and
//! stores the result; README "Scheduling" states the same rules for users.
//!
//! 1. **Adaptive interval** ([`adapt`]). Each feed keeps an interval, starting at its configured
//!    `interval`. After a poll that found no new item (a 304, or a 200 with nothing new) it grows
//!    by half ([`GROWTH`]); after one new item it stays; after `n ≥ 2` new items (they piled up
//!    between polls) it is divided by `n`, at most by [`MAX_SHRINK`]. A feed's first poll says
//!    nothing about its rate (every item is new), so the count is skipped then. When the
//!    response's items carry dates, their typical spacing `G` (the median gap between the newest
//!    [`SPACING_SAMPLE`] distinct dates) pulls the result halfway towards it on a log scale:
//!    `interval = sqrt(interval × G)`. The result always stays within `min_interval..=max_interval`.
//! 2. **Hints** ([`with_hints`]): `<ttl>`, `<sy:updatePeriod>`/`<sy:updateFrequency>`,
//!    `Cache-Control: max-age` and `Expires` only ever lengthen the wait, and never beyond
//!    `max_interval`; they do not change the adaptive interval itself. `Retry-After` (on 429/503)
//!    is a failure's business and may exceed `max_interval` (see `poll::backoff`).
//! 3. **Spread**: every wait gets ±[`JITTER`] (never outside the bounds), and a feed that was
//!    never polled, or is overdue when the daemon starts, first waits a stable share of
//!    [`FIRST_POLL_WINDOW`] (or of its interval, when shorter) given by a hash of its name
//!    ([`phase`]): a fresh install fetches everything within seconds, yet same-host feeds start
//!    apart and stay apart, and a restart resumes each feed's stored due time.

use crate::config::FeedConfig;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A feed never polled (or overdue at start-up) is first polled within this window, or within
/// its interval when that is shorter: prompt for a new user, yet not every request at once.
pub const FIRST_POLL_WINDOW: Duration = Duration::from_secs(10);
/// Each wait is scaled by a random factor in `1 ± JITTER`, so feeds with equal intervals drift
/// apart instead of settling into lockstep.
pub const JITTER: f64 = 0.05;
/// A quiet poll (no new item) multiplies the interval by this.
pub const GROWTH: f64 = 1.5;
/// The most a busy poll divides the interval by.
pub const MAX_SHRINK: u32 = 4;
/// How many of a response's newest dated items estimate its publishing rhythm.
pub const SPACING_SAMPLE: usize = 20;

/// A feed's `min_interval..=max_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

impl Bounds {
    /// The bounds configured for `feed`.
    pub fn of(feed: &FeedConfig) -> Bounds {
        Bounds { min: feed.min_interval, max: feed.max_interval.max(feed.min_interval) }
    }

    /// `wait` moved into the bounds.
    pub fn clamp(&self, wait: Duration) -> Duration {
        wait.clamp(self.min, self.max)
    }
}

/// What one successful poll saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Items not seen before (0 for a 304).
    pub new_items: usize,
    /// The feed's first poll: every item is "new", so the count means nothing.
    pub first_poll: bool,
    /// The typical gap between the response's item dates ([`item_spacing`]).
    pub spacing: Option<Duration>,
}

/// The next adaptive interval (rule 1 of the module doc).
pub fn adapt(current: Duration, observation: &Observation, bounds: Bounds) -> Duration {
    let current = bounds.clamp(current);
    let by_count = match observation.new_items {
        _ if observation.first_poll => current,
        0 => crate::time::scaled(current, GROWTH),
        1 => current,
        n => current / u32::try_from(n).unwrap_or(u32::MAX).min(MAX_SHRINK),
    };
    let adapted = match observation.spacing {
        // The geometric mean: halfway on a log scale, so one odd response cannot swing it far.
        Some(spacing) => {
            Duration::try_from_secs_f64((by_count.as_secs_f64() * bounds.clamp(spacing).as_secs_f64()).sqrt())
                .unwrap_or(by_count)
        }
        None => by_count,
    };
    bounds.clamp(adapted)
}

/// The median gap between the newest [`SPACING_SAMPLE`] distinct dates, or None with fewer than
/// three distinct dates (two gaps). Identical dates (a feed stamping every item with its build
/// time) say nothing about the rhythm and count once.
pub fn item_spacing(dates: impl IntoIterator<Item = DateTime<Utc>>) -> Option<Duration> {
    let mut seconds: Vec<i64> = dates.into_iter().map(|date| date.timestamp()).collect();
    seconds.sort_unstable_by(|a, b| b.cmp(a));
    seconds.dedup();
    seconds.truncate(SPACING_SAMPLE);
    if seconds.len() < 3 {
        return None;
    }
    let mut gaps: Vec<u64> = seconds.windows(2).map(|pair| pair[0].abs_diff(pair[1])).collect();
    gaps.sort_unstable();
    Some(Duration::from_secs(gaps[gaps.len() / 2]))
}

/// The wait after a poll: the adaptive `interval`, lengthened by the longest of `hints` (each
/// capped at `max_interval`), within the bounds (rule 2). Also says which won, for the log.
pub fn with_hints(
    interval: Duration,
    hints: &[Option<Duration>],
    bounds: Bounds,
) -> (Duration, &'static str) {
    let interval = bounds.clamp(interval);
    match hints.iter().flatten().max() {
        Some(&hint) if hint > interval => (bounds.clamp(hint), "hint"),
        _ => (interval, "adaptive"),
    }
}

/// `wait` scaled by a random factor in `1 ± JITTER`, kept within the bounds.
pub fn jittered(wait: Duration, bounds: Bounds) -> Duration {
    jittered_by(wait, bounds, fastrand::f64())
}

/// [`jittered`] with the random draw `unit` in `0..1` given (tests).
fn jittered_by(wait: Duration, bounds: Bounds, unit: f64) -> Duration {
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit;
    bounds.clamp(crate::time::scaled(wait, factor))
}

/// A feed's stable phase in `0..1`, from its name: the same on every start and every machine,
/// and unrelated between feeds of one host. FNV-1a, then MurmurHash3's finaliser: FNV alone
/// leaves the high bits of names that differ only at the end ("site-1", "site-2") nearly equal.
pub fn phase(feed_name: &str) -> f64 {
    let mut hash = feed_name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    // The top 53 bits fill an f64's mantissa exactly.
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// How long a feed that is due now (never polled, or overdue at start-up) waits before its
/// first poll: its [`phase`] of [`FIRST_POLL_WINDOW`] or of its interval, whichever is shorter.
pub fn first_poll_delay(feed_name: &str, interval: Duration) -> Duration {
    crate::time::scaled(FIRST_POLL_WINDOW.min(interval), phase(feed_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn bounds(min: u64, max: u64) -> Bounds {
        Bounds { min: secs(min), max: secs(max) }
    }

    fn polled(new_items: usize) -> Observation {
        Observation { new_items, first_poll: false, spacing: None }
    }

    #[test]
    fn a_quiet_feed_slows_down_to_its_max_and_no_further() {
        let bounds = bounds(60, 3600);
        let mut interval = secs(600);
        let mut seen = vec![interval];
        for _ in 0..10 {
            interval = adapt(interval, &polled(0), bounds);
            seen.push(interval);
        }
        assert_eq!(seen[1], secs(900));
        assert_eq!(seen[2], secs(1350));
        assert!(seen.windows(2).all(|pair| pair[1] >= pair[0]), "{seen:?}");
        assert_eq!(interval, secs(3600), "capped at max_interval");
    }

    #[test]
    fn a_busy_feed_speeds_up_to_its_min_and_no_further() {
        let bounds = bounds(60, 3600);
        assert_eq!(adapt(secs(600), &polled(2), bounds), secs(300));
        assert_eq!(adapt(secs(600), &polled(3), bounds), secs(200));
        assert_eq!(adapt(secs(600), &polled(40), bounds), secs(150), "at most a quarter per poll");
        let mut interval = secs(600);
        for _ in 0..5 {
            interval = adapt(interval, &polled(5), bounds);
        }
        assert_eq!(interval, secs(60), "floored at min_interval");
    }

    #[test]
    fn one_new_item_per_poll_is_the_right_pace() {
        assert_eq!(adapt(secs(600), &polled(1), bounds(60, 3600)), secs(600));
    }

    #[test]
    fn the_first_poll_counts_nothing_but_dates_still_speak() {
        let bounds = bounds(60, 14_400);
        let first = Observation { new_items: 50, first_poll: true, spacing: None };
        assert_eq!(adapt(secs(600), &first, bounds), secs(600));
        // Items an hour apart pull a 10-minute interval halfway (log scale) towards an hour.
        let hourly = Observation { spacing: Some(secs(3600)), ..first };
        assert_eq!(adapt(secs(600), &hourly, bounds).as_secs(), 1469);
        // Spacing outside the bounds counts as the bound.
        let daily = Observation { spacing: Some(secs(86_400)), ..first };
        assert_eq!(adapt(secs(14_400), &daily, bounds), secs(14_400));
    }

    #[test]
    fn a_stored_interval_outside_new_bounds_is_brought_back() {
        assert_eq!(adapt(secs(10), &polled(1), bounds(60, 3600)), secs(60));
        assert_eq!(adapt(secs(99_999), &polled(1), bounds(60, 3600)), secs(3600));
    }

    #[test]
    fn spacing_is_the_median_gap_of_distinct_dates() {
        let at = |minutes: i64| DateTime::from_timestamp(1_700_000_000 - minutes * 60, 0).unwrap();
        assert_eq!(item_spacing([at(0), at(10), at(20), at(200)]), Some(secs(600)));
        assert_eq!(item_spacing([at(0), at(0), at(0), at(30)]), None, "one build time is no rhythm");
        assert_eq!(item_spacing([at(0), at(30)]), None);
        assert_eq!(item_spacing([]), None);
        // Only the newest SPACING_SAMPLE dates count: old history at another pace is ignored.
        let recent = (0..SPACING_SAMPLE as i64).map(|n| at(n * 5));
        let old = (0..100).map(|n| at(10_000 + n * 1440));
        assert_eq!(item_spacing(recent.chain(old)), Some(secs(300)));
    }

    #[test]
    fn hints_only_lengthen_and_never_beyond_max() {
        let bounds = bounds(60, 7200);
        assert_eq!(with_hints(secs(600), &[None, None], bounds), (secs(600), "adaptive"));
        assert_eq!(with_hints(secs(600), &[Some(secs(1800)), None], bounds), (secs(1800), "hint"));
        assert_eq!(with_hints(secs(600), &[Some(secs(1800)), Some(secs(3600))], bounds).0, secs(3600));
        assert_eq!(with_hints(secs(600), &[Some(secs(86_400))], bounds).0, secs(7200), "capped");
        assert_eq!(with_hints(secs(600), &[Some(secs(5))], bounds), (secs(600), "adaptive"), "never sooner");
    }

    #[test]
    fn jitter_stays_near_the_wait_and_within_bounds() {
        let bounds = bounds(60, 3600);
        assert_eq!(jittered_by(secs(1000), bounds, 0.0), secs(950));
        assert_eq!(jittered_by(secs(1000), bounds, 0.5), secs(1000));
        assert_eq!(jittered_by(secs(3600), bounds, 0.99), secs(3600), "never beyond max_interval");
        assert_eq!(jittered_by(secs(60), bounds, 0.0), secs(60), "never below min_interval");
        for _ in 0..100 {
            let wait = jittered(secs(1000), bounds);
            assert!((950..=1050).contains(&wait.as_secs()), "{wait:?}");
        }
    }

    #[test]
    fn phases_are_stable_and_spread_over_the_window() {
        assert_eq!(phase("reuters-world"), phase("reuters-world"));
        let phases: Vec<f64> = (0..1000).map(|n| phase(&format!("feed{n}"))).collect();
        assert!(phases.iter().all(|p| (0.0..1.0).contains(p)));
        // Every tenth of the window gets a fair share of 1,000 feeds (expected 100 each).
        for decile in 0..10 {
            let count = phases.iter().filter(|p| (**p * 10.0) as usize == decile).count();
            assert!((50..=150).contains(&count), "decile {decile}: {count}");
        }
        assert!(first_poll_delay("feed1", secs(600)) < FIRST_POLL_WINDOW);
        assert!(first_poll_delay("feed1", secs(2)) < secs(2), "a short interval bounds the window");
    }
}
