//! Digest bookkeeping for sinks that send several alerts in one message (an e-mail digest):
//! the outbox knows which alerts went into which message. A digest is made (its rows chosen and
//! marked with its id) in one transaction BEFORE it is sent, and marked sent together with its
//! rows' delivery after; a send that fails, or that a crash cuts short, is repeated with exactly
//! the same rows, so the sink can give the repeat the same Message-ID.

use super::{Backend, Pending, Store, StoreError, sqlite};

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
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.unsent_digests(sink).await,
            Backend::Sqlite(db) => db,
        };
        let sink = sink.to_string();
        db.read(move |conn| sqlite::digest::unsent(conn, &sink)).await
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
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.open_digest(sink, before, limit, now).await,
            Backend::Sqlite(db) => db,
        };
        let sink = sink.to_string();
        db.write(move |conn| sqlite::digest::open(conn, &sink, before, limit, now)).await
    }

    /// Marks digest `id` sent and its alerts delivered, in one transaction.
    pub async fn digest_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.digest_sent(id, now).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::digest::sent(conn, id, now)).await
    }

    /// When digest `id` was sent; None when it was not (yet).
    pub async fn digest_sent_at(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.digest_sent_at(id).await,
            Backend::Sqlite(db) => db,
        };
        db.read(move |conn| sqlite::digest::sent_at(conn, id)).await
    }

    /// Forgets digests sent before `before` whose alerts have been pruned from the outbox.
    pub async fn prune_digests(&self, before: i64) -> Result<usize, StoreError> {
        let db = match &self.backend {
            Backend::Postgres(pg) => return pg.prune_digests(before).await,
            Backend::Sqlite(db) => db,
        };
        db.write(move |conn| sqlite::digest::prune(conn, before)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::fresh_stores;
    use crate::store::{ItemRecord, OutboxAlert};

    fn item(key: &str, sink: &str) -> ItemRecord {
        ItemRecord {
            key: key.into(),
            link: None,
            feed: "f".into(),
            verdicts: None,
            alerts: vec![OutboxAlert { alert_id: format!("id-{key}"), sink: sink.into(), body: "{}".into() }],
            commit: None,
            fingerprint: None,
            story_ops: Vec::new(),
        }
    }

    fn ids(digest: &super::Digest) -> Vec<&str> {
        digest.rows.iter().map(|row| row.alert_id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_digest_keeps_its_alerts_until_sent_across_a_restart() {
        for fresh in fresh_stores().await {
            let store = &fresh.store;
            store
                .record_items(vec![item("a", "mail"), item("b", "mail"), item("x", "other")], 100)
                .await
                .unwrap();
            store.record_items(vec![item("c", "mail")], 200).await.unwrap();
            assert_eq!(store.open_digest("mail", 100, 10, 150).await.unwrap(), None, "before 100: none");
            let first = store.open_digest("mail", 150, 10, 150).await.unwrap().unwrap();
            assert_eq!(ids(&first), ["id-a", "id-b"], "only this sink's alerts recorded before 150");
            assert_eq!(store.open_digest("mail", 150, 10, 151).await.unwrap(), None, "a and b are taken");

            // A crash before it was marked sent: the next process finds the same digest.
            let fresh = fresh.reopen().await;
            let store = &fresh.store;
            assert_eq!(store.unsent_digests("mail").await.unwrap(), std::slice::from_ref(&first));
            assert_eq!(store.pending("mail").await.unwrap().len(), 3, "still pending for status");

            store.digest_sent(first.id, 300).await.unwrap();
            assert_eq!(store.digest_sent_at(first.id).await.unwrap(), Some(300));
            assert!(store.unsent_digests("mail").await.unwrap().is_empty());
            let left: Vec<String> =
                store.pending("mail").await.unwrap().into_iter().map(|p| p.alert_id).collect();
            assert_eq!(left, ["id-c"]);

            // The limit splits a long period into several digests, oldest first.
            store.record_items(vec![item("d", "mail"), item("e", "mail")], 250).await.unwrap();
            let second = store.open_digest("mail", i64::MAX, 2, 400).await.unwrap().unwrap();
            let third = store.open_digest("mail", i64::MAX, 2, 400).await.unwrap().unwrap();
            assert_eq!((ids(&second), ids(&third)), (vec!["id-c", "id-d"], vec!["id-e"]));
            assert_eq!(store.unsent_digests("mail").await.unwrap(), [second, third]);

            // Pruned once its alerts are gone from the outbox and it is old enough.
            assert_eq!(store.prune_digests(1000).await.unwrap(), 0, "its rows are still there");
            store.prune_delivered(1000).await.unwrap();
            assert_eq!(store.prune_digests(1000).await.unwrap(), 1);
            assert_eq!(store.digest_sent_at(first.id).await.unwrap(), None);
        }
    }
}
