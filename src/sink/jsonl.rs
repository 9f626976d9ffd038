//! The JSON Lines sink: appends alerts to a file with `fsync`, repairs a torn last line on
//! start-up and recognises alerts a crash left written but unmarked; and its reader.

use crate::alert::Alert;
use crate::config::SinkConfig;
use crate::store::{Store, StoreError};
use chrono::Utc;
use serde::Deserialize;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tracing::{error, warn};

/// How much of the end of an alert log is read to reconcile it with the outbox on start-up.
const RECONCILE_TAIL_BYTES: u64 = 8 * 1024 * 1024;

/// A JSON Lines file sink.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    pub name: String,
    pub path: PathBuf,
}

impl JsonlSink {
    pub fn from_config(config: &SinkConfig) -> JsonlSink {
        match config {
            SinkConfig::Jsonl { path } => JsonlSink { name: config.name(), path: path.clone() },
        }
    }

    /// Makes the file consistent with the outbox after a crash: cuts a torn last line and marks
    /// delivered the pending rows whose ids are already in the file. Returns how many were.
    pub fn reconcile(&self, store: &Store) -> Result<usize, DeliveryError> {
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if !self.path.exists() {
            return Ok(0);
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&self.path).map_err(io_err)?;
        let length = file.metadata().map_err(io_err)?.len();
        let start = length.saturating_sub(RECONCILE_TAIL_BYTES);
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let mut tail = Vec::with_capacity((length - start) as usize);
        // Read no more than the file's length says: a device (say /dev/full, or a FIFO put there
        // by mistake) would otherwise never end.
        (&mut file).take(length - start).read_to_end(&mut tail).map_err(io_err)?;
        if let Some(last_newline) = tail.iter().rposition(|&b| b == b'\n') {
            if last_newline + 1 != tail.len() {
                let keep = start + last_newline as u64 + 1;
                warn!(path = %self.path.display(), cut_bytes = length - keep, "alert log ended in a torn line; cut it");
                file.set_len(keep).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                tail.truncate(last_newline + 1);
            }
        } else if start == 0 && !tail.is_empty() {
            warn!(path = %self.path.display(), "alert log held only a torn line; cut it");
            file.set_len(0).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            tail.clear();
        }
        let ids: HashSet<String> = tail
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<IdOnly>(line).ok())
            .map(|line| line.id)
            .collect();
        let pending = store.pending(&self.name)?;
        let already: Vec<i64> =
            pending.iter().filter(|row| ids.contains(&row.alert_id)).map(|row| row.seq).collect();
        if !already.is_empty() {
            store.mark_delivered(&already, Utc::now().timestamp())?;
        }
        Ok(already.len())
    }

    /// Appends every pending alert and marks them delivered. On a write error the file is cut
    /// back to where it was, so no torn line stays behind, and the alerts stay pending.
    pub fn deliver(&self, store: &Store) -> Result<usize, DeliveryError> {
        let pending = store.pending(&self.name)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if let Some(parent) = self.path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io_err)?;
        let before = file.metadata().map_err(io_err)?.len();
        let mut lines = Vec::new();
        for row in &pending {
            lines.extend_from_slice(row.body.as_bytes());
            lines.push(b'\n');
        }
        // Written in two parts only so that crash tests can kill the process between them.
        let (first, rest) = lines.split_at(lines.len() / 2);
        let written = file.write_all(first).and_then(|()| {
            crate::fault::point("deliver-mid-write");
            file.write_all(rest)
        });
        if let Err(source) = written.and_then(|()| file.sync_data()) {
            cut_back(&file, before);
            return Err(io_err(source));
        }
        crate::fault::point("deliver-before-mark");
        let seqs: Vec<i64> = pending.iter().map(|row| row.seq).collect();
        store.mark_delivered(&seqs, Utc::now().timestamp())?;
        Ok(pending.len())
    }
}

fn cut_back(file: &File, length: u64) {
    if let Err(err) = file.set_len(length).and_then(|()| file.sync_data()) {
        error!(error = %err, "cannot cut the alert log back after a failed write; the next start repairs it");
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Why alerts could not be delivered (they stay pending).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot write alert log {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads an alert log: every well-formed line, oldest first (torn or foreign lines skipped).
pub fn read_log(path: &Path) -> std::io::Result<Vec<Alert>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ItemRecord, OutboxAlert};

    #[test]
    fn reconcile_cuts_a_torn_line_and_skips_what_is_already_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        let sink = JsonlSink { name: "s".into(), path: dir.path().join("alerts.jsonl") };
        let record = |key: &str, id: &str| ItemRecord {
            key: key.into(),
            feed: "f".into(),
            alerts: vec![OutboxAlert {
                alert_id: id.into(),
                sink: "s".into(),
                body: format!("{{\"id\":\"{id}\"}}"),
            }],
            ..ItemRecord::default()
        };
        store.record_items(&[record("k1", "a1"), record("k2", "a2")], 1).unwrap();
        // A crash after a1 was written but before it was marked, in the middle of writing a2.
        std::fs::write(&sink.path, "{\"id\":\"a1\"}\n{\"id\":\"a2").unwrap();
        assert_eq!(sink.reconcile(&store).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n");
        assert_eq!(sink.deliver(&store).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n{\"id\":\"a2\"}\n");
        assert_eq!(sink.deliver(&store).unwrap(), 0);
    }
}
