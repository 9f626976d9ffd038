//! Queries for e-mail digests: which pending alerts of a sink went into which message.

use super::{Connection, pending_from_row};
use crate::store::{Digest, Pending, StoreError};
use rusqlite::{OptionalExtension, params};

/// The digests of `sink` made but not yet sent, oldest first, each with its pending rows.
pub(in crate::store) fn unsent(conn: &Connection, sink: &str) -> Result<Vec<Digest>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, alert_id, body, digest_id FROM outbox
          WHERE sink = ?1 AND delivered_at IS NULL AND digest_id IS NOT NULL
          ORDER BY digest_id, seq",
    )?;
    let rows = stmt.query_map([sink], |row| Ok((row.get::<_, i64>(3)?, pending_from_row(row)?)))?;
    let mut digests: Vec<Digest> = Vec::new();
    for row in rows {
        let (id, pending) = row?;
        match digests.last_mut() {
            Some(digest) if digest.id == id => digest.rows.push(pending),
            _ => digests.push(Digest { id, rows: vec![pending] }),
        }
    }
    Ok(digests)
}

/// Makes a digest of up to `limit` pending rows of `sink` recorded before `before` and not in a
/// digest yet, oldest first; None when there is none. The caller's transaction makes the digest
/// row and the rows' `digest_id` one change.
pub(in crate::store) fn open(
    conn: &Connection,
    sink: &str,
    before: i64,
    limit: usize,
    now: i64,
) -> Result<Option<Digest>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<Pending> = conn
        .prepare_cached(
            "SELECT seq, alert_id, body FROM outbox
              WHERE sink = ?1 AND delivered_at IS NULL AND digest_id IS NULL AND created_at < ?2
              ORDER BY seq LIMIT ?3",
        )?
        .query_map(params![sink, before, limit], pending_from_row)?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(None);
    }
    let id: i64 = conn
        .prepare_cached("INSERT INTO digests (sink, created_at) VALUES (?1, ?2) RETURNING id")?
        .query_row(params![sink, now], |row| row.get(0))?;
    let mut assign = conn.prepare_cached("UPDATE outbox SET digest_id = ?2 WHERE seq = ?1")?;
    for row in &rows {
        assign.execute(params![row.seq, id])?;
    }
    Ok(Some(Digest { id, rows }))
}

/// Marks a digest sent and every row in it delivered.
pub(in crate::store) fn sent(conn: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE digests SET sent_at = ?2 WHERE id = ?1")?.execute(params![id, now])?;
    conn.prepare_cached(
        "UPDATE outbox SET delivered_at = ?2, claimed_at = NULL WHERE digest_id = ?1 AND delivered_at IS NULL",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Deletes digests sent before `before` whose outbox rows are gone (pruned as delivered).
pub(in crate::store) fn prune(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM digests WHERE sent_at IS NOT NULL AND sent_at < ?1
                AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.digest_id = digests.id)",
        )?
        .execute([before])?)
}

/// When digest `id` was sent (None: not yet, or no such digest). For tests and `status`.
pub(in crate::store) fn sent_at(conn: &Connection, id: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT sent_at FROM digests WHERE id = ?1")?
        .query_row([id], |row| row.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}
