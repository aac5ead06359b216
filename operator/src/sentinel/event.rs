//! The CloudEvent a Sentinel publishes for one decision, around the event contract's
//! [`ReconcileEventData`] (`type`, `source` and `data` are all defined by the model crate).

use chrono::{DateTime, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};

use hyperfleet_api_model::{ReconcileEventData, event_source};

/// Why an event could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The data did not serialize.
    #[error("the event data does not serialize")]
    Data(#[source] serde_json::Error),
    /// The CloudEvent is incomplete.
    #[error("the event is incomplete")]
    Build(#[source] cloudevents::event::EventBuilderError),
}

/// The event carrying `data`, published by the Sentinel named `sentinel` at `now`.
pub fn reconcile_event(
    data: &ReconcileEventData,
    sentinel: &str,
    now: DateTime<Utc>,
) -> Result<Event, EventError> {
    let json = serde_json::to_value(data).map_err(EventError::Data)?;
    let mut builder = EventBuilderV10::new()
        .id(uuid::Uuid::now_v7().to_string())
        .source(event_source(sentinel))
        .ty(data.resource_type.event_type())
        .subject(data.resource_id.to_string())
        .time(now)
        .data("application/json", json);
    // The CloudEvents distributed-tracing extension: `traceparent` (and `tracestate`) of the
    // span publishing it, so the adapter's handling continues the same trace.
    for (name, value) in hyperfleet_telemetry::traces::current_context() {
        builder = builder.extension(&name, value);
    }
    builder.build().map_err(EventError::Build)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cloudevents::AttributesReader;
    use hyperfleet_api_model::{ReconcileReason, ResourceType};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn events_carry_the_contract_type_source_subject_and_data() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let data = ReconcileEventData {
            resource_type: ResourceType::Nodepools,
            resource_id: Uuid::from_u128(2),
            kind: "NodePool".into(),
            href: "/api/hyperfleet/v1/clusters/c/nodepools/n".into(),
            generation: 3,
            reason: ReconcileReason::GenerationChanged,
            owner_references: None,
            extra: serde_json::Map::new(),
        };
        let event = reconcile_event(&data, "pools", now).unwrap();
        assert_eq!(event.ty(), "com.redhat.hyperfleet.nodepool.reconcile.v1");
        assert_eq!(event.source().to_string(), "sentinel-operator/pools");
        assert_eq!(event.subject(), Some(data.resource_id.to_string().as_str()));
        assert_eq!(event.time(), Some(&now));
        assert_eq!(Uuid::parse_str(event.id()).unwrap().get_version_num(), 7);
        let Some(cloudevents::Data::Json(json)) = event.data() else { panic!("JSON data expected") };
        assert_eq!(serde_json::from_value::<ReconcileEventData>(json.clone()).unwrap(), data);
    }
}
