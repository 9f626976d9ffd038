//! Alert sinks: where alerts go once recorded. Delivery is at-least-once from the outbox, made
//! exactly-once per sink by each sink's reconciliation on start-up.

pub mod jsonl;

pub use jsonl::{DeliveryError, JsonlSink};

use crate::error::chain as error_chain;
use crate::store::{Store, blocking};
use chrono::Utc;
use tracing::{debug, error, info, warn};

/// How long delivered outbox rows are kept.
const DELIVERED_RETENTION_SECS: i64 = 30 * 24 * 60 * 60;

/// Delivers what a previous run left pending (after reconciling each sink), and forgets outbox
/// rows delivered long ago.
pub async fn deliver_startup(store: &Store, sinks: &[JsonlSink]) {
    let before = Utc::now().timestamp() - DELIVERED_RETENTION_SECS;
    match blocking(store, move |store| store.prune_delivered(before)).await {
        Ok(0) => {}
        Ok(n) => debug!(rows = n, "pruned old delivered alerts from the outbox"),
        Err(err) => warn!(error = %error_chain(&err), "cannot prune the outbox"),
    }
    for sink in sinks {
        let sink_for_call = sink.clone();
        match blocking(store, move |store| Ok(sink_for_call.reconcile(store))).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                info!(sink = %sink.name, alerts = n, "found alerts already in the log; marked delivered")
            }
            Ok(Err(err)) => {
                warn!(sink = %sink.name, error = %error_chain(&err), "cannot reconcile the alert log")
            }
            Err(err) => {
                warn!(sink = %sink.name, error = %error_chain(&err), "cannot reconcile the alert log")
            }
        }
    }
    deliver_all(store, sinks).await;
}

/// Appends pending alerts to every sink; errors are logged and the alerts stay pending.
pub async fn deliver_all(store: &Store, sinks: &[JsonlSink]) -> bool {
    let mut all_ok = true;
    for sink in sinks {
        let sink_for_call = sink.clone();
        match blocking(store, move |store| Ok(sink_for_call.deliver(store))).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => debug!(sink = %sink.name, alerts = n, "delivered"),
            Ok(Err(err)) => {
                all_ok = false;
                error!(sink = %sink.name, error = %error_chain(&err), "cannot deliver alerts; they stay pending and are retried");
            }
            Err(err) => {
                all_ok = false;
                error!(sink = %sink.name, error = %error_chain(&err), "cannot deliver alerts; they stay pending and are retried");
            }
        }
    }
    all_ok
}
