//! The story tables' queries (migration 0007), next to `sqlite.rs`: the only other file that
//! knows rusqlite.

use super::StoryOp;
use super::sqlite::Connection;
use super::stories::*;
use super::{OutboxAlert, StoreError};
use rusqlite::{OptionalExtension, params};

/// Applies story changes in order (inside the caller's transaction).
pub(super) fn apply(conn: &Connection, ops: &[StoryOp], now: i64) -> rusqlite::Result<()> {
    for op in ops {
        match op {
            StoryOp::Item(row) => file_item(conn, row, now)?,
            StoryOp::AlertState { story, topic, first_alert_id, last_alert_at, sequence } => {
                conn.prepare_cached(
                    "INSERT INTO story_alerts (story, topic, first_alert_id, last_alert_at, sequence)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(story, topic) DO UPDATE SET
                        last_alert_at = excluded.last_alert_at, sequence = excluded.sequence",
                )?
                .execute(params![story, topic, first_alert_id, last_alert_at, sequence])?;
            }
            StoryOp::Pending { story, topic, item_key, body } => {
                conn.prepare_cached(
                    "INSERT INTO story_pending (story, topic, item_key, recorded_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![story, topic, item_key, now, body])?;
            }
            StoryOp::ClearPending { story, topic } => {
                conn.prepare_cached("DELETE FROM story_pending WHERE story = ?1 AND topic = ?2")?
                    .execute(params![story, topic])?;
            }
        }
    }
    Ok(())
}

fn file_item(conn: &Connection, row: &StoryItemRow, now: i64) -> rusqlite::Result<()> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO story_items (item_key, story, published, recorded_at, why, similarity, matched,
                                      feed, outlet, title, url, topics, text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            row.item_key,
            row.story,
            row.published,
            now,
            row.why,
            row.similarity,
            row.matched,
            row.feed,
            row.outlet,
            row.title,
            row.url,
            row.topics.join(" "),
            row.text
        ])?;
    if inserted == 0 {
        return Ok(());
    }
    if !row.print.is_empty() {
        conn.prepare_cached(
            "INSERT INTO story_prints (slot, item_key, story_slot, published, print) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![row.slot, row.item_key, row.story_slot, row.published, row.print])?;
        let mut insert_key = conn.prepare_cached("INSERT INTO story_keys (key, slot) VALUES (?1, ?2)")?;
        for key in &row.keys {
            // SQLite integers are signed: the key's bits are stored as they are.
            insert_key.execute(params![*key as i64, row.slot])?;
        }
    }
    let new_outlet = conn
        .prepare_cached("INSERT INTO story_outlets (story, outlet) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![row.story, row.outlet])?;
    conn.prepare_cached(
        "INSERT INTO stories (id, first_item, title, started_at, last_item_at, items, outlets)
         VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)
         ON CONFLICT(id) DO UPDATE SET items = items + 1, outlets = outlets + ?5,
            last_item_at = MAX(last_item_at, excluded.last_item_at),
            started_at = MIN(started_at, excluded.started_at)",
    )?
    .execute(params![row.story, row.item_key, row.title, row.published, new_outlet as i64])?;
    Ok(())
}

/// Writes update alerts and their story changes (the recorder's timer).
pub(super) fn record_updates(
    conn: &Connection,
    alerts: &[OutboxAlert],
    ops: &[StoryOp],
    now: i64,
) -> Result<(), StoreError> {
    let mut insert_alert = conn.prepare_cached(
        "INSERT INTO outbox (alert_id, sink, body, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    for alert in alerts {
        insert_alert.execute(params![alert.alert_id, alert.sink, alert.body, now])?;
    }
    apply(conn, ops, now)?;
    Ok(())
}

