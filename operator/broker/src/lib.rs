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
    /// Which publishes it takes, beyond the topic (RabbitMQ: the exchange its queue is bound to
    /// and the binding key).
    pub routing: Routing,
}

/// RabbitMQ's addressing beyond the topic, as the CRDs' `broker.exchange` and
/// `broker.routingKey` give it. The memory broker routes the same way; Pub/Sub addresses by
/// topic alone and ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Routing {
    /// The exchange (default: the topic).
    pub exchange: Option<String>,
    /// A publish's routing key (default empty), or a subscription's binding key: an AMQP topic
    /// pattern of `.`-separated words where `*` is one word and `#` any number (default `#`).
    pub key: Option<String>,
}

impl Routing {
    /// The exchange a publish to (or subscription of) `topic` uses.
    pub fn exchange_of<'a>(&'a self, topic: &'a str) -> &'a str {
        self.exchange.as_deref().unwrap_or(topic)
    }

    /// A publish's routing key.
    pub fn publish_key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }

    /// A subscription's binding key.
    pub fn binding_key(&self) -> &str {
        self.key.as_deref().unwrap_or("#")
    }

    /// A routing key its own binding key matches (`*` -> `replay`, `#` -> no word): what a
    /// replay of the subscription's dead letters publishes with.
    pub fn replay_key(&self) -> String {
        let words: Vec<&str> = self
            .binding_key()
            .split('.')
            .filter(|word| *word != "#")
            .map(|word| if word == "*" { "replay" } else { word })
            .collect();
        words.join(".")
    }
}

/// Whether the routing key `key` matches the AMQP topic pattern `pattern` (`*` one word, `#`
/// zero or more words), as a RabbitMQ topic exchange decides.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                matches(&pattern[1..], key) || (!key.is_empty() && matches(pattern, &key[1..]))
            }
            (Some(&"*"), Some(_)) => matches(&pattern[1..], &key[1..]),
            (Some(word), Some(actual)) if word == actual => matches(&pattern[1..], &key[1..]),
            _ => false,
        }
    }
    fn words(text: &str) -> Vec<&str> {
        if text.is_empty() { Vec::new() } else { text.split('.').collect() }
    }
    matches(&words(pattern), &words(key))
}

impl Subscription {
    /// A subscription with concurrency 1 and 5 deliveries before dead-lettering.
    pub fn new(topic: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            name: name.into(),
            concurrency: 1,
            max_deliveries: 5,
            routing: Routing::default(),
        }
    }

    /// Takes only the publishes `routing` selects.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
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
    /// No subscription takes the event: the broker accepted it and delivered it to no one
    /// (RabbitMQ returns it; the memory broker has no queue for it). It is not published, so
    /// the caller tries again (the Sentinel at its next poll), once an adapter subscribes.
    /// Pub/Sub cannot tell: a topic without subscriptions drops what it is sent.
    #[error("no subscription takes events published to '{topic}' yet: it would reach nobody")]
    Unroutable {
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
        self.publish_routed(topic, &Routing::default(), event).await
    }

    /// Publishes `event` to `topic` with `routing` (RabbitMQ's exchange and routing key).
    async fn publish_routed(&self, topic: &str, routing: &Routing, event: &Event) -> Result<(), BrokerError> {
        let payload = event::encode(event).map_err(BrokerError::Encode)?;
        self.publish_raw_routed(topic, routing, &payload).await
    }

    /// Publishes bytes as they are: for tooling, and for testing poison-message handling.
    async fn publish_raw(&self, topic: &str, payload: &[u8]) -> Result<(), BrokerError> {
        self.publish_raw_routed(topic, &Routing::default(), payload).await
    }

    /// Publishes bytes as they are, with `routing`.
    async fn publish_raw_routed(
        &self,
        topic: &str,
        routing: &Routing,
        payload: &[u8],
    ) -> Result<(), BrokerError>;

    /// Creates the subscription (and its dead-letter destination) without consuming, so events
    /// published before its first consumer starts are kept.
    async fn declare(&self, subscription: &Subscription) -> Result<(), BrokerError>;

    /// Starts consuming `subscription` (declaring it first) with `handler`.
    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, BrokerError>;

    /// Deletes the subscription and its dead-letter destination, with whatever they still hold
    /// (an AdapterConfig deleted with `deletionPolicy: Delete`). What does not exist is no
    /// error; the topic and exchange stay (publishers and other subscriptions share them).
    async fn remove(&self, subscription: &Subscription) -> Result<(), BrokerError>;

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

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn routing_keys_match_binding_patterns_as_a_topic_exchange_does() {
        let cases = [
            ("#", "", true),
            ("#", "clusters.changed", true),
            ("clusters.*", "clusters.changed", true),
            ("clusters.*", "clusters.changed.now", false),
            ("clusters.#", "clusters", true),
            ("clusters.#", "clusters.a.b", true),
            ("*.changed", "nodepools.changed", true),
            ("*.changed", "changed", false),
            ("clusters.changed", "clusters.changed", true),
            ("clusters.changed", "nodepools.changed", false),
            ("#.changed", "a.b.changed", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(topic_matches(pattern, key), expected, "{pattern:?} vs {key:?}");
        }
    }

    #[test]
    fn a_replay_key_matches_its_own_binding() {
        for binding in ["#", "clusters.*", "nodepools.#", "*.changed", "clusters.changed", "a.*.#.b"] {
            let routing = super::Routing { exchange: None, key: Some(binding.to_owned()) };
            let key = routing.replay_key();
            assert!(topic_matches(binding, &key), "{binding:?} does not match {key:?}");
        }
        assert_eq!(super::Routing::default().replay_key(), "");
    }
}
