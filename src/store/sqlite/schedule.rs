//! Queries for the poll schedule columns of `feeds` (migration 0005): kept apart from the other
//! feed queries so the schedule can change without touching them.

use super::super::{FeedSchedule, FetchOutcome, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

/// A feed's stored schedule; None when the feed has never been polled.
pub(in crate::store) fn feed_schedule(
    conn: &Connection,
    name: &str,
) -> Result<Option<FeedSchedule>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT next_poll_at, retry_after_until, poll_interval_ms, feed_hint_secs FROM feeds WHERE name = ?1",
    )?;
    let row = stmt
        .query_row([name], |row| {
            Ok(FeedSchedule {
                next_poll_at: row.get(0)?,
                retry_after_until: row.get(1)?,
                poll_interval_ms: row.get(2)?,
                feed_hint_secs: row.get(3)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Every stored feed's schedule, by feed name (for `feeds list`).
pub(in crate::store) fn feed_schedules(conn: &Connection) -> Result<Vec<(String, FeedSchedule)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, next_poll_at, retry_after_until, poll_interval_ms, feed_hint_secs FROM feeds",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get(0)?,
            FeedSchedule {
                next_poll_at: row.get(1)?,
                retry_after_until: row.get(2)?,
                poll_interval_ms: row.get(3)?,
                feed_hint_secs: row.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores the adaptive interval and the document's hint with a fetch outcome (after
/// `record_fetch` made sure the row exists). An outcome without either changes nothing.
pub(in crate::store) fn record_schedule(conn: &Connection, outcome: &FetchOutcome) -> Result<(), StoreError> {
    if outcome.poll_interval_ms.is_none() && outcome.feed_hint_secs.is_none() {
        return Ok(());
    }
    conn.prepare_cached("UPDATE feeds SET poll_interval_ms = ?2, feed_hint_secs = ?3 WHERE name = ?1")?
        .execute(params![outcome.feed, outcome.poll_interval_ms, outcome.feed_hint_secs])?;
    Ok(())
}
