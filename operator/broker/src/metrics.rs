//! Broker metrics (`hyperfleet_broker_*`), the names the original design uses.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use crate::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumedLabels {
    subscription: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error_type: &'static str,
}

/// The `error_type` of `hyperfleet_broker_errors_total`: what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub(crate) enum ErrorType {
    /// A publish was not confirmed.
    Publish,
    /// A consumer lost its channel or stream.
    Consume,
    /// A message was not a CloudEvent.
    Decode,
    /// A handler panicked.
    HandlerPanic,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriptionLabels {
    subscription: String,
}

/// Counters and histograms of one process's broker traffic.
#[derive(Debug, Clone)]
pub struct BrokerMetrics {
    published: Family<TopicLabels, Counter>,
    consumed: Family<ConsumedLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    dead_lettered: Family<SubscriptionLabels, Counter>,
    duration: Family<SubscriptionLabels, Histogram>,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self {
            published: Family::default(),
            consumed: Family::default(),
            errors: Family::default(),
            dead_lettered: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0])
            }),
        }
    }
}

impl BrokerMetrics {
    /// Creates the metrics and registers them under `hyperfleet_broker_`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let broker = registry.sub_registry_with_prefix("hyperfleet_broker");
        broker.register("messages_published", "Events confirmed by the broker", metrics.published.clone());
        broker.register("messages_consumed", "Deliveries handled, by outcome", metrics.consumed.clone());
        broker.register("errors", "Broker errors by type", metrics.errors.clone());
        broker.register(
            "dead_lettered",
            "Messages moved to a dead-letter destination",
            metrics.dead_lettered.clone(),
        );
        broker.register("message_duration_seconds", "Handler time per delivery", metrics.duration.clone());
        metrics
    }

    pub(crate) fn published(&self, topic: &str) {
        self.published.get_or_create(&TopicLabels { topic: topic.to_owned() }).inc();
    }

    pub(crate) fn consumed(&self, subscription: &str, outcome: Outcome, took: Duration) {
        let outcome = outcome.into();
        self.consumed.get_or_create(&ConsumedLabels { subscription: subscription.to_owned(), outcome }).inc();
        self.duration
            .get_or_create(&SubscriptionLabels { subscription: subscription.to_owned() })
            .observe(took.as_secs_f64());
    }

    /// A message dead-lettered without reaching a handler (it was not an event).
    pub(crate) fn rejected_unread(&self, subscription: &str) {
        let labels =
            ConsumedLabels { subscription: subscription.to_owned(), outcome: Outcome::Reject.into() };
        self.consumed.get_or_create(&labels).inc();
    }

    pub(crate) fn error(&self, error_type: ErrorType) {
        self.errors.get_or_create(&ErrorLabels { error_type: error_type.into() }).inc();
    }

    pub(crate) fn dead_lettered(&self, subscription: &str) {
        self.dead_lettered.get_or_create(&SubscriptionLabels { subscription: subscription.to_owned() }).inc();
    }
}
