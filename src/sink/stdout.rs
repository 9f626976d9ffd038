//! `kind = "stdout"`: one JSON line per alert on standard output, for systemd's journal and
//! pipes (`newswatch run | jq …`). Logs go to stderr, so the two never mix.

use super::{BoxFuture, DeliveryError, Sink};
use crate::store::Pending;
use std::io::Write;

/// Writes alert lines to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    pub name: String,
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            let written =
                batch.iter().try_for_each(|row| writeln!(out, "{}", row.body)).and_then(|()| out.flush());
            written.map_err(|source| DeliveryError::Io { path: "<stdout>".into(), source })
        })
    }
}
