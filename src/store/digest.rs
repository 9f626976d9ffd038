//! Digest bookkeeping for sinks that send several alerts in one message (an e-mail digest):
//! the outbox knows which alerts went into which message. A digest is made (its rows chosen and
//! marked with its id) in one transaction BEFORE it is sent, and marked sent together with its
//! rows' delivery after; a send that fails, or that a crash cuts short, is repeated with exactly
//! the same rows, so the sink can give the repeat the same Message-ID.

use super::{Pending, Store, StoreError, sqlite};

/// One digest: its id and its (still undelivered) outbox rows, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub id: i64,
    pub rows: Vec<Pending>,
}

impl Store {
    /// The digests of `sink` made but not sent (a failed send, or a crash mid-send), oldest
    /// first: they are sent again before any new one is made.
    pub async fn unsent_digests(&self, sink: &str) -> Result<Vec<Digest>, StoreError> {
        let sink = sink.to_string();
        self.read(move |conn| sqlite::digest::unsent(conn, &sink)).await
    }

    /// Makes the next digest of `sink`: up to `limit` pending alerts recorded before `before`
    /// (unix seconds) that are in no digest yet, oldest first. None when there is none.
    pub async fn open_digest(
        &self,
        sink: &str,
        before: i64,
        limit: usize,
        now: i64,
    ) -> Result<Option<Digest>, StoreError> {
        let sink = sink.to_string();
        self.write(move |conn| sqlite::digest::open(conn, &sink, before, limit, now)).await
    }

    /// Marks digest `id` sent and its alerts delivered, in one transaction.
    pub async fn digest_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |conn| sqlite::digest::sent(conn, id, now)).await
    }

    /// When digest `id` was sent; None when it was not (yet).
    pub async fn digest_sent_at(&self, id: i64) -> Result<Option<i64>, StoreError> {
        self.read(move |conn| sqlite::digest::sent_at(conn, id)).await
    }

    /// Forgets digests sent before `before` whose alerts have been pruned from the outbox.
    pub async fn prune_digests(&self, before: i64) -> Result<usize, StoreError> {
        self.write(move |conn| sqlite::digest::prune(conn, before)).await
    }
}
