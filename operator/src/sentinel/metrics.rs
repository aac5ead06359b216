//! The Sentinel's metrics, named as in the original design (`hyperfleet_sentinel_*`), labelled
//! by resource type and shard (the SentinelConfig's namespace and name: bounded by the number of
//! shards).

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use strum::VariantArray as _;

use super::{PollReport, Read, decision::Reason};

/// Labels of every Sentinel series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    /// `clusters` or `nodepools`.
    pub resource_type: String,
    /// The SentinelConfig's namespace.
    pub namespace: String,
    /// The SentinelConfig's name.
    pub shard: String,
}

/// Labels of the resources-read counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadLabels {
    /// The shard.
    #[prometheus(flatten)]
    pub shard: ShardLabels,
    /// What read them ([`Read`]).
    pub by: &'static str,
}

/// Labels of the events-created counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The shard.
    #[prometheus(flatten)]
    pub shard: ShardLabels,
    /// Why the events were published (the event's `reason`).
    pub reason: &'static str,
}

/// Every Sentinel's series; cheap to clone (shared families).
#[derive(Debug, Clone)]
pub struct SentinelMetrics {
    pending: Family<ShardLabels, Gauge>,
    in_shard: Family<ShardLabels, Gauge>,
    events_created: Family<EventLabels, Counter>,
    resources_read: Family<ReadLabels, Counter>,
    publish_errors: Family<ShardLabels, Counter>,
    poll_errors: Family<ShardLabels, Counter>,
    poll_duration: Family<ShardLabels, Histogram>,
    last_success: Family<ShardLabels, Gauge>,
}

impl Default for SentinelMetrics {
    fn default() -> Self {
        Self {
            pending: Family::default(),
            in_shard: Family::default(),
            events_created: Family::default(),
            resources_read: Family::default(),
            publish_errors: Family::default(),
            poll_errors: Family::default(),
            poll_duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            last_success: Family::default(),
        }
    }
}

impl SentinelMetrics {
    /// Creates the metrics and registers them under `hyperfleet_sentinel_`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("hyperfleet_sentinel");
        registry.register(
            "resources_pending",
            "Resources of the shard not reconciled at their generation, at the last poll",
            metrics.pending.clone(),
        );
        registry.register("resources_in_shard", "Resources in the shard", metrics.in_shard.clone());
        registry.register(
            "events_created",
            "Reconcile events published (confirmed by the broker), by reason",
            metrics.events_created.clone(),
        );
        registry.register(
            "resources_read",
            "Resources the Sentinel read from the API, by what read them: full_poll, due_poll, change_feed",
            metrics.resources_read.clone(),
        );
        registry.register(
            "publish_errors",
            "Publishes that failed (retried at the next decision)",
            metrics.publish_errors.clone(),
        );
        registry.register(
            "poll_errors",
            "Polls that failed (API unreachable or erroring)",
            metrics.poll_errors.clone(),
        );
        registry.register("poll_duration_seconds", "Time of one poll", metrics.poll_duration.clone());
        registry.register(
            "last_successful_poll_timestamp_seconds",
            "Unix time of the last poll that succeeded",
            metrics.last_success.clone(),
        );
        metrics
    }

    /// Records a finished poll.
    pub fn poll_succeeded(
        &self,
        labels: &ShardLabels,
        report: &PollReport,
        took: Duration,
        at: DateTime<Utc>,
    ) {
        self.pending.get_or_create(labels).set(i64::try_from(report.pending).unwrap_or(i64::MAX));
        self.in_shard.get_or_create(labels).set(report.in_shard);
        self.read_and_failed(labels, report);
        self.poll_duration.get_or_create(labels).observe(took.as_secs_f64());
        self.last_success.get_or_create(labels).set(at.timestamp());
    }

    /// Records an event the broker confirmed.
    pub fn event_created(&self, labels: &ShardLabels, reason: Reason) {
        let labels = EventLabels { shard: labels.clone(), reason: reason.as_str() };
        self.events_created.get_or_create(&labels).inc();
    }

    /// Records what a poll or a reaction to the change feed read and failed to publish (the
    /// events are counted as the broker confirms them, [`Self::event_created`]).
    pub fn read_and_failed(&self, labels: &ShardLabels, report: &PollReport) {
        let read = ReadLabels { shard: labels.clone(), by: report.read.as_str() };
        self.resources_read.get_or_create(&read).inc_by(report.fetched as u64);
        self.publish_errors.get_or_create(labels).inc_by(report.publish_errors as u64);
    }

    /// Records a failed poll.
    pub fn poll_failed(&self, labels: &ShardLabels, took: Duration) {
        self.poll_errors.get_or_create(labels).inc();
        self.poll_duration.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// Drops a shard's series when its SentinelConfig goes away.
    pub fn forget(&self, labels: &ShardLabels) {
        self.pending.remove(labels);
        self.in_shard.remove(labels);
        for reason in every_reason() {
            self.events_created.remove(&EventLabels { shard: labels.clone(), reason: reason.as_str() });
        }
        for read in Read::VARIANTS {
            self.resources_read.remove(&ReadLabels { shard: labels.clone(), by: read.as_str() });
        }
        self.publish_errors.remove(labels);
        self.poll_errors.remove(labels);
        self.poll_duration.remove(labels);
        self.last_success.remove(labels);
    }
}

/// Every reason, to drop a shard's series; the match stops compiling when one is added, so it
/// is added to the list too.
fn every_reason() -> [Reason; 8] {
    use Reason::{Custom, GenerationChanged, New, NotReady, Other, Recheck, ResourceChanged, WorkChanged};
    let every = [New, GenerationChanged, NotReady, Recheck, Custom, ResourceChanged, WorkChanged, Other];
    for reason in every {
        match reason {
            New | GenerationChanged | NotReady | Recheck | Custom | ResourceChanged | WorkChanged | Other => {
            }
        }
    }
    every
}
