//! Publishing a Sentinel's events: the poll's due resources and the change feed's changed ones
//! go out through [`Sentinel::publish_all`], many awaiting their broker's confirmation at once
//! (a broker confirming one at a time would otherwise bound the rate), each resource with at
//! most one event in flight; what is remembered as published is only what was confirmed.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;

use hyperfleet_api_model::{ReconcileEventData, Resource};
use hyperfleet_broker::BrokerError;

use super::{
    Sentinel,
    decision::{Published, Reason},
    event::{EventError, reconcile_event},
    rules::custom_data,
    runner::PollReport,
};
use crate::cel::CelError;

/// Publishes awaiting their broker's confirmation at once.
const PUBLISHES_IN_FLIGHT: usize = 64;

/// A resource to publish for, why, and (when CEL needs it) the resource as JSON.
pub type Due<'a> = (&'a Resource, Reason, Option<serde_json::Value>);

/// Why one resource's event did not go out (the poll goes on; the next decision retries).
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum PublishError {
    /// The resource could not be given to CEL.
    #[error("the resource does not serialize")]
    Resource(#[source] serde_json::Error),
    /// `messageDecision` failed for this resource.
    #[error("messageDecision failed")]
    Decision(#[source] CelError),
    /// `messageData` failed for this resource.
    #[error("messageData failed")]
    Data(#[source] CelError),
    /// The CloudEvent could not be built.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The broker did not take the event.
    #[error("publishing failed")]
    Broker(#[source] BrokerError),
}

impl PublishError {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        self.into()
    }
}

impl Sentinel {
    /// Publishes an event for each of `due` and remembers the confirmed ones (and when each is
    /// next due); counts both outcomes into `report`.
    pub(super) async fn publish_all(&mut self, due: &[Due<'_>], now: DateTime<Utc>, report: &mut PollReport) {
        let this = &*self;
        let mut outcomes = Vec::with_capacity(due.len());
        // In slices, so that a cold poll of 100k resources does not hold 100k pending publishes.
        for slice in due.chunks(PUBLISHES_IN_FLIGHT * 16) {
            // Built in a loop: an iterator's closure returning the future is not `Send` here.
            let mut publishes = Vec::with_capacity(slice.len());
            for (resource, reason, json) in slice {
                let (resource, reason) = (*resource, *reason);
                publishes.push(async move {
                    (resource, reason, this.publish(resource, json.as_ref(), reason, now).await)
                });
            }
            let done: Vec<_> =
                futures::stream::iter(publishes).buffer_unordered(PUBLISHES_IN_FLIGHT).collect().await;
            outcomes.extend(done);
        }
        let labels = self.labels();
        for (resource, reason, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    report.published += 1;
                    self.metrics.event_created(&labels, reason);
                    let previous = self.published.get(&resource.id).copied();
                    self.published.insert(resource.id, Published::after(previous, resource, reason, now));
                    self.look_at(resource, now);
                }
                Err(err) => {
                    self.failed(resource, &err, report);
                    // Due again at once: the next poll, even one of the due only, retries it.
                    self.looks.saw(resource, now);
                }
            }
        }
    }

    /// Each published event starts its own trace: the provisioning step it announces.
    #[tracing::instrument(
        name = "sentinel.publish",
        parent = None,
        skip_all,
        fields(
            sentinel = %self.settings.name,
            resource_id = %resource.id,
            generation = resource.generation,
            reason = reason.as_str(),
            trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        )
    )]
    async fn publish(
        &self,
        resource: &Resource,
        json: Option<&serde_json::Value>,
        reason: Reason,
        now: DateTime<Utc>,
    ) -> Result<(), PublishError> {
        hyperfleet_telemetry::traces::record_trace_id(&tracing::Span::current());
        let mut data = ReconcileEventData::new(resource, self.settings.resource_type, reason);
        if let Some(json) = json.filter(|_| !self.settings.rules.data.is_empty()) {
            data.extra = custom_data(&self.settings.rules.data, json, reason).map_err(PublishError::Data)?;
        }
        let event = reconcile_event(&data, &self.settings.name, now)?;
        self.broker
            .publish_routed(&self.settings.topic, &self.settings.routing, &event)
            .await
            .map_err(PublishError::Broker)?;
        tracing::debug!(sentinel = %self.settings.name, id = %resource.id, reason = reason.as_str(), "published");
        Ok(())
    }
}
