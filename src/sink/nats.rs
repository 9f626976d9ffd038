//! `kind = "nats"`: each alert is published to a NATS JetStream stream as its JSON line, on the
//! subject the template gives for its topic, with `Nats-Msg-Id: <alert id>`. A batch counts as
//! delivered only once JetStream has acknowledged (stored) every alert in it; anything else (a
//! refused connection, a timed-out ack, a missing stream) leaves the whole batch pending for
//! the runner to retry with backoff.
//!
//! Why re-sending is safe: the stream's duplicate window drops a second message with the same
//! `Nats-Msg-Id`, so a batch retried after a lost ack, or pending again after a crash, is
//! stored once. That is also why this sink keeps the default reconciliation (nothing found):
//! re-publishing is cheaper and surer than reading the stream back.
//!
//! The connection is made at the first delivery, not at start-up, so a NATS server that is
//! down never stops the daemon; once made, the client reconnects by itself. The stream is
//! created if missing (file storage, the configured `max_age` and `duplicate_window`); an
//! existing stream whose subjects do not take ours is an error naming both.

use super::{BoxFuture, DeliveryError, Sink};
use crate::config::{NatsConfig, subject_matches};
use crate::error::chain;
use crate::store::Pending;
use async_nats::jetstream::{self, ErrorCode, context::GetStreamErrorKind, stream};
use tokio::sync::Mutex;
use tracing::{debug, info};

/// Publishes alerts to one JetStream stream.
#[derive(Debug)]
pub struct NatsSink {
    name: String,
    config: NatsConfig,
    /// The JetStream context once connected and the stream checked. A failed publish clears
    /// it, so the next attempt checks the stream again (it may have been deleted meanwhile).
    ready: Mutex<Option<jetstream::Context>>,
}

/// The one field of an alert line this sink needs.
#[derive(serde::Deserialize)]
struct TopicOf {
    topic: String,
}

impl NatsSink {
    /// A sink that connects at its first delivery.
    pub fn new(name: String, config: NatsConfig) -> NatsSink {
        // rustls needs a process-wide crypto provider for tls:// URLs; a second install is a
        // harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        NatsSink { name, config, ready: Mutex::new(None) }
    }

    /// A JetStream context whose stream exists and takes our subjects.
    async fn context(&self) -> Result<jetstream::Context, DeliveryError> {
        let mut ready = self.ready.lock().await;
        if let Some(context) = ready.as_ref() {
            return Ok(context.clone());
        }
        let server = self.server();
        let client = async_nats::ConnectOptions::new()
            .name("newswatch")
            .connection_timeout(self.config.timeout)
            .connect(self.config.url.as_str())
            .await
            .map_err(|err| {
                DeliveryError::Rejected(format!("cannot connect to NATS at {server}: {}", chain(&err)))
            })?;
        let context = jetstream::ContextBuilder::new().timeout(self.config.timeout).build(client);
        self.ensure_stream(&context).await?;
        *ready = Some(context.clone());
        Ok(context)
    }

    /// Creates the stream if missing; checks an existing one takes our subjects and brings
    /// its retention in line with the configuration.
    async fn ensure_stream(&self, context: &jetstream::Context) -> Result<(), DeliveryError> {
        let name = &self.config.stream;
        let wanted = self.config.stream_subject();
        let failed = |what: &str, err: &dyn std::error::Error| {
            DeliveryError::Rejected(format!(
                "cannot {what} JetStream stream {name} on {}: {}",
                self.server(),
                chain(err)
            ))
        };
        let mut existing = match context.get_stream(name).await {
            Ok(existing) => existing,
            Err(err) => match err.kind() {
                GetStreamErrorKind::JetStream(inner) if inner.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                    let config = stream::Config {
                        name: name.clone(),
                        subjects: vec![wanted.clone()],
                        max_age: self.config.max_age,
                        duplicate_window: self.config.duplicate_window,
                        storage: stream::StorageType::File,
                        description: Some("newswatch alerts, one JSON line each".to_string()),
                        ..Default::default()
                    };
                    context.create_stream(config).await.map_err(|err| failed("create", &err))?;
                    info!(sink = %self.name, stream = %name, subjects = %wanted, "created the JetStream stream");
                    return Ok(());
                }
                _ => return Err(failed("look up", &err)),
            },
        };
        let mut config = existing.info().await.map_err(|err| failed("read", &err))?.config.clone();
        // Our subject pattern holds only whole-token `*`s: a filter that matches it as a
        // literal subject takes every concrete subject it stands for.
        if !config.subjects.iter().any(|filter| subject_matches(filter, &wanted)) {
            return Err(DeliveryError::Rejected(format!(
                "JetStream stream {name} exists with subjects {:?}, none of which takes {wanted}: add {wanted} to it, or set another `stream` for this sink",
                config.subjects
            )));
        }
        if config.max_age != self.config.max_age || config.duplicate_window != self.config.duplicate_window {
            config.max_age = self.config.max_age;
            config.duplicate_window = self.config.duplicate_window;
            context.update_stream(config).await.map_err(|err| failed("update the retention of", &err))?;
            info!(sink = %self.name, stream = %name, "updated the stream's max_age and duplicate_window");
        }
        Ok(())
    }

    /// The server as `host:port`, for messages (never the whole URL).
    fn server(&self) -> String {
        let host = self.config.url.host_str().unwrap_or("-");
        match self.config.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    async fn publish(&self, batch: &[Pending]) -> Result<(), DeliveryError> {
        let context = self.context().await?;
        // Send the whole batch, then await the acks: one round trip of latency per batch, not
        // per alert. The server stores messages of one connection in the order sent.
        let mut acks = Vec::with_capacity(batch.len());
        for row in batch {
            let topic: TopicOf = serde_json::from_str(&row.body)
                .map_err(|err| DeliveryError::Rejected(format!("a stored alert is not valid JSON: {err}")))?;
            let subject = self.config.subject_for(&topic.topic);
            let message = jetstream::message::PublishMessage::build()
                .payload(row.body.clone().into())
                .message_id(&row.alert_id);
            let ack = context.send_publish(subject, message).await.map_err(|err| {
                DeliveryError::Rejected(format!(
                    "cannot publish to NATS at {}: {}",
                    self.server(),
                    chain(&err)
                ))
            })?;
            acks.push(ack);
        }
        let mut duplicates = 0;
        for ack in acks {
            let ack = ack.await.map_err(|err| {
                DeliveryError::Rejected(format!(
                    "JetStream on {} did not acknowledge an alert: {}",
                    self.server(),
                    chain(&err)
                ))
            })?;
            duplicates += usize::from(ack.duplicate);
        }
        if duplicates > 0 {
            debug!(sink = %self.name, duplicates, "JetStream already had some of these alerts");
        }
        Ok(())
    }
}

impl Sink for NatsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, batch: &'a [Pending]) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let result = self.publish(batch).await;
            if result.is_err() {
                // Check the stream again on the next attempt; the client itself reconnects.
                *self.ready.lock().await = None;
            }
            result
        })
    }
}
