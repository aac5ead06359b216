//! The CloudEvents a source publishes for its ManifestWorks, in the protobuf format Maestro's
//! gRPC server reads. Shapes follow Open Cluster Management's sdk-go (the source-side
//! ManifestBundle codec and `generic/types`): the event type is
//! `io.open-cluster-management.works.v1alpha1.manifestbundles.spec.<action>`; the work travels
//! as extension attributes (`resourceid`, `resourceversion`, `clustername`, `metadata`, and
//! `deletiontimestamp` on delete) plus a JSON ManifestBundle (`manifests`, `deleteOption`,
//! `manifestConfigs`) as the data.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::proto::{CloudEvent, CloudEventAttributeValue, cloud_event, cloud_event_attribute_value::Attr};

/// The data type of ManifestWork events.
pub const MANIFEST_BUNDLES: &str = "io.open-cluster-management.works.v1alpha1.manifestbundles";

const RESOURCE_ID: &str = "resourceid";
const RESOURCE_VERSION: &str = "resourceversion";
const CLUSTER_NAME: &str = "clustername";
const WORK_META: &str = "metadata";
const DELETION_TIMESTAMP: &str = "deletiontimestamp";
const CONTENT_TYPE: &str = "datacontenttype";

/// What a spec event asks of Maestro.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum SpecAction {
    /// A new work.
    CreateRequest,
    /// A changed work.
    UpdateRequest,
    /// A work to remove from its consumer.
    DeleteRequest,
}

/// A spec event, decoded (what Maestro stores from it).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecEvent {
    /// The publishing source.
    pub source: String,
    /// What it asks.
    pub action: SpecAction,
    /// The work's id (Maestro's resource id).
    pub resource_id: Uuid,
    /// The version the source gives the work.
    pub version: i64,
    /// The consumer (the work's namespace).
    pub consumer: String,
    /// The work's metadata (name, namespace, labels, annotations).
    pub metadata: Value,
    /// The ManifestBundle: `manifests`, `deleteOption`, `manifestConfigs`.
    pub bundle: Value,
}

/// An event that is not a ManifestWork spec event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event type is not `<manifestbundles>.spec.<action>`.
    #[error("'{0}' is not a ManifestBundle spec event type")]
    Type(String),
    /// A required extension attribute is missing or of the wrong type.
    #[error("the event has no valid '{0}' attribute")]
    Attribute(&'static str),
    /// The data or the metadata attribute is not the JSON expected.
    #[error("the event's {what} is not valid JSON")]
    Json {
        /// `data` or `metadata`.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl SpecEvent {
    /// The protobuf CloudEvent, as a source client sends it.
    pub fn to_proto(&self, now: DateTime<Utc>) -> CloudEvent {
        let string = |value: &str| CloudEventAttributeValue { attr: Some(Attr::CeString(value.to_owned())) };
        let mut attributes = HashMap::from([
            (CONTENT_TYPE.to_owned(), string("application/json")),
            (RESOURCE_ID.to_owned(), string(&self.resource_id.to_string())),
            (CLUSTER_NAME.to_owned(), string(&self.consumer)),
            (WORK_META.to_owned(), string(&self.metadata.to_string())),
            // CloudEvents integers are 32-bit; a generation beyond that travels as a string,
            // which Maestro's decoder also accepts.
            (
                RESOURCE_VERSION.to_owned(),
                match i32::try_from(self.version) {
                    Ok(version) => CloudEventAttributeValue { attr: Some(Attr::CeInteger(version)) },
                    Err(_) => string(&self.version.to_string()),
                },
            ),
        ]);
        if self.action == SpecAction::DeleteRequest {
            let at = prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
            };
            attributes.insert(
                DELETION_TIMESTAMP.to_owned(),
                CloudEventAttributeValue { attr: Some(Attr::CeTimestamp(at)) },
            );
        }
        let action: &'static str = self.action.into();
        CloudEvent {
            id: Uuid::now_v7().to_string(),
            source: self.source.clone(),
            spec_version: "1.0".to_owned(),
            r#type: format!("{MANIFEST_BUNDLES}.spec.{action}"),
            attributes,
            data: Some(cloud_event::Data::TextData(self.bundle.to_string())),
        }
    }

    /// Decodes a spec event (what Maestro's gRPC server does with a publish).
    pub fn from_proto(event: &CloudEvent) -> Result<Self, EventError> {
        let action = event
            .r#type
            .strip_prefix(MANIFEST_BUNDLES)
            .and_then(|rest| rest.strip_prefix(".spec."))
            .and_then(|action| action.parse().ok())
            .ok_or_else(|| EventError::Type(event.r#type.chars().take(200).collect()))?;
        let text = |name: &'static str| match event.attributes.get(name).and_then(|v| v.attr.as_ref()) {
            Some(Attr::CeString(value) | Attr::CeUri(value) | Attr::CeUriRef(value)) => Ok(value.clone()),
            _ => Err(EventError::Attribute(name)),
        };
        let version = match event.attributes.get(RESOURCE_VERSION).and_then(|v| v.attr.as_ref()) {
            Some(Attr::CeInteger(version)) => i64::from(*version),
            Some(Attr::CeString(version)) => {
                version.parse().map_err(|_| EventError::Attribute(RESOURCE_VERSION))?
            }
            _ => return Err(EventError::Attribute(RESOURCE_VERSION)),
        };
        let json = |what: &'static str, text: &[u8]| {
            serde_json::from_slice(text).map_err(|source| EventError::Json { what, source })
        };
        let data = match &event.data {
            Some(cloud_event::Data::TextData(text)) => text.as_bytes(),
            Some(cloud_event::Data::BinaryData(bytes)) => bytes.as_slice(),
            _ => b"{}",
        };
        Ok(Self {
            source: event.source.clone(),
            action,
            resource_id: text(RESOURCE_ID)?.parse().map_err(|_| EventError::Attribute(RESOURCE_ID))?,
            version,
            consumer: text(CLUSTER_NAME)?,
            metadata: json("metadata", text(WORK_META)?.as_bytes())?,
            bundle: json("data", data)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_event_decodes_to_what_was_encoded() {
        let event = SpecEvent {
            source: "hyperfleet-hypershift".into(),
            action: SpecAction::DeleteRequest,
            resource_id: Uuid::now_v7(),
            version: i64::from(i32::MAX) + 1,
            consumer: "mc-1".into(),
            metadata: serde_json::json!({"name": "w", "namespace": "mc-1"}),
            bundle: serde_json::json!({"manifests": [{"kind": "ConfigMap"}]}),
        };
        let proto = event.to_proto(Utc::now());
        assert_eq!(proto.r#type, format!("{MANIFEST_BUNDLES}.spec.delete_request"));
        assert!(proto.attributes.contains_key(DELETION_TIMESTAMP));
        assert_eq!(SpecEvent::from_proto(&proto).unwrap(), event);
    }

    #[test]
    fn an_event_of_another_type_is_refused() {
        let mut proto = SpecEvent {
            source: "s".into(),
            action: SpecAction::CreateRequest,
            resource_id: Uuid::now_v7(),
            version: 1,
            consumer: "c".into(),
            metadata: serde_json::json!({}),
            bundle: serde_json::json!({}),
        }
        .to_proto(Utc::now());
        proto.r#type = "io.open-cluster-management.works.v1alpha1.manifests.spec.create_request".into();
        assert!(matches!(SpecEvent::from_proto(&proto), Err(EventError::Type(_))));
    }
}