/// The newest `limit` items published at or after `since` (returned oldest first), the stories
/// they belong to, every alert state of those stories, and every pending newcomer.
pub(super) fn load_window(conn: &Connection, since: i64, limit: usize) -> Result<StoryWindow, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let total: i64 =
        conn.query_row("SELECT COUNT(*) FROM story_items WHERE published >= ?1", [since], |row| row.get(0))?;
    let window_item = |row: &rusqlite::Row<'_>| {
        Ok(WindowItem {
            item_key: row.get(0)?,
            story: row.get(1)?,
            published: row.get(2)?,
            outlet: row.get(3)?,
            title: row.get(4)?,
            url: row.get(5)?,
            text: row.get(6)?,
            slot: row.get(7)?,
            story_slot: row.get(8)?,
            print: row.get(9)?,
        })
    };
    // The newest recorded items with a stored fingerprint, walking the slots down from the
    // newest: a read of what is returned, whatever the size of the window.
    let mut items: Vec<WindowItem> = conn
        .prepare(
            "SELECT i.item_key, i.story, p.published, i.outlet, i.title, i.url, '', p.slot, p.story_slot, p.print
               FROM story_prints p JOIN story_items i ON i.item_key = p.item_key
              WHERE p.published >= ?1 ORDER BY p.slot DESC LIMIT ?2",
        )?
        .query_map(params![since, limit], window_item)?
        .collect::<Result<_, _>>()?;
    // Items recorded before schema 8 have their text instead (a partial index finds them).
    let room = limit - items.len() as i64;
    if room > 0 {
        let legacy: Vec<WindowItem> = conn
            .prepare(
                "SELECT item_key, story, published, outlet, title, url, text, NULL, NULL, NULL
                   FROM story_items INDEXED BY story_items_text
                  WHERE text <> '' AND published >= ?1 ORDER BY published DESC LIMIT ?2",
            )?
            .query_map(params![since, room], window_item)?
            .collect::<Result<_, _>>()?;
        items.extend(legacy);
    }
    items.sort_by_key(|item| std::cmp::Reverse((item.published, item.slot)));
    items.reverse();
    let next_slot: i64 =
        conn.query_row("SELECT COALESCE(MAX(slot), -1) + 1 FROM story_prints", [], |row| row.get(0))?;
    let restored: std::collections::HashSet<i64> = items.iter().filter_map(|item| item.slot).collect();
    let mut head_print = conn.prepare_cached("SELECT print FROM story_prints WHERE slot = ?1")?;
    let mut heads = Vec::new();
    let mut wanted: Vec<i64> =
        items.iter().filter_map(|item| item.story_slot).filter(|slot| !restored.contains(slot)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    for slot in wanted {
        if let Some(print) = head_print.query_row([slot], |row| row.get(0)).optional()? {
            heads.push((slot, print));
        }
    }
    // The stories of the restored items and of the pending newcomers; an older story is read
    // with its first item that becomes a candidate (`prints`).
    let mut wanted: Vec<&str> = items.iter().map(|item| item.story.as_str()).collect();
    let pending_stories: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT story FROM story_pending")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    wanted.extend(pending_stories.iter().map(String::as_str));
    wanted.sort_unstable();
    wanted.dedup();
    let mut stories = Vec::with_capacity(wanted.len());
    let mut alerts = Vec::new();
    for id in wanted {
        if let Some((summary, states)) = story_state(conn, id)? {
            stories.push(summary);
            alerts.extend(states);
        }
    }
    let pending = conn
        .prepare("SELECT story, topic, item_key, recorded_at, body FROM story_pending ORDER BY recorded_at, item_key")?
        .query_map([], |row| {
            Ok(PendingNewcomer {
                story: row.get(0)?,
                topic: row.get(1)?,
                item_key: row.get(2)?,
                recorded_at: row.get(3)?,
                body: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(StoryWindow {
        items_left_out: (total - items.len() as i64).max(0),
        items,
        next_slot,
        heads,
        stories,
        alerts,
        pending,
    })
}

/// A story's counts and outlets, and its alert state per topic (None: no such story).
fn story_state(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(StorySummary, Vec<StoryAlertState>)>> {
    let summary = conn
        .prepare_cached("SELECT id, title, items, last_item_at FROM stories WHERE id = ?1")?
        .query_row([id], |row| {
            Ok(StorySummary {
                id: row.get(0)?,
                title: row.get(1)?,
                items: row.get(2)?,
                outlets: Vec::new(),
                last_item_at: row.get(3)?,
            })
        })
        .optional()?;
    let Some(mut summary) = summary else { return Ok(None) };
    summary.outlets = conn
        .prepare_cached("SELECT outlet FROM story_outlets WHERE story = ?1 ORDER BY outlet")?
        .query_map([id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let states = conn
        .prepare_cached(
            "SELECT story, topic, first_alert_id, last_alert_at, sequence FROM story_alerts WHERE story = ?1",
        )?
        .query_map([id], |row| {
            Ok(StoryAlertState {
                story: row.get(0)?,
                topic: row.get(1)?,
                first_alert_id: row.get(2)?,
                last_alert_at: row.get(3)?,
                sequence: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some((summary, states)))
}

/// For each key, the slots below `below_slot` filed under it, newest first, at most `per_key`
/// (keys with none are left out).
pub(super) fn candidates(
    conn: &Connection,
    keys: &[u64],
    below_slot: i64,
    per_key: usize,
) -> Result<Vec<(u64, Vec<i64>)>, StoreError> {
    let per_key = i64::try_from(per_key).unwrap_or(i64::MAX);
    let mut lookup = conn.prepare_cached(
        "SELECT slot FROM story_keys WHERE key = ?1 AND slot < ?2 ORDER BY slot DESC LIMIT ?3",
    )?;
    let mut out = Vec::new();
    for key in keys {
        let slots: Vec<i64> = lookup
            .query_map(params![*key as i64, below_slot, per_key], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if !slots.is_empty() {
            out.push((*key, slots));
        }
    }
    Ok(out)
}

/// The stored fingerprints of `slots` published at or after `since`, each with its story's id
/// and, when the story started with another item still stored, that item's fingerprint.
pub(super) fn prints(conn: &Connection, slots: &[i64], since: i64) -> Result<Vec<StoredPrint>, StoreError> {
    let mut lookup = conn.prepare_cached(
        "SELECT p.slot, p.story_slot, p.published, p.item_key, i.story, p.print
           FROM story_prints p JOIN story_items i ON i.item_key = p.item_key
          WHERE p.slot = ?1 AND p.published >= ?2",
    )?;
    let mut head_print = conn.prepare_cached("SELECT print FROM story_prints WHERE slot = ?1")?;
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        let found = lookup
            .query_row(params![slot, since], |row| {
                Ok(StoredPrint {
                    slot: row.get(0)?,
                    story_slot: row.get(1)?,
                    published: row.get(2)?,
                    item_key: row.get(3)?,
                    story: row.get(4)?,
                    print: row.get(5)?,
                    head: None,
                    state: None,
                })
            })
            .optional()?;
        let Some(mut found) = found else { continue };
        if found.story_slot != found.slot {
            found.head = head_print.query_row([found.story_slot], |row| row.get(0)).optional()?;
        }
        found.state = story_state(conn, &found.story)?;
        out.push(found);
    }
    Ok(out)
}

/// Empties the text of items published before `text_before` (they left the window) and deletes
/// every row of stories whose last item was published before `drop_before` and that have no
/// pending newcomer. Returns the number of stories deleted.
pub(super) fn prune(conn: &Connection, text_before: i64, drop_before: i64) -> Result<usize, StoreError> {
    conn.prepare_cached("UPDATE story_items SET text = '' WHERE published < ?1 AND text <> ''")?
        .execute([text_before])?;
    // Fingerprints and keys below the first slot still in the window: a prefix of each table
    // (an item that arrived late, published long before, leaves with its neighbours).
    let first_kept: Option<i64> = conn
        .prepare_cached("SELECT slot FROM story_prints WHERE published >= ?1 ORDER BY slot LIMIT 1")?
        .query_row([text_before], |row| row.get(0))
        .optional()?;
    let first_kept = match first_kept {
        Some(slot) => slot,
        None => conn
            .prepare_cached("SELECT COALESCE(MAX(slot), -1) + 1 FROM story_prints")?
            .query_row([], |row| row.get(0))?,
    };
    conn.prepare_cached("DELETE FROM story_prints WHERE slot < ?1")?.execute([first_kept])?;
    conn.prepare_cached(
        "DELETE FROM story_keys WHERE rowid < COALESCE(
            (SELECT rowid FROM story_keys WHERE slot >= ?1 ORDER BY rowid LIMIT 1),
            (SELECT COALESCE(MAX(rowid), 0) + 1 FROM story_keys))",
    )?
    .execute([first_kept])?;
    let old =
        "SELECT id FROM stories WHERE last_item_at < ?1 AND id NOT IN (SELECT story FROM story_pending)";
    for table in ["story_items", "story_outlets", "story_alerts"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE story IN ({old})"))?
            .execute([drop_before])?;
    }
    Ok(conn.prepare_cached(&format!("DELETE FROM stories WHERE id IN ({old})"))?.execute([drop_before])?)
}

/// Stories with an item recorded at or after `since`, newest first, at most `limit`, only
/// those a topic alerted on when `topic` is given; each with its items, oldest first.
pub(super) fn stories_since(
    conn: &Connection,
    since: i64,
    topic: Option<&str>,
    limit: usize,
) -> Result<Vec<StoryView>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut views: Vec<StoryView> = conn
        .prepare(
            "SELECT s.id, s.title, s.started_at, s.last_item_at, s.items, s.outlets FROM stories s
              WHERE s.id IN (SELECT story FROM story_items WHERE recorded_at >= ?1)
                AND (?2 IS NULL OR s.id IN (SELECT story FROM story_alerts WHERE topic = ?2))
              ORDER BY s.last_item_at DESC, s.id LIMIT ?3",
        )?
        .query_map(params![since, topic, limit], |row| {
            Ok(StoryView {
                id: row.get(0)?,
                title: row.get(1)?,
                started_at: row.get(2)?,
                last_item_at: row.get(3)?,
                items: row.get(4)?,
                outlets: row.get(5)?,
                alerts: Vec::new(),
                members: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut members = conn.prepare_cached(
        "SELECT item_key, published, recorded_at, why, similarity, matched, feed, outlet, title, url, topics
           FROM story_items WHERE story = ?1 ORDER BY published, rowid",
    )?;
    let mut alerts =
        conn.prepare_cached("SELECT topic, sequence FROM story_alerts WHERE story = ?1 ORDER BY topic")?;
    for view in &mut views {
        view.members = members
            .query_map([&view.id], |row| {
                let topics: String = row.get(10)?;
                Ok(StoryMember {
                    key: row.get(0)?,
                    published: row.get(1)?,
                    recorded_at: row.get(2)?,
                    why: row.get(3)?,
                    similarity: row.get(4)?,
                    matched: row.get(5)?,
                    feed: row.get(6)?,
                    outlet: row.get(7)?,
                    title: row.get(8)?,
                    url: row.get(9)?,
                    topics: topics.split_whitespace().map(str::to_string).collect(),
                })
            })?
            .collect::<Result<_, _>>()?;
        view.alerts =
            alerts.query_map([&view.id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
    }
    Ok(views)
}
