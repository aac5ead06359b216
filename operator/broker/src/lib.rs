//! HyperFleet's event transport. The Sentinel publishes one CloudEvent per decision; every
//! adapter's subscription receives every event (fan-out), and consumers sharing a subscription
//! compete for them. One [`Broker`] trait, three backends that pass one scenario suite:
//! [`memory`] (in-process, for local runs and tests), [`rabbitmq`] (lapin) and GCP Pub/Sub.
//!
//! Guarantees, where the reference library had holes: publishes are confirmed by the broker; a
//! handler's [`Outcome::Retry`] redelivers with backoff up to the subscription's delivery limit,
//! then dead-letters; malformed messages are dead-lettered, never crash a consumer; subscriptions
//! can be declared before any consumer runs so nothing published meanwhile is lost; closing a
//! consumer waits for in-flight handlers.
#![warn(missing_docs)]

pub mod config;
mod consumer;
pub mod event;
pub mod memory;
pub mod metrics;
pub mod pubsub;
pub mod rabbitmq;

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
pub use cloudevents::Event;

pub use config::{BrokerConfig, ConfigError, connect};
pub use consumer::Consumer;
pub use metrics::BrokerMetrics;

/// What a handler decided about a delivery (also the `outcome` label of the consumed metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Done; remove the message.
    Ack,
    /// Failed transiently; deliver again later (until the delivery limit, then dead-letter).
    Retry,
    /// Can never succeed; dead-letter it now.
    Reject,
}

/// One delivery of an event.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// 1 on first delivery, then 2, 3, ...
    pub attempt: u32,
}

/// Processes deliveries. Closures `Fn(Delivery) -> impl Future<Output = Outcome>` are handlers.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery.
    async fn handle(&self, delivery: Delivery) -> Outcome;
}

#[async_trait]
impl<F, Fut> Handler for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    async fn handle(&self, delivery: Delivery) -> Outcome {
        self(delivery).await
    }
}

/// A named subscription to a topic: every subscription gets every event; consumers of the same
/// subscription share them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Topic the events are published to.
    pub topic: String,
    /// Subscription name (e.g. the adapter's name).
    pub name: String,
    /// Handlers running at once in one consumer.
    pub concurrency: usize,
    /// Deliveries before a message that keeps failing is dead-lettered.
    pub max_deliveries: u32,
}

impl Subscription {
    /// A subscription with concurrency 1 and 5 deliveries before dead-lettering.
    pub fn new(topic: impl Into<String>, name: impl Into<String>) -> Self {
        Self { topic: topic.into(), name: name.into(), concurrency: 1, max_deliveries: 5 }
    }

    /// Sets the handler concurrency (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets the delivery limit (at least 1).
    pub fn with_max_deliveries(mut self, max_deliveries: u32) -> Self {
        self.max_deliveries = max_deliveries.max(1);
        self
    }
}

/// The cause of a broker error, as the client library gave it.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker cannot be reached (yet); retry later.
    #[error("broker unavailable: {what}")]
    Unavailable {
        /// What could not be done.
        what: String,
        /// The client's error, when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// The broker refused a publish (negative confirm).
    #[error("broker did not confirm the publish to '{topic}'")]
    NotConfirmed {
        /// Topic published to.
        topic: String,
    },
    /// The broker answered with an error.
    #[error("broker operation '{operation}' failed")]
    Operation {
        /// What was attempted.
        operation: &'static str,
        /// The broker's answer.
        #[source]
        source: Cause,
    },
    /// An event could not be encoded.
    #[error("cannot encode event")]
    Encode(#[source] serde_json::Error),
    /// The broker was closed.
    #[error("broker closed")]
    Closed,
}

impl BrokerError {
    /// Unavailable, for a reason of our own.
    pub fn unavailable(what: impl Into<String>) -> Self {
        BrokerError::Unavailable { what: what.into(), source: None }
    }

    /// Unavailable because `source` failed doing `what`.
    pub fn unreachable(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        BrokerError::Unavailable { what: what.into(), source: Some(source.into()) }
    }

    /// `operation` failed with `source`.
    pub fn operation(operation: &'static str, source: impl Into<Cause>) -> Self {
        BrokerError::Operation { operation, source: source.into() }
    }
}

/// A message broker.
#[async_trait]
pub trait Broker: Send + Sync + fmt::Debug {
    /// `memory`, `rabbitmq` or `gcp-pubsub`.
    fn kind(&self) -> &'static str;

    /// Publishes `event` to `topic`; returns once the broker has taken responsibility for it.
    async fn publish(&self, topic: &str, event: &Event) -> Result<(), BrokerError> {
        let payload = event::encode(event).map_err(BrokerError::Encode)?;
        self.publish_raw(topic, &payload).await
    }

    /// Publishes bytes as they are: for tooling, and for testing poison-message handling.
    async fn publish_raw(&self, topic: &str, payload: &[u8]) -> Result<(), BrokerError>;

    /// Creates the subscription (and its dead-letter destination) without consuming, so events
    /// published before its first consumer starts are kept.
    async fn declare(&self, subscription: &Subscription) -> Result<(), BrokerError>;

    /// Starts consuming `subscription` (declaring it first) with `handler`.
    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, BrokerError>;

    /// Removes and returns up to `max` dead-lettered payloads of `subscription`.
    async fn drain_dead_letters(
        &self,
        subscription: &Subscription,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, BrokerError>;

    /// Whether the broker is reachable.
    async fn health(&self) -> Result<(), BrokerError>;

    /// Flushes pending publishes and closes connections. Consumers are closed separately.
    async fn close(&self);
}

/// Checks a topic (and subscription) name before it reaches a broker.
pub(crate) fn check_names(topic: &str, subscription: Option<&Subscription>) -> Result<(), BrokerError> {
    let invalid = |err: ConfigError| BrokerError::operation("validate", err);
    config::validate_name("topic", topic).map_err(invalid)?;
    if let Some(subscription) = subscription {
        config::validate_name("subscription", &subscription.name).map_err(invalid)?;
    }
    Ok(())
}

/// Delay before a failed delivery is offered again: 100 ms doubling per attempt, at most 5 s,
/// so a poison message cannot spin hot.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.saturating_sub(1).min(6)))
        .min(Duration::from_secs(5))
}
