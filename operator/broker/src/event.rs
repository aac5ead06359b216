//! The wire format: one structured-mode CloudEvent 1.0 JSON document per message
//! (`application/cloudevents+json`), as the reference publishes it.

use cloudevents::Event;

/// Content type of every message.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// Encodes an event.
pub fn encode(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(event)
}

/// Largest message decoded: reconcile events are a few hundred bytes; anything near this is not
/// one of ours, and is refused before it is parsed.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Why a message body is not an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_PAYLOAD`].
    #[error("{0} bytes: larger than {MAX_PAYLOAD}")]
    TooLarge(usize),
    /// Not a structured-mode CloudEvent.
    #[error("not a CloudEvent")]
    Json(#[from] serde_json::Error),
}

/// Decodes a message body; an error means the message is malformed (dead-letter it).
pub fn decode(payload: &[u8]) -> Result<Event, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge(payload.len()));
    }
    Ok(serde_json::from_slice(payload)?)
}

#[cfg(test)]
mod tests {
    use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};

    use super::*;

    #[test]
    fn events_round_trip_as_structured_json() {
        let event = EventBuilderV10::new()
            .id("0190b6a4-0000-7000-8000-000000000001")
            .source("sentinel-operator/shard-a")
            .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
            .subject("c1")
            .data("application/json", serde_json::json!({"resourceId": "c1", "generation": 2}))
            .build()
            .unwrap();
        let bytes = encode(&event).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["data"]["generation"], 2);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.ty(), "com.redhat.hyperfleet.cluster.reconcile.v1");
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(decode(b"not json").is_err());
        assert!(decode(br#"{"specversion": "1.0"}"#).is_err(), "missing required attributes");
    }
}
