//! The JSON Lines sink: appends alerts to a file with `fsync`, repairs a torn last line on
//! start-up and recognises alerts a crash left written but unmarked, rotates the file daily or
//! by size (keeping `keep` old ones as `<path>.1` … `<path>.N`); and its reader.
//!
//! Rotation happens only at the start of a delivery, after the previous one was marked
//! delivered, so start-up reconciliation always finds an unmarked alert in the current file.

use super::{BoxFuture, DeliveryError, Sink};
use crate::alert::Alert;
use crate::store::Pending;
use serde::Deserialize;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tracing::{error, warn};

/// How much of the end of an alert log is read to reconcile it with the outbox on start-up.
const RECONCILE_TAIL_BYTES: u64 = 8 * 1024 * 1024;

/// A JSON Lines file sink: one alert per line, appended and `fsync`ed.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    pub name: String,
    pub path: PathBuf,
    pub rotation: crate::config::Rotation,
}

impl JsonlSink {
    /// Makes the file consistent with the outbox after a crash: cuts a torn last line and
    /// returns the rows of `pending` whose ids are already in the file.
    fn reconcile_file(&self, pending: &[Pending]) -> Result<Vec<i64>, DeliveryError> {
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if !self.path.exists() {
            return Ok(Vec::new());
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
        Ok(pending.iter().filter(|row| ids.contains(&row.alert_id)).map(|row| row.seq).collect())
    }

    /// Appends the lines. On a write error the file is cut back to where it was, so no torn
    /// line stays behind.
    fn append(&self, batch: &[Pending]) -> Result<(), DeliveryError> {
        let io_err = |source| DeliveryError::Io { path: self.path.clone(), source };
        if let Some(parent) = self.path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut lines = Vec::new();
        for row in batch {
            lines.extend_from_slice(row.body.as_bytes());
            lines.push(b'\n');
        }
        self.rotate_if_due(lines.len() as u64).map_err(io_err)?;
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io_err)?;
        let before = file.metadata().map_err(io_err)?.len();
        // One write, so that a reader following the log (`tail -f`) is not handed the first
        // half of a batch; in two parts only when a crash test kills the process between them.
        let written = if crate::fault::armed("deliver-mid-write") {
            let (first, rest) = lines.split_at(lines.len() / 2);
            file.write_all(first).and_then(|()| {
                crate::fault::point("deliver-mid-write");
                file.write_all(rest)
            })
        } else {
            file.write_all(&lines)
        };
        if let Err(source) = written.and_then(|()| file.sync_data()) {
            cut_back(&file, before);
            return Err(io_err(source));
        }
        crate::fault::point("deliver-before-mark");
        Ok(())
    }
}

impl JsonlSink {
    /// Rotates the file when its rotation is due before `incoming` more bytes are written.
    fn rotate_if_due(&self, incoming: u64) -> std::io::Result<()> {
        use crate::config::RotateEvery;
        let Some(every) = self.rotation.every else { return Ok(()) };
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.len() > 0 => meta,
            _ => return Ok(()), // nothing to rotate yet
        };
        let due = match every {
            RotateEvery::Bytes(limit) => meta.len().saturating_add(incoming) > limit,
            RotateEvery::Daily => meta.modified().is_ok_and(|modified| {
                let written: chrono::DateTime<chrono::Utc> = modified.into();
                written.date_naive() < chrono::Utc::now().date_naive()
            }),
        };
        if !due {
            return Ok(());
        }
        let numbered = |n: usize| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        match std::fs::remove_file(numbered(self.rotation.keep)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        for n in (1..self.rotation.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        tracing::info!(path = %self.path.display(), "rotated the alert log");
        Ok(())
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn reconcile<'a>(&'a self, pending: &'a [Pending]) -> BoxFuture<'a, Result<Vec<i64>, DeliveryError>> {
        let (this, pending) = (self.clone(), pending.to_vec());
        // File I/O with fsync: off the runtime, one call at a time per sink.
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.reconcile_file(&pending))
                .await
                .unwrap_or_else(|join_error| Err(DeliveryError::Crashed(join_error.to_string())))
        })
    }

    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>> {
        let (this, batch) = (self.clone(), batch.to_vec());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.append(&batch))
                .await
                .unwrap_or_else(|join_error| Err(DeliveryError::Crashed(join_error.to_string())))
        })
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
    use crate::store::{ItemRecord, OutboxAlert, Store};

    #[tokio::test]
    async fn reconcile_cuts_a_torn_line_and_skips_what_is_already_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        let sink = JsonlSink {
            name: "s".into(),
            path: dir.path().join("alerts.jsonl"),
            rotation: Default::default(),
        };
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
        store.record_items(vec![record("k1", "a1"), record("k2", "a2")], 1).await.unwrap();
        // A crash after a1 was written but before it was marked, in the middle of writing a2.
        std::fs::write(&sink.path, "{\"id\":\"a1\"}\n{\"id\":\"a2").unwrap();
        let pending = store.pending("s").await.unwrap();
        let already = sink.reconcile(&pending).await.unwrap();
        assert_eq!(already, [pending[0].seq]);
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n");
        sink.deliver(&pending[1..]).await.unwrap();
        assert_eq!(std::fs::read_to_string(&sink.path).unwrap(), "{\"id\":\"a1\"}\n{\"id\":\"a2\"}\n");
    }

    #[tokio::test]
    async fn a_failed_write_leaves_no_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let sink = JsonlSink { name: "s".into(), path, rotation: Default::default() };
        let batch = [Pending { seq: 1, alert_id: "a".into(), body: "{\"id\":\"a\"}".into() }];
        let err = sink.deliver(&batch).await.unwrap_err();
        assert!(err.to_string().contains("cannot write alert log"), "{err}");
    }

    #[test]
    fn a_log_past_its_size_is_rotated_and_only_keep_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let rotation =
            crate::config::Rotation { every: Some(crate::config::RotateEvery::Bytes(1000)), keep: 2 };
        let sink = JsonlSink { name: "s".into(), path: path.clone(), rotation };
        let row = |n: i64| Pending {
            seq: n,
            alert_id: format!("a{n}"),
            body: format!("{{\"id\":\"a{n}\",\"pad\":\"{}\"}}", "x".repeat(600)),
        };
        for n in 1..=4 {
            sink.append(&[row(n)]).unwrap();
        }
        let ids = |file: &Path| std::fs::read_to_string(file).unwrap().lines().count();
        assert_eq!(ids(&path), 1, "each ~620-byte line pushes the 1000-byte file over: rotated before it");
        assert!(dir.path().join("alerts.jsonl.1").exists() && dir.path().join("alerts.jsonl.2").exists());
        assert!(!dir.path().join("alerts.jsonl.3").exists(), "keep = 2");
        let newest_rotated = std::fs::read_to_string(dir.path().join("alerts.jsonl.1")).unwrap();
        assert!(newest_rotated.contains("\"a3\""), "{newest_rotated}");
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"a4\""));
    }
}
